/// `receptor analyze FILE [--input c,h,w] [--json]`: shapes, parameters, MACs and receptive fields of every layer.
module Receptor.Cli.Commands.Analyze

open System.IO
open Argu
open Receptor.Core
open Receptor.Cli.Common
open Receptor.Core.Reporting

type Options =
    { File: string
      /// Overrides the program's input shape.
      Input: string option
      Json: bool }

/// File is required on the command line; the rest is as here unless given.
let defaults = { File = ""; Input = None; Json = false }

type Args =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w or n"
            | Json -> "print the report as JSON"

let options (a: ParseResults<Args>) =
    { File = a.GetResult File; Input = a.TryGetResult Input; Json = a.Contains Json }

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    match loadProgram o.File o.Input |> Result.bind Analysis.ofProgram with
    | Error diagnostic -> report error diagnostic
    | Ok analysis ->
        output.Write(if o.Json then Report.json analysis + "\n" else Report.table analysis)
        exitOk
