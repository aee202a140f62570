/// `receptor rf`, `receptor erf` and `receptor erf-growth`: theoretical and effective receptive fields.
/// Like Commands, each returns the exit code: 0 on success, 2 on bad input with a message.
module Receptor.Search.FieldCommands

open System
open System.IO
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data
open Receptor.Core.Fields
open Receptor.Search.Commands

let private finish (output: TextWriter) (error: TextWriter) result =
    match result with
    | Ok (text: string) ->
        output.Write text
        exitOk
    | Error diagnostic ->
        error.WriteLine(Diagnostic.format diagnostic)
        exitBadInput

let private optionally parse text =
    match text with
    | Some t -> parse t |> Result.map Some
    | None -> Ok None

/// `receptor rf FILE [--input c,h,w] [--unit row,column] [--layer PATH] [--json]`
let rf (output: TextWriter) (error: TextWriter) file input unit layer asJson =
    loadProgram file input
    |> Result.bind Analysis.ofProgram
    |> Result.bind (fun report ->
        Theoretical.chooseLayer report layer
        |> Result.bind (fun node ->
            optionally Theoretical.parseUnit unit
            |> Result.bind (fun chosen -> Theoretical.region report node (chosen |> Option.defaultValue (Theoretical.centreUnit node))))
        |> Result.map (fun region -> if asJson then FieldReport.rfJson report region else FieldReport.rfText report region))
    |> finish output error

let private positive name (value: int) =
    if value >= 1 then Ok value else Error (Diagnostic.at Nowhere (sprintf "%s must be at least 1, got %d" name value))

let private source data =
    match data with
    | None | Some "gaussian" -> Ok Gaussian
    | Some "mnist" ->
        let dir = Mnist.defaultDirectory ()
        Mnist.ensure dir
        |> Result.bind (fun _ -> Mnist.load dir)
        |> Result.map (fst >> Images)
        |> Result.mapError (Diagnostic.at Nowhere)
    | Some other -> Error (Diagnostic.at Nowhere (sprintf "--data expects gaussian or mnist, got '%s'" other))

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

type ErfOptions =
    { Checkpoint: string option
      Data: string option
      Samples: int
      /// Samples per pass; None puts them all in one.
      Batch: int option
      Layer: string option
      Out: string option
      Seed: int64
      Json: bool }

/// `receptor erf FILE [--input c,h,w] [--checkpoint C] [--data gaussian|mnist] [--samples N] [--batch N]
/// [--layer PATH] [--out erf.png] [--seed S] [--json]`
let erf (output: TextWriter) (error: TextWriter) file input (options: ErfOptions) =
    let weights =
        match options.Checkpoint with
        | Some path -> checkpoint path
        | None -> Ok FreshPerSample
    positive "--samples" options.Samples
    |> Result.bind (fun samples -> positive "--batch" (options.Batch |> Option.defaultValue samples))
    |> Result.bind (fun perPass -> weights |> Result.map (fun w -> perPass, w))
    |> Result.bind (fun (perPass, weights) -> source options.Data |> Result.map (fun s -> perPass, weights, s))
    |> Result.bind (fun (perPass, weights, source) ->
        loadProgram file input
        |> Result.bind (fun program ->
            Expand.program program
            |> Result.bind (fun tree ->
                Erf.measure
                    { Name = program.Name
                      Tree = tree
                      Input = program.Input
                      Layer = options.Layer
                      Samples = options.Samples
                      PerPass = perPass
                      Seed = options.Seed
                      Source = source
                      Weights = weights
                      CropToField = true })))
    |> Result.bind (fun map ->
        let summary = ErfSummary.ofMap map
        let image =
            match options.Out with
            | Some path -> Plots.heatmap path map summary |> Result.map Some
            | None -> Ok None
        image
        |> Result.map (fun image ->
            if options.Json then FieldReport.erfJson map summary image
            else
                let saved = image |> Option.map (sprintf "heatmap          %s\n") |> Option.defaultValue ""
                FieldReport.erfText map summary + saved))
    |> finish output error

let private parseDepths (text: string) =
    let parts = text.Split(',', StringSplitOptions.TrimEntries)
    let depths = parts |> Array.choose (fun p -> match Int32.TryParse p with | true, d when d >= 1 -> Some d | _ -> None)
    if depths.Length = parts.Length then Ok (List.ofArray depths)
    else Error (Diagnostic.at Nowhere (sprintf "--depths expects positive integers separated by commas, got '%s'" text))

/// `receptor erf-growth [--family plain,strided,…] [--depths 2,4,8,16,32] [--samples N] [--out growth.png] [--json]`
let growth (output: TextWriter) (error: TextWriter) families depths samples out seed asJson =
    Growth.parse (defaultArg families "plain")
    |> Result.bind (fun families -> parseDepths (defaultArg depths "2,4,8,16,32") |> Result.map (fun d -> families, d))
    |> Result.bind (fun (families, depths) ->
        positive "--samples" samples
        |> Result.bind (fun samples ->
            families
            |> List.fold
                (fun state family -> state |> Result.bind (fun acc -> Growth.measure family depths samples seed |> Result.map (fun c -> acc @ [ c ])))
                (Ok [])))
    |> Result.bind (fun curves ->
        let image =
            match out with
            | Some path -> Plots.growth path curves |> Result.map Some
            | None -> Ok None
        image
        |> Result.map (fun image ->
            if asJson then FieldReport.growthJson curves
            else FieldReport.growthText curves + (image |> Option.map (sprintf "figure %s\n") |> Option.defaultValue "")))
    |> finish output error
