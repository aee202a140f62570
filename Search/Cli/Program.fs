/// The `receptor` command line.
module Receptor.Cli.Program

open System
open Argu
open Receptor.Search

type InitArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Method of name: string
    | Rules of name: string
    | Law of name: string
    | Data of name: string
    | Seeds of count: int
    | Batch of size: int
    | Report

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w or n"
            | Method _ -> "autoinit (default), he, he-fan-out, glorot, torch-default or lsuv"
            | Rules _ -> "moment rules: exact (default) or autoinit-2023"
            | Law _ -> "weight law: normal (default), truncated-normal, uniform or orthogonal"
            | Data _ -> "input for measuring (and LSUV): gaussian (default) or mnist"
            | Seeds _ -> "seeds to measure over (default 4)"
            | Batch _ -> "samples per seed (default 64)"
            | Report -> "predicted beside measured mean and variance at every node"

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
    | [<CliPrefix(CliPrefix.None)>] Init of ParseResults<InitArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Analyze _ -> "shapes, parameters, MACs and receptive fields of every layer"
            | Init _ -> "initialise by a named method; --report compares predicted and measured moments per node"

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Arguments>(programName = "receptor")
    try
        let arguments = parser.ParseCommandLine(argv, raiseOnUsage = true)
        match arguments.GetSubCommand() with
        | Analyze a ->
            Commands.analyze Console.Out Console.Error (a.GetResult File) (a.TryGetResult Input) (a.Contains Json)
        | Init a ->
            let d = InitCommands.defaults (a.GetResult InitArgs.File)
            InitCommands.run Console.Out Console.Error
                { d with
                    Input = a.TryGetResult InitArgs.Input
                    Method = a.GetResult (InitArgs.Method, d.Method)
                    Rules = a.GetResult (InitArgs.Rules, d.Rules)
                    Law = a.GetResult (InitArgs.Law, d.Law)
                    Data = a.GetResult (InitArgs.Data, d.Data)
                    Seeds = a.GetResult (InitArgs.Seeds, d.Seeds)
                    Batch = a.GetResult (InitArgs.Batch, d.Batch)
                    Report = a.Contains InitArgs.Report }
    with
    | :? ArguParseException as e ->
        // Argu reports usage requests and bad command lines the same way; only the latter is an error.
        if e.ErrorCode = ErrorCode.HelpText then
            Console.Out.WriteLine e.Message
            Commands.exitOk
        else
            Console.Error.WriteLine e.Message
            Commands.exitBadInput
