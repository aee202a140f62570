/// `receptor study fields`: every variant file of a folder trained on the far-pair task and measured, so that
/// test accuracy can be read against the effective receptive field. One variant is one .rcp file and one row;
/// the records go to JSON, the table to Markdown and the scatter plot to PNG.
module Receptor.Cli.Studies.FieldStudy

open System
open System.Globalization
open System.IO
open System.Text.Json
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data
open Receptor.Core.Fields
open Receptor.Core.Torch
open Receptor.Core.Training
open Receptor.Cli.Common
open Receptor.Core.Reporting

/// What one variant measured.
type VariantRecord =
    { /// The file name without its extension.
      Variant: string
      Network: string
      Parameters: int64
      Macs: int64
      /// The layer whose central unit the ERF is taken at: the last spatial one.
      Layer: string
      /// Geometric mean of the theoretical field's sides at that layer (pixels, unclipped).
      TheoreticalField: float
      /// Luo's ERF size (pixels) over fresh initialisations, Gaussian inputs.
      ErfAtInit: float
      /// Luo's ERF size (pixels) of the trained weights, Gaussian inputs.
      ErfTrained: float
      /// Side of the centred square holding half the trained ERF's mass.
      ErfTrainedHalfMass: int
      TestAccuracy: float
      TestLoss: float
      TrainSeconds: float }

type Options =
    { Variants: string
      Epochs: int
      /// ERF samples, at initialisation and after training.
      Samples: int
      Seed: int
      /// The folder that receives field-study.json, field-study.md and field-study.png.
      Out: string }

let defaults =
    { Variants = Path.Combine("Examples", "study", "fields")
      Epochs = 3
      Samples = 16
      Seed = 1
      Out = Path.Combine("docs", "figures") }

let private badInput message = Error (Diagnostic.at Nowhere message)

let private variantFiles (folder: string) =
    if not (Directory.Exists folder) then badInput $"--variants: no folder {folder}"
    else
        match Directory.GetFiles(folder, "*.rcp") |> Array.sort |> List.ofArray with
        | [] -> badInput $"--variants: {folder} holds no .rcp file"
        | files -> Ok files

/// The trained network's weights and buffers, copied into the network the ERF measurement compiles.
let private trainedWeights (trained: Network) =
    Shared (fun target ->
        try
            use _ = torch.no_grad ()
            target.load_state_dict (trained.state_dict ()) |> ignore
            Ok ()
        with :? ArgumentException as e -> Error (Diagnostic.at Nowhere $"cannot copy the trained weights: {e.Message}"))

let private erf (program: Program) tree samples weights perPass =
    Erf.measure
        { Name = program.Name
          Tree = tree
          Input = program.Input
          Layer = None
          Samples = samples
          PerPass = perPass
          Seed = 1L
          Source = Gaussian
          Weights = weights
          CropToField = true }
    |> Result.map (fun map -> map.Layer.Path, ErfSummary.ofMap map)

/// Trains one variant on far pairs with the train command's defaults, then measures its ERF.
let private study (options: Options) (file: string) : Result<VariantRecord, Diagnostic> =
    let place result = result |> Result.mapError (fun message -> Diagnostic.at (Text (file, 1, 1)) message)
    loadProgram file None
    |> Result.bind (fun program -> Analysis.ofProgram program |> Result.map (fun report -> program, report))
    |> Result.bind (fun (program, report) -> Expand.program program |> Result.map (fun tree -> program, report, tree))
    |> Result.bind (fun (program, report, tree) ->
        Receptor.Cli.Commands.Train.loadData DataSources.farPair.Name program.Input
        |> Result.mapError snd
        |> Result.map (fun (train, test, _) -> program, report, tree, train, test))
    |> Result.bind (fun (program, report, tree, train, test) ->
        erf program tree options.Samples FreshPerSample 1
        |> Result.map (fun atInit -> program, report, tree, train, test, atInit))
    |> Result.bind (fun (program, report, tree, train, test, atInit) ->
        let trainOptions = { TrainOptions.defaults with Epochs = options.Epochs; Seed = options.Seed; Device = Cpu }
        Trainer.compile options.Seed program
        |> Result.bind (fun network ->
            use network = network
            Trainer.train trainOptions None network train ignore
            |> Result.bind (fun outcome ->
                match outcome.Status with
                | Trainer.Completed -> Trainer.evaluate network test |> Result.map (fun result -> outcome, result)
                | Trainer.Diverged (epoch, step) -> Error $"training diverged at epoch {epoch}, step {step}")
            |> place
            |> Result.bind (fun (outcome, result) ->
                erf program tree options.Samples (trainedWeights network) options.Samples
                |> Result.map (fun (layer, trained) ->
                    { Variant = Path.GetFileNameWithoutExtension file
                      Network = program.Name
                      Parameters = report.Totals.Parameters
                      Macs = report.Totals.Macs
                      Layer = layer
                      TheoreticalField = trained.TheoreticalSize
                      ErfAtInit = (snd atInit).Size.Luo
                      ErfTrained = trained.Size.Luo
                      ErfTrainedHalfMass = trained.Size.MassSquares |> List.tryFind (fun (f, _) -> f = 0.5) |> Option.map snd |> Option.defaultValue 0
                      TestAccuracy = result.Accuracy
                      TestLoss = result.Loss
                      TrainSeconds = outcome.Seconds }))))

