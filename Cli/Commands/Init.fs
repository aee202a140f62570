/// `receptor init FILE [options]`: initialises a network by a named method and, with --report, sets the
/// moments the propagation predicts at every node beside those measured with TorchSharp in training mode.
module Receptor.Cli.Commands.Init

open System
open System.IO
open Argu
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Signal
open Receptor.Core.Signal.Propagation
open Receptor.Cli.Common
open Receptor.Core.Reporting

type Options =
    { File: string
      Input: string option
      Method: string
      Rules: string
      Law: string
      Data: string
      Seeds: int
      Batch: int
      Report: bool
      /// A residual policy (ResidualPolicies.fs): restore, sqrt-n, zero-gamma or in-degree.
      Residual: string option
      /// Write variance against depth, measured and predicted, for `Methods` to this PNG.
      Plot: string option
      /// Methods for the plot, separated by commas.
      Methods: string
      /// Write the first draw's weights as a checkpoint that `receptor train --from` starts from.
      Save: string option }

/// File is required on the command line.
let defaults =
    { File = ""
      Input = None
      Method = "autoinit"
      Rules = "exact"
      Law = "normal"
      Data = DataSources.gaussian.Name
      Seeds = 32
      Batch = 8
      Report = false
      Residual = None
      Plot = None
      Methods = "autoinit,he,torch-default"
      Save = None }

type Args =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Method of name: string
    | Rules of name: string
    | Law of name: string
    | Data of name: string
    | Seeds of count: int
    | Batch of size: int
    | Report
    | Residual of policy: string
    | Plot of png: string
    | Methods of names: string
    | Save of checkpoint: string

    interface IArgParserTemplate with
        member this.Usage =
            let d = defaults
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w or n"
            | Method _ ->
                $"autoinit, he, he-fan-out, glorot, torch-default, lsuv, fixup, skipinit or gradinit, which needs --data {DataSources.names DataSources.labelled} (default {d.Method})"
            | Rules _ -> $"moment rules: exact or autoinit-2023 (default {d.Rules})"
            | Law _ -> $"weight law: normal, truncated-normal, uniform, orthogonal or weibull (default {d.Law})"
            | Data _ -> $"input for measuring (and LSUV, GradInit): {DataSources.names Some} (default {d.Data})"
            | Seeds _ -> $"seeds to measure over (default {d.Seeds})"
            | Batch _ -> $"samples per seed (default {d.Batch})"
            | Report -> "predicted beside measured mean and variance at every node"
            | Residual _ -> "residual policy: restore, sqrt-n, zero-gamma or in-degree"
            | Plot _ -> "write variance against depth, measured and predicted, for --methods to this PNG"
            | Methods _ -> $"methods for --plot, separated by commas (default {d.Methods})"
            | Save _ -> "write the weights drawn with seed 1 to PATH (and PATH.json, which records the method) for receptor train --from PATH"

let options (a: ParseResults<Args>) =
    let d = defaults
    { File = a.GetResult File
      Input = a.TryGetResult Input |> Option.orElse d.Input
      Method = a.GetResult(Method, d.Method)
      Rules = a.GetResult(Rules, d.Rules)
      Law = a.GetResult(Law, d.Law)
      Data = a.GetResult(Data, d.Data)
      Seeds = a.GetResult(Seeds, d.Seeds)
      Batch = a.GetResult(Batch, d.Batch)
      Report = a.Contains Report
      Residual = a.TryGetResult Residual |> Option.orElse d.Residual
      Plot = a.TryGetResult Plot |> Option.orElse d.Plot
      Methods = a.GetResult(Methods, d.Methods)
      Save = a.TryGetResult Save |> Option.orElse d.Save }

/// The training images of a labelled source, fitted to the network's input as training fits them (repeated
/// over channels, padded or cropped), so that `init --data` plans on the same pixels as `train --init`.
let private imagesSource (input: Shape) size (images: DataSources.Images) =
    images.ShapeFor input
    |> Result.mapError (fun e -> $"--data {e}")
    |> Result.bind (fun _ ->
        images.Load input
        |> Result.mapError (function
            | DataSources.Unavailable e -> e
            | DataSources.Unsuitable e -> $"--data {e}"))
    |> Result.mapError (Diagnostic.at Nowhere)
    |> Result.bind (fun splits ->
        Agreement.Source.labelled input size $"{splits.Title} (training images)" splits.Train
        |> Result.mapError (fun e -> Diagnostic.at Nowhere $"--data: {e}"))

