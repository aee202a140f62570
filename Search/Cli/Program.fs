/// The `receptor` command line.
module Receptor.Cli.Program

open System
open Argu
open Receptor.Search

type AnalyzeArgs =
    | [<MainCommand; ExactlyOnce; Last>] File of path: string
    | Input of shape: string
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w or n"
            | Json -> "print the report as JSON"

type RfArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Unit of row_column: string
    | Layer of path: string
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w"
            | Unit _ -> "the output unit whose input region to show (default: the central unit)"
            | Layer _ -> "the layer's path (default: the last spatial layer)"
            | Json -> "print the report as JSON"

type ErfArgs =
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
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w"
            | Checkpoint _ -> "TorchSharp weights (module.save) shared by every sample; default: a fresh initialisation per sample"
            | Data _ -> "gaussian (default) or mnist"
            | Samples _ -> "samples to average over (default 16)"
            | Batch _ -> "samples per forward/backward pass (default: all)"
            | Layer _ -> "the layer's path (default: the last spatial layer)"
            | Out _ -> "write the heatmap, linear and log scale, to this PNG"
            | Seed _ -> "random seed (default 1)"
            | Json -> "print the record as JSON"

type GrowthArgs =
    | Family of names: string
    | Depths of depths: string
    | Samples of count: int
    | Out of png: string
    | Seed of seed: int64
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Family _ -> "plain, strided, dilated, residual or dropout; several separated by commas (default plain)"
            | Depths _ -> "depths separated by commas (default 2,4,8,16,32)"
            | Samples _ -> "initialisations per depth (default 16)"
            | Out _ -> "write the log-log growth figure to this PNG"
            | Seed _ -> "random seed (default 1)"
            | Json -> "print the curves as JSON"

type Arguments =
    | [<CliPrefix(CliPrefix.None)>] Analyze of ParseResults<AnalyzeArgs>
    | [<CliPrefix(CliPrefix.None)>] Rf of ParseResults<RfArgs>
    | [<CliPrefix(CliPrefix.None)>] Erf of ParseResults<ErfArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("erf-growth")>] Erf_Growth of ParseResults<GrowthArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Analyze _ -> "shapes, parameters, MACs and receptive fields of every layer"
            | Rf _ -> "theoretical receptive fields: per-layer table, alignment, the input region of one unit"
            | Erf _ -> "effective receptive field: gradient heatmap, Gaussian fit, sizes, ERF/TRF"
            | Erf_Growth _ -> "ERF against depth for families of stacked 3×3 convolutions"

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Arguments>(programName = "receptor")
    try
        let arguments = parser.ParseCommandLine(argv, raiseOnUsage = true)
        match arguments.GetSubCommand() with
        | Analyze a ->
            Commands.analyze Console.Out Console.Error (a.GetResult AnalyzeArgs.File) (a.TryGetResult AnalyzeArgs.Input) (a.Contains AnalyzeArgs.Json)
        | Rf a ->
            FieldCommands.rf Console.Out Console.Error (a.GetResult RfArgs.File) (a.TryGetResult RfArgs.Input)
                (a.TryGetResult RfArgs.Unit) (a.TryGetResult RfArgs.Layer) (a.Contains RfArgs.Json)
        | Erf a ->
            FieldCommands.erf Console.Out Console.Error (a.GetResult ErfArgs.File) (a.TryGetResult ErfArgs.Input)
                { Checkpoint = a.TryGetResult Checkpoint
                  Data = a.TryGetResult Data
                  Samples = a.GetResult(ErfArgs.Samples, defaultValue = 16)
                  Batch = a.TryGetResult Batch
                  Layer = a.TryGetResult ErfArgs.Layer
                  Out = a.TryGetResult ErfArgs.Out
                  Seed = a.GetResult(ErfArgs.Seed, defaultValue = 1L)
                  Json = a.Contains ErfArgs.Json }
        | Erf_Growth a ->
            FieldCommands.growth Console.Out Console.Error (a.TryGetResult Family) (a.TryGetResult Depths)
                (a.GetResult(GrowthArgs.Samples, defaultValue = 16)) (a.TryGetResult GrowthArgs.Out)
                (a.GetResult(GrowthArgs.Seed, defaultValue = 1L)) (a.Contains GrowthArgs.Json)
    with
    | :? ArguParseException as e ->
        // Argu reports usage requests and bad command lines the same way; only the latter is an error.
        if e.ErrorCode = ErrorCode.HelpText then
            Console.Out.WriteLine e.Message
            Commands.exitOk
        else
            Console.Error.WriteLine e.Message
            Commands.exitBadInput