let private decimals (places: int) (x: float) = x.ToString("F" + string places, CultureInfo.InvariantCulture)
let private percent (fraction: float) = decimals 2 (100.0 * fraction) + " %"
let private count (n: int64) = n.ToString("N0", CultureInfo.InvariantCulture)

/// The records as a Markdown table, in file order.
let table (records: VariantRecord list) =
    let header =
        "| variant | parameters | MACs | ERF layer | TRF (px) | ERF at init (px) | ERF trained (px) | half-mass square (px) | test accuracy | train time |\n"
        + "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|\n"
    let row (r: VariantRecord) =
        $"| {r.Variant} | {count r.Parameters} | {count r.Macs} | `{r.Layer}` | {decimals 0 r.TheoreticalField} | {decimals 1 r.ErfAtInit} | {decimals 1 r.ErfTrained} | {r.ErfTrainedHalfMass} | {percent r.TestAccuracy} | {decimals 0 r.TrainSeconds} s |\n"
    header + (records |> List.map row |> String.concat "")

let private json = JsonSerializerOptions(WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase)

let private write (path: string) (text: string) =
    try
        File.WriteAllText(path, text)
        Ok path
    with :? IOException | :? UnauthorizedAccessException as e -> badInput $"cannot write {path}: {e.Message}"

/// Runs every variant, then writes OUT/field-study.json, .md and .png.
let run (output: TextWriter) (options: Options) =
    let positive name value = if value >= 1 then Ok () else badInput $"{name} must be at least 1, got {value}"
    positive "--epochs" options.Epochs
    |> Result.bind (fun () -> positive "--samples" options.Samples)
    |> Result.bind (fun () -> variantFiles options.Variants)
    |> Result.bind (fun files ->
        files
        |> List.fold
            (fun state file ->
                state
                |> Result.bind (fun records ->
                    study options file
                    |> Result.map (fun r ->
                        output.WriteLine
                            $"{r.Variant}: {count r.Parameters} parameters, test accuracy {percent r.TestAccuracy}, ERF {decimals 1 r.ErfAtInit} → {decimals 1 r.ErfTrained} px (TRF {decimals 0 r.TheoreticalField}), {decimals 0 r.TrainSeconds} s"
                        records @ [ r ])))
            (Ok []))
    |> Result.bind (fun records ->
        let stem = Path.Combine(options.Out, "field-study")
        Plots.accuracyAgainstErf (stem + ".png") [ for r in records -> r.Variant, r.ErfAtInit, r.ErfTrained, r.TestAccuracy ]
        |> Result.bind (fun _ -> write (stem + ".json") (JsonSerializer.Serialize(records, json) + "\n"))
        |> Result.bind (fun _ -> write (stem + ".md") (table records))
        |> Result.map (fun _ -> records, stem))

/// `receptor study fields [--variants DIR] [--epochs N] [--samples N] [--seed N] [--out DIR]`
let command (output: TextWriter) (error: TextWriter) (options: Options) =
    match run output options with
    | Ok (records, stem) ->
        output.WriteLine()
        output.Write(table records)
        output.WriteLine $"\nrecords {stem}.json, table {stem}.md, plot {stem}.png"
        exitOk
    | Error diagnostic ->
        error.WriteLine(Diagnostic.format diagnostic)
        exitBadInput
