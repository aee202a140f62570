/// The `receptor` command line: the commands by name, parsed into their options and run. Each command's
/// arguments, defaults and work are in its own module under Commands/.
module Receptor.Cli.Program

open System
open Argu
open Receptor.Cli.Common

type Arguments =
    | [<CliPrefix(CliPrefix.None)>] Analyze of ParseResults<Commands.Analyze.Args>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<Commands.Data.Args>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<Commands.Train.Args>
    | [<CliPrefix(CliPrefix.None)>] Init of ParseResults<Commands.Init.Args>
    | [<CliPrefix(CliPrefix.None)>] Eoc of ParseResults<Commands.Eoc.Args>
    | [<CliPrefix(CliPrefix.None)>] Study of ParseResults<Commands.Study.Args>
    | [<CliPrefix(CliPrefix.None)>] Rf of ParseResults<Commands.Rf.Args>
    | [<CliPrefix(CliPrefix.None)>] Erf of ParseResults<Commands.Erf.Args>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("erf-growth")>] Erf_Growth of ParseResults<Commands.ErfGrowth.Args>
    | [<CliPrefix(CliPrefix.None)>] Rewrite of ParseResults<Commands.Rewrite.Args>
    | [<CliPrefix(CliPrefix.None)>] Search of ParseResults<Commands.Search.Args>
    | [<CliPrefix(CliPrefix.None)>] Serve of ParseResults<Commands.Serve.Args>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Analyze _ -> "shapes, parameters, MACs and receptive fields of every layer"
            | Data _ -> "data sets: fetch, and the list of the sources that --data accepts"
            | Train _ -> "train a network and report its accuracy on held-out images (exit 3 if it diverges)"
            | Init _ -> "initialise by a named method; --report compares predicted and measured moments per node"
            | Eoc _ -> "edge of chaos of an activation: fixed point q*, χ₁ and the critical σ_w"
            | Study _ -> "studies over many networks: init (initialisers × activations), fields (far-pair accuracy against the ERF), agreement (the zoo's predicted against measured moments)"
            | Rf _ -> "theoretical receptive fields: per-layer table, alignment, the input region of one unit"
            | Erf _ -> "effective receptive field: gradient heatmap, Gaussian fit, sizes, ERF/TRF"
            | Erf_Growth _ -> "ERF against depth for families of stacked 3×3 convolutions"
            | Rewrite _ -> "rewrite a program's tree and print it in the text syntax: all-conv"
            | Search _ -> "architecture search trials in their store: worker, status, resume, leaderboard, export, rerun, delete"
            | Serve _ -> "Receptor over HTTP on this machine: analysis, initialisation reports, ERF heatmaps, studies and their live events"

/// A command and its options, as the command line asked.
type Command =
    | Analyze of Commands.Analyze.Options
    | Data of Commands.Data.Options
    | Train of Commands.Train.Options
    | Init of Commands.Init.Options
    | Eoc of Commands.Eoc.Options
    | Study of Commands.Study.Options
    | Rf of Commands.Rf.Options
    | Erf of Commands.Erf.Options
    | ErfGrowth of Commands.ErfGrowth.Options
    | Rewrite of Commands.Rewrite.Options
    | Search of Commands.Search.Options
    | Serve of Commands.Serve.Options

type Parsed =
    | Run of Command
    /// --help: the usage text, printed on standard output with exit 0.
    | Usage of string
    /// A command line that cannot run: the message, printed on standard error with exit 2.
    | Malformed of string

let parse (argv: string[]) =
    let parser = ArgumentParser.Create<Arguments>(programName = "receptor")
    try
        match parser.ParseCommandLine(argv, raiseOnUsage = true).GetSubCommand() with
        | Arguments.Analyze a -> Run (Command.Analyze (Commands.Analyze.options a))
        | Arguments.Data a -> Run (Command.Data (Commands.Data.options a))
        | Arguments.Train a -> Run (Command.Train (Commands.Train.options a))
        | Arguments.Init a -> Run (Command.Init (Commands.Init.options a))
        | Arguments.Eoc a -> Run (Command.Eoc (Commands.Eoc.options a))
        | Arguments.Study a ->
            match Commands.Study.options a with
            | Ok options -> Run (Command.Study options)
            | Error message -> Malformed message
        | Arguments.Rf a -> Run (Command.Rf (Commands.Rf.options a))
        | Arguments.Erf a -> Run (Command.Erf (Commands.Erf.options a))
        | Arguments.Erf_Growth a -> Run (Command.ErfGrowth (Commands.ErfGrowth.options a))
        | Arguments.Rewrite a -> Run (Command.Rewrite (Commands.Rewrite.options a))
        | Arguments.Search a ->
            match Commands.Search.options a with
            | Ok options -> Run (Command.Search options)
            | Error message -> Malformed message
        | Arguments.Serve a -> Run (Command.Serve (Commands.Serve.options a))
    with :? ArguParseException as e ->
        // Argu reports usage requests and bad command lines the same way; only the latter is an error.
        if e.ErrorCode = ErrorCode.HelpText then Usage e.Message else Malformed e.Message

let private run command =
    let output, error = Console.Out, Console.Error
    match command with
    | Command.Analyze o -> Commands.Analyze.run output error o
    | Command.Data o -> Commands.Data.run output error o
    | Command.Train o -> Commands.Train.run output error (Progress.forConsole ()) o
    | Command.Init o -> Commands.Init.run output error o
    | Command.Eoc o -> Commands.Eoc.run output error o
    | Command.Study o -> Commands.Study.run output error o
    | Command.Rf o -> Commands.Rf.run output error o
    | Command.Erf o -> Commands.Erf.run output error o
    | Command.ErfGrowth o -> Commands.ErfGrowth.run output error o
    | Command.Rewrite o -> Commands.Rewrite.run output error o
    | Command.Search o -> Commands.Search.run output error o
    | Command.Serve o -> Commands.Serve.run output error o

[<EntryPoint>]
let main argv =
    Receptor.Core.Torch.NativeRuntime.configure ()
    match parse argv with
    | Run command -> run command
    | Usage text ->
        Console.Out.WriteLine text
        exitOk
    | Malformed message ->
        Console.Error.WriteLine message
        exitBadInput
