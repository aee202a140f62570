/// `receptor erf FILE [options]`: the effective receptive field of a layer's central unit: gradient heatmap,
/// Gaussian fit, sizes, ERF/TRF.
module Receptor.Cli.Commands.Erf

open System
open System.IO
open Argu
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data
open Receptor.Core.Fields
open Receptor.Cli.Common
open Receptor.Core.Reporting

type Options =
    { File: string
      Input: string option
      /// TorchSharp weights shared by every sample; None: a fresh initialisation per sample.
      Checkpoint: string option
      Data: string
      Samples: int
      /// Samples per pass; None puts them all in one.
      Batch: int option
      /// None: the last spatial layer.
      Layer: string option
      Out: string option
      Seed: int64
      Json: bool }

/// File is required on the command line.
let defaults =
    { File = ""
      Input = None
      Checkpoint = None
      Data = DataSources.gaussian.Name
      Samples = 16
      Batch = None
      Layer = None
      Out = None
      Seed = 1L
      Json = false }

type Args =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Checkpoint of path: string
    | Data of source: string
    | Samples of count: int
    | Batch of count: int
    | Layer of path: string
    | Out of png: string
    | Seed of seed: int64
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            let d = defaults
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w"
            | Checkpoint _ -> "TorchSharp weights (module.save) shared by every sample; default: a fresh initialisation per sample"
            | Data _ -> $"{DataSources.names Some} (default {d.Data})"
            | Samples _ -> $"samples to average over (default {d.Samples})"
            | Batch _ -> "samples per forward/backward pass (default: all)"
            | Layer _ -> "the layer's path (default: the last spatial layer)"
            | Out _ -> "write the heatmap, linear and log scale, to this PNG"
            | Seed _ -> $"random seed (default {d.Seed})"
            | Json -> "print the record as JSON"

let options (a: ParseResults<Args>) =
    let d = defaults
    { File = a.GetResult File
      Input = a.TryGetResult Input |> Option.orElse d.Input
      Checkpoint = a.TryGetResult Checkpoint |> Option.orElse d.Checkpoint
      Data = a.GetResult(Data, d.Data)
      Samples = a.GetResult(Samples, d.Samples)
      Batch = a.TryGetResult Batch |> Option.orElse d.Batch
      Layer = a.TryGetResult Layer |> Option.orElse d.Layer
      Out = a.TryGetResult Out |> Option.orElse d.Out
      Seed = a.GetResult(Seed, d.Seed)
      Json = a.Contains Json }

/// The images a source gives for the network's input: its training images, in order.
let private source (data: DataSources.Source) (input: Shape) =
    match data.Provides with
    | DataSources.Noise -> Ok Gaussian
    | DataSources.Labelled images ->
        images.Load input
        |> Result.map (fun splits -> Images splits.Train)
        |> Result.mapError (function
            | DataSources.Unavailable e -> Diagnostic.at Nowhere e
            | DataSources.Unsuitable e -> Diagnostic.at Nowhere $"--data {e}")

/// Loads TorchSharp weights saved with `module.save(path)` into the compiled network.
let private checkpoint (path: string) =
    if not (File.Exists path) then Error (Diagnostic.at (Text (path, 1, 1)) "no such checkpoint")
    else
        Ok (Shared (fun (network: torch.nn.Module) ->
            try
                network.load path |> ignore
                Ok ()
            with
            | :? IOException | :? ArgumentException | :? InvalidOperationException as e ->
                Error (Diagnostic.at (Text (path, 1, 1)) (sprintf "cannot load these weights into the network: %s" e.Message))))

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    let weights =
        match o.Checkpoint with
        | Some path -> checkpoint path
        | None -> Ok FreshPerSample
    positive "--samples" o.Samples
    |> Result.bind (fun samples -> positive "--batch" (o.Batch |> Option.defaultValue samples))
    |> Result.bind (fun perPass -> weights |> Result.map (fun w -> perPass, w))
    |> Result.bind (fun (perPass, weights) ->
        DataSources.parse "--data" Some "input images" o.Data
        |> Result.mapError (Diagnostic.at Nowhere)
        |> Result.map (fun data -> perPass, weights, data))
    |> Result.bind (fun (perPass, weights, data) ->
        loadProgram o.File o.Input
        |> Result.bind (fun program -> source data program.Input |> Result.map (fun s -> program, s))
        |> Result.bind (fun (program, source) ->
            Expand.program program
            |> Result.bind (fun tree ->
                Fields.Erf.measure
                    { Name = program.Name
                      Tree = tree
                      Input = program.Input
                      Layer = o.Layer
                      Samples = o.Samples
                      PerPass = perPass
                      Seed = o.Seed
                      Source = source
                      Weights = weights
                      CropToField = true })))
    |> Result.bind (fun map ->
        let summary = ErfSummary.ofMap map
        let image =
            match o.Out with
            | Some path -> Plots.heatmap path map summary |> Result.map Some
            | None -> Ok None
        image
        |> Result.map (fun image ->
            if o.Json then FieldReport.erfJson map summary image
            else
                let saved = image |> Option.map (sprintf "heatmap          %s\n") |> Option.defaultValue ""
                FieldReport.erfText map summary + saved))
    |> finish output error