/// A method by name with the options' rules and law; GradInit is made with the labelled images it learns on
/// (Initialisation.methodFor), and without them the error says how to give some.
let private methodNamed (options: Options) (labelled: Dataset option) (name: string) =
    InitSpec.parse name options.Rules options.Law None
    |> Result.mapError (Diagnostic.at Nowhere)
    |> Result.bind (fun spec ->
        match spec.Method, labelled with
        | "gradinit", None ->
            Error (Diagnostic.at Nowhere $"--method gradinit learns on labelled images: add --data {DataSources.names DataSources.labelled}")
        | _ -> Initialisation.methodFor spec labelled)

let private methodOf (options: Options) labelled =
    methodNamed options labelled options.Method
    |> Result.bind (fun method ->
        if options.Seeds < 1 || options.Batch < 2 then Error (Diagnostic.at Nowhere "--seeds must be at least 1 and --batch at least 2")
        else Ok method)

let private policyOf (options: Options) =
    match options.Residual with
    | None -> Ok None
    | Some name -> ResidualPolicies.parse name |> Result.map Some |> Result.mapError (Diagnostic.at Nowhere)

let private sourceOf (options: Options) input =
    DataSources.parse "--data" Some "input images" options.Data
    |> Result.mapError (Diagnostic.at Nowhere)
    |> Result.bind (fun source ->
        match source.Provides with
        | DataSources.Noise -> Ok (Agreement.Source.gaussian input options.Batch)
        | DataSources.Labelled images -> imagesSource input options.Batch images)

/// Draws one initialisation per seed (re-seeding torch each time) and, for --report, measures every node on
/// a fresh batch. The prediction is the plan's, except for LSUV and GradInit, whose rescaled variances are
/// averaged over the draws and propagated.
let private initialiseAndMeasure (options: Options) (prepared: Initialisers.Prepared) network (source: Agreement.Source) =
    let seeds = if options.Report then List.init options.Seeds (fun i -> i + 1) else [ 1 ]
    Agreement.drawAndMeasure prepared network seeds source.Batch options.Report
    |> Result.bind (fun (measured, draws) ->
        match prepared.Method with
        | Initialisers.Lsuv | Initialisers.GradInit _ ->
            Initialisers.predictRealised prepared draws network source.Moments |> Result.map (fun p -> p, measured)
        // Measured in training mode, batch norm's statistics are the batch's: predicted so for the report.
        | _ when options.Report -> Initialisers.predictInBatches prepared options.Batch network source.Moments |> Result.map (fun p -> p, measured)
        | _ -> Ok (prepared.Plan, measured))

/// Compiles the program for one method, with the residual policy applied, and draws (and, for --report,
/// measures) it; the network lives only inside.
let private initialise (options: Options) policy (source: Agreement.Source) (program: Program) method =
    Shapes.checkProgram program
    |> Result.bind (fun tree ->
        match policy with
        | Some p -> ResidualPolicies.apply p method program.Input source.Moments tree
        | None -> Ok { Tree = tree; Scaling = Residuals.unscaled }: Result<ResidualPolicies.Applied, Diagnostic>)
    |> Result.bind (fun applied -> Network.Compile (program.Name, applied.Tree, program.Input) |> Result.map (fun n -> applied, n))
    |> Result.bind (fun (applied, network) ->
        use network = network
        Initialisers.prepareScaled method applied.Scaling source.Moments network
        |> Result.bind (fun prepared -> initialiseAndMeasure options prepared network source))

