/// `receptor data fetch NAME [--dir D]` and `receptor data list`: the data sets and the sources of `--data`.
module Receptor.Cli.Commands.Data

open System.IO
open Argu
open Receptor.Core.Data
open Receptor.Cli.Common

type FetchOptions =
    { Name: string
      /// None: $RECEPTOR_DATA, else ~/.cache/receptor/mnist.
      Dir: string option }

type Options =
    | Fetch of FetchOptions
    | List

/// The name of the set to fetch is required on the command line.
let defaults = { Name = ""; Dir = None }

type FetchArgs =
    | [<MainCommand; ExactlyOnce>] Name of data: string
    | Dir of path: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Name _ -> "the data set: mnist"
            | Dir _ -> "the folder to keep it in (default: $RECEPTOR_DATA, else ~/.cache/receptor/mnist)"

type Args =
    | [<CliPrefix(CliPrefix.None)>] Fetch of ParseResults<FetchArgs>
    | [<SubCommand; CliPrefix(CliPrefix.None)>] List

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Fetch _ -> "download a data set into its cache folder, unless it is there already"
            | List -> "the sources that --data accepts, what each is and what it provides"

let options (a: ParseResults<Args>) =
    match a.GetSubCommand() with
    | Args.Fetch f -> Options.Fetch { Name = f.GetResult Name; Dir = f.TryGetResult Dir |> Option.orElse defaults.Dir }
    | Args.List -> Options.List

/// Makes sure the data set is in its cache folder.
let private fetch (output: TextWriter) (error: TextWriter) (o: FetchOptions) =
    match o.Name.ToLowerInvariant() with
    | "mnist" ->
        let dir = o.Dir |> Option.defaultWith Mnist.defaultDirectory
        match Mnist.ensure dir |> Result.bind (fun _ -> Mnist.load dir) with
        | Ok (train, test) ->
            output.WriteLine $"MNIST in {dir}: {count train.Count} training and {count test.Count} test images"
            exitOk
        | Error message ->
            error.WriteLine $"error: {message}"
            exitFailed
    | _ -> fail error $"unknown data set '{o.Name}'; the one to fetch is mnist"

let private list (output: TextWriter) =
    for source in DataSources.all do
        let aliases = if source.Aliases.IsEmpty then "" else " (also " + String.concat ", " source.Aliases + ")"
        output.WriteLine $"{source.Name,-16} {DataSources.provides source,-16} {source.Description}{aliases}"
    exitOk

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    match o with
    | Options.Fetch f -> fetch output error f
    | Options.List -> list output
