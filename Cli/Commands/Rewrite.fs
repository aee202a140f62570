/// `receptor rewrite all-conv FILE [--out FILE] [--average]`: tree rewrites printed back in the text syntax.
module Receptor.Cli.Commands.Rewrite

open System.IO
open Argu
open Receptor.Dsl
open Receptor.Cli.Common

type AllConvOptions =
    { File: string
      /// None: print the program instead of writing it.
      Out: string option
      /// Replace average pooling too.
      Average: bool }

type Options = AllConv of AllConvOptions

/// File is required on the command line.
let defaults = { File = ""; Out = None; Average = false }

type AllConvArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Out of path: string
    | Average

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Out _ -> "write the rewritten program to this file instead of printing it"
            | Average -> "replace average pooling too"

type Args =
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("all-conv")>] All_Conv of ParseResults<AllConvArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | All_Conv _ -> "max pooling becomes a strided convolution of the same geometry (Springenberg et al. 2015)"

let options (a: ParseResults<Args>) =
    match a.GetSubCommand() with
    | All_Conv c ->
        AllConv
            { File = c.GetResult File
              Out = c.TryGetResult Out |> Option.orElse defaults.Out
              Average = c.Contains Average }

/// The program with its max pooling (and average pooling with --average) replaced by strided convolutions,
/// blocks instantiated.
let private allConv (output: TextWriter) (error: TextWriter) (o: AllConvOptions) =
    let rewritten =
        loadProgram o.File None
        |> Result.bind (fun program -> Shapes.checkProgram program |> Result.map (fun _ -> program))
        |> Result.bind (Receptor.Dsl.Rewrite.allConvolutionalProgram o.Average)
    match rewritten with
    | Error diagnostic -> report error diagnostic
    | Ok program ->
        let text = Printer.program program
        match o.Out with
        | Some path ->
            File.WriteAllText (path, text)
            output.WriteLine $"wrote {path}"
        | None -> output.Write text
        exitOk

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    match o with
    | AllConv a -> allConv output error a
