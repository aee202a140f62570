/// Checkpoints: the module's weights and buffers in TorchSharp's format at PATH, the optimiser's state at
/// PATH.optim, and a JSON sidecar at PATH.json that says where in the run they were taken and for which
/// architecture, so that a resume can refuse a different model.
module Receptor.Core.Training.Checkpoint

open System
open System.IO
open System.Security.Cryptography
open System.Text
open System.Text.Json
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch

/// The sidecar, as written to PATH.json.
type Sidecar =
    { Format: int
      /// SHA-256 of the checked tree (see fingerprint): the same for any text that builds the same module.
      Architecture: string
      /// Epochs completed when the checkpoint was taken; the next epoch to run is Epoch + 1.
      Epoch: int
      /// Optimiser steps taken: the position in the learning-rate schedule.
      Step: int
      /// Epochs the run was planned for, which fixes the length of a cosine schedule.
      Epochs: int
      Optimizer: string
      LearningRate: float
      Schedule: string
      BatchSize: int
      WeightDecay: float
      Seed: int }

let format = 1

type Files = { Weights: string; OptimizerState: string; Sidecar: string }

let files (path: string) = { Weights = path; OptimizerState = path + ".optim"; Sidecar = path + ".json" }

/// The canonical text of a checked tree: every layer with its path, its arguments and its input shape, and
/// every merge with its kind and weights, in evaluation order. Comments, layout, block names and the
/// network's name do not appear; anything that changes the module's parameters or forward pass does.
let rec private canonical (node: Checked) : string list =
    match node with
    | CheckedOp layer -> [ $"{layer.Path} {Printer.layer layer.Layer} : {Shape.format layer.Input}" ]
    | CheckedSeq nodes -> nodes |> List.collect canonical
    | CheckedBranches merge ->
        let weights = merge.Weights |> List.map Printer.formatFloat |> String.concat ", "
        [ yield $"{merge.Path} {merge.Merge} [{weights}] (" 
          for branch in merge.Branches do
              yield! canonical branch
              yield "|"
          yield ")" ]

/// The architecture fingerprint: SHA-256 (hex) of the input shape and the canonical text of the tree.
let fingerprint (input: Shape) (tree: Checked) =
    let text = String.Join("\n", $"input {Shape.format input}" :: canonical tree)
    Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes text)).ToLowerInvariant()

let private json = JsonSerializerOptions(WriteIndented = true)

/// Writes to a temporary name, then renames: a reader never sees a half-written file.
let private replace (path: string) (write: string -> unit) =
    let partial = $"{path}.{Environment.ProcessId}.part"
    write partial
    File.Move(partial, path, true)

let private helper (optimizer: torch.optim.Optimizer) =
    match optimizer with
    | :? Modules.OptimizerHelper as h -> h
    | other -> invalidArg (nameof optimizer) $"{other.GetType().Name} cannot save its state"

/// Saves weights, optimiser state and sidecar; the sidecar last, so that it never names newer files than
/// those on disk when a run stops while saving.
let save (path: string) (network: Network) (optimizer: torch.optim.Optimizer) (sidecar: Sidecar) =
    let f = files path
    match Path.GetDirectoryName(Path.GetFullPath path) with
    | null -> ()
    | dir -> Directory.CreateDirectory dir |> ignore
    replace f.Weights (fun p -> network.save p |> ignore)
    replace f.OptimizerState (fun p -> (helper optimizer).save_state_dict p)
    replace f.Sidecar (fun p -> File.WriteAllText(p, JsonSerializer.Serialize(sidecar, json) + "\n"))

/// The sidecar of the checkpoint at path, or why it cannot be read.
let read (path: string) : Result<Sidecar, string> =
    let f = files path
    if not (File.Exists f.Sidecar) then Error $"{f.Sidecar}: no checkpoint sidecar"
    elif not (File.Exists f.Weights) then Error $"{f.Weights}: the checkpoint's weights are missing"
    elif not (File.Exists f.OptimizerState) then Error $"{f.OptimizerState}: the checkpoint's optimiser state is missing"
    else
        try
            match JsonSerializer.Deserialize<Sidecar>(File.ReadAllText f.Sidecar) with
            | sidecar when obj.ReferenceEquals(sidecar, null) -> Error $"{f.Sidecar}: empty sidecar"
            | sidecar when sidecar.Format <> format -> Error $"{f.Sidecar}: sidecar format {sidecar.Format}, expected {format}"
            | sidecar -> Ok sidecar
        with :? JsonException as e -> Error $"{f.Sidecar}: not a checkpoint sidecar: {e.Message}"

/// Loads the weights (and the optimiser state, when given) of a checkpoint whose sidecar matched.
let load (path: string) (network: Network) (optimizer: torch.optim.Optimizer option) : Result<unit, string> =
    let f = files path
    try
        network.load (f.Weights, strict = true) |> ignore
        optimizer |> Option.iter (fun o -> (helper o).load_state_dict f.OptimizerState)
        Ok ()
    with e -> Error $"{f.Weights}: cannot load the checkpoint: {e.Message}"
