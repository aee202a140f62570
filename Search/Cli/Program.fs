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

type Arguments =
    | [<CliPrefix(CliPrefix.None)>] Analyze of ParseResults<AnalyzeArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Analyze _ -> "shapes, parameters, MACs and receptive fields of every layer"

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Arguments>(programName = "receptor")
    try
        let arguments = parser.ParseCommandLine(argv, raiseOnUsage = true)
        match arguments.GetSubCommand() with
        | Analyze a ->
            Commands.analyze Console.Out Console.Error (a.GetResult File) (a.TryGetResult Input) (a.Contains Json)
    with
    | :? ArguParseException as e ->
        // Argu reports usage requests and bad command lines the same way; only the latter is an error.
        if e.ErrorCode = ErrorCode.HelpText then
            Console.Out.WriteLine e.Message
            Commands.exitOk
        else
            Console.Error.WriteLine e.Message
            Commands.exitBadInput