/// `--plot`: every method drawn and measured over the seeds, its variances along the main path plotted.
let private plotMethods (output: TextWriter) (options: Options) policy (source: Agreement.Source) (program: Program) (path: string) =
    let names = options.Methods.Split (',', StringSplitOptions.TrimEntries ||| StringSplitOptions.RemoveEmptyEntries)
    let curve name =
        methodNamed options source.Labelled name
        |> Result.bind (initialise { options with Report = true } policy source program)
        |> Result.bind (fun (prediction, measured) ->
            Shapes.checkProgram program
            |> Result.map (fun tree ->
                let byPath = measured |> List.map (fun m -> m.Path, m) |> Map.ofList
                let trunk = Residuals.mainPath tree (prediction.Nodes |> List.map (fun n -> n.Path)) |> List.filter byPath.ContainsKey
                let predicted = prediction.Nodes |> List.map (fun n -> n.Path, n.Variance) |> Map.ofList
                ({ Method = name
                   Measured = trunk |> List.map (fun p -> byPath[p].Variance) |> Array.ofList
                   Predicted = Some (trunk |> List.map (fun p -> predicted[p]) |> Array.ofList) }: Figures.VarianceCurve)))
    let curves =
        names
        |> Array.fold (fun acc name -> acc |> Result.bind (fun done' -> curve name |> Result.map (fun c -> c :: done'))) (Ok [])
        |> Result.map List.rev
    curves
    |> Result.bind (fun curves ->
        let residual = options.Residual |> Option.map (sprintf ", residual policy %s") |> Option.defaultValue ""
        Figures.varianceByDepth path (sprintf "%s: variance along the depth%s" program.Name residual) curves
        |> Result.map (fun written ->
            output.WriteLine (sprintf "%-16s  %10s  %10s  %10s  %10s" "method" "depths" "first" "last" "largest")
            for c in curves do
                if c.Measured.Length > 0 then
                    output.WriteLine (
                        sprintf "%-16s  %10d  %10.4g  %10.4g  %10.4g"
                            c.Method c.Measured.Length c.Measured[0] c.Measured[c.Measured.Length - 1] (Array.max c.Measured))
            output.WriteLine ""
            output.WriteLine (
                sprintf "measured variances (%d seeds × %d samples, training mode) and predicted ones written to %s" options.Seeds options.Batch written)))

/// `--save`: the method's draw with seed 1 on the same input (the labelled training images' moments, or
/// standard normal), written by the library as `receptor train --from` reads it.
let private save (output: TextWriter) (options: Options) (source: Agreement.Source) (program: Program) path =
    InitSpec.parse options.Method options.Rules options.Law options.Residual
    |> Result.mapError (Diagnostic.at Nowhere)
    |> Result.bind (fun spec ->
        let data = match source.Labelled with Some images -> Images images | None -> StandardNormal
        Receptor.Core.Training.Checkpoint.initialiseAndSave path spec 1 data program
        |> Result.map (fun _ -> output.WriteLine $"initialised weights ({InitSpec.describe spec}, seed 1) written to {path}"))

let run (output: TextWriter) (error: TextWriter) (options: Options) =
    let loaded =
        policyOf options
        |> Result.bind (fun policy -> loadProgram options.File options.Input |> Result.map (fun p -> policy, p))
        |> Result.bind (fun (policy, program) -> sourceOf options program.Input |> Result.map (fun source -> policy, program, source))
        |> Result.bind (fun (policy, program, source) -> methodOf options source.Labelled |> Result.map (fun method -> method, policy, program, source))
    let watch = Diagnostics.Stopwatch.StartNew ()
    let result =
        loaded
        |> Result.bind (fun (method, policy, program, source) ->
            match options.Plot with
            | Some path -> plotMethods output options policy source program path |> Result.map (fun () -> None)
            | None -> initialise options policy source program method |> Result.map (fun outcome -> Some (program, source, outcome)))
        |> Result.bind (fun outcome ->
            match options.Save, loaded with
            | Some path, Ok (_, _, program, source) -> save output options source program path |> Result.map (fun () -> outcome)
            | _ -> Ok outcome)
    match result with
    | Error d ->
        error.WriteLine (Diagnostic.format d)
        exitBadInput
    | Ok None -> exitOk
    | Ok (Some (program, source, (prediction, measured))) ->
        let residual = options.Residual |> Option.map (sprintf ", residual policy %s") |> Option.defaultValue ""
        output.WriteLine (sprintf "%s: %s, rules %s, weight law %s%s, input %s" program.Name options.Method options.Rules options.Law residual source.Name)
        if options.Report then
            output.WriteLine (
                sprintf "predicted, and measured in training mode over %d seeds × %d samples (%.1f s)"
                    options.Seeds options.Batch watch.Elapsed.TotalSeconds)
            output.WriteLine ""
            output.Write (InitReport.comparison prediction measured)
        else
            output.WriteLine ""
            output.Write (InitReport.plan prediction)
        exitOk
