/// Checkpoints: the module's weights and buffers in TorchSharp's format at PATH, the optimiser's state at
/// PATH.optim, and a JSON sidecar at PATH.json that says for which architecture they were taken, how the
/// weights began and, for a training run, where in the run they were taken, so that a resume can refuse a
/// different model. An initialisation saved alone (saveInitialised) has weights and sidecar only.
module Receptor.Core.Training.Checkpoint

open System
open System.IO
open System.Security.Cryptography
open System.Text
open System.Text.Json
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch
open Receptor.Core.Signal

/// An initialisation by the names InitSpec.parse reads, and the seed it was drawn with.
type InitRecord =
    { Method: string
      Rules: string
      Law: string
      /// None (null): no residual policy.
      Residual: string option
      Seed: int }

/// Where in a training run a checkpoint was taken, and the options that fix the rest of the run.
type RunState =
    { /// Epochs completed when the checkpoint was taken; the next epoch to run is Epoch + 1.
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

/// The sidecar, as written to PATH.json.
type Sidecar =
    { Format: int
      /// SHA-256 of the checked tree (see fingerprint): the same for any text that builds the same module.
      Architecture: string
      /// The initialisation the weights began from: drawn for this checkpoint's run, or the one recorded by
      /// the checkpoint the run started from (From). None where nothing recorded it (format 1).
      Init: InitRecord option
      /// The checkpoint a training run started from instead of drawing an initialisation.
      From: string option
      /// None for an initialisation saved alone.
      Run: RunState option }

/// 2: the origin of the weights (Init, From) and the run's state in Run. Format 1 sidecars, which had the
/// run's fields at the top level and no origin, are still read.
let format = 2

/// A format 1 sidecar had the run's fields at the top level, beside Format and Architecture, and no origin.
let private upgrade (architecture: string) (run: RunState) : Sidecar =
    { Format = 1; Architecture = architecture; Init = None; From = None; Run = Some run }

/// The record of a spec drawn with a seed.
let initRecord (spec: InitSpec) (seed: int) =
    { Method = spec.Method
      Rules = Initialisers.rulesName spec.Rules
      Law = Initialisers.lawName spec.Law
      Residual = spec.Residual |> Option.map ResidualPolicies.name
      Seed = seed }

/// The spec a record names.
let specOf (record: InitRecord) : Result<InitSpec, string> =
    InitSpec.parse record.Method record.Rules record.Law record.Residual

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

let private writeSidecar (path: string) (sidecar: Sidecar) =
    replace path (fun p -> File.WriteAllText(p, JsonSerializer.Serialize(sidecar, json) + "\n"))

let private createFolder (path: string) =
    match Path.GetDirectoryName(Path.GetFullPath path) with
    | null -> ()
    | dir -> Directory.CreateDirectory dir |> ignore

/// Saves weights, optimiser state and sidecar; the sidecar last, so that it never names newer files than
/// those on disk when a run stops while saving.
let save (path: string) (network: Network) (optimizer: torch.optim.Optimizer) (sidecar: Sidecar) =
    let f = files path
    createFolder path
    replace f.Weights (fun p -> network.save p |> ignore)
    replace f.OptimizerState (fun p -> (helper optimizer).save_state_dict p)
    writeSidecar f.Sidecar sidecar

/// Saves the weights and a sidecar that records the initialisation and no run. An optimiser state left at
/// the path by an earlier checkpoint is deleted, so that the files on disk always belong together.
let saveInitialised (path: string) (network: Network) (record: InitRecord) =
    let f = files path
    createFolder path
    replace f.Weights (fun p -> network.save p |> ignore)
    File.Delete f.OptimizerState
    writeSidecar
        f.Sidecar
        { Format = format
          Architecture = fingerprint network.Input network.Tree
          Init = Some record
          From = None
          Run = None }

/// Initialises the program as the spec says (Initialisation.initialise) and saves it at path
/// (saveInitialised), for a run to start from (TrainOptions.Start = From path).
let initialiseAndSave (path: string) (spec: InitSpec) (seed: int) (data: InitData) (program: Program) : Result<InitReport, Diagnostic> =
    Initialisation.initialise spec seed data program
    |> Result.bind (fun (network, report) ->
        use network = network
        try
            saveInitialised path network (initRecord spec seed)
            Ok report
        with
        | :? IOException
        | :? UnauthorizedAccessException as e -> Error (Diagnostic.at Nowhere $"{path}: cannot save the checkpoint: {e.Message}"))

/// Format 1 sidecars are upgraded as they are read.
let private parse (text: string) : Sidecar =
    let format1Architecture =
        use document = JsonDocument.Parse text
        let root = document.RootElement
        match root.ValueKind, root.TryGetProperty "Format", root.TryGetProperty "Architecture" with
        | JsonValueKind.Object, (true, number), (true, architecture) when number.ValueKind = JsonValueKind.Number && number.GetInt32 () = 1 ->
            Some (architecture.GetString ())
        | _ -> None
    match format1Architecture with
    | Some architecture -> upgrade architecture (JsonSerializer.Deserialize<RunState> text)
    | None -> JsonSerializer.Deserialize<Sidecar> text

/// The sidecar of the checkpoint at path, or why it cannot be read: a training run's checkpoint needs its
/// optimiser state, an initialisation's only its weights.
let read (path: string) : Result<Sidecar, string> =
    let f = files path
    if not (File.Exists f.Sidecar) then Error $"{f.Sidecar}: no checkpoint sidecar"
    elif not (File.Exists f.Weights) then Error $"{f.Weights}: the checkpoint's weights are missing"
    else
        try
            match parse (File.ReadAllText f.Sidecar) with
            | sidecar when obj.ReferenceEquals(sidecar, null) -> Error $"{f.Sidecar}: empty sidecar"
            | sidecar when sidecar.Format <> format && sidecar.Format <> 1 ->
                Error $"{f.Sidecar}: sidecar format {sidecar.Format}, expected 1 or {format}"
            | sidecar when sidecar.Run.IsSome && not (File.Exists f.OptimizerState) ->
                Error $"{f.OptimizerState}: the checkpoint's optimiser state is missing"
            | sidecar -> Ok sidecar
        with :? JsonException as e -> Error $"{f.Sidecar}: not a checkpoint sidecar: {e.Message}"

/// The sidecar of a checkpoint taken from this architecture (a fingerprint), or why not.
let readFor (path: string) (architecture: string) : Result<Sidecar, string> =
    read path
    |> Result.bind (fun saved ->
        if saved.Architecture = architecture then Ok saved
        else
            Error $"{path} was saved from a different architecture (fingerprint {saved.Architecture[..11]}…, this network {architecture[..11]}…)")

/// Loads the weights (and the optimiser state, when given) of a checkpoint whose sidecar matched.
let load (path: string) (network: Network) (optimizer: torch.optim.Optimizer option) : Result<unit, string> =
    let f = files path
    try
        network.load (f.Weights, strict = true) |> ignore
        optimizer |> Option.iter (fun o -> (helper o).load_state_dict f.OptimizerState)
        Ok ()
    with e -> Error $"{f.Weights}: cannot load the checkpoint: {e.Message}"
