/// `receptor rf FILE [--input c,h,w] [--unit row,column] [--layer PATH] [--json]`: theoretical receptive
/// fields: the per-layer table, alignment, and the input region of one unit.
module Receptor.Cli.Commands.Rf

open System.IO
open Argu
open Receptor.Core
open Receptor.Core.Fields
open Receptor.Cli.Common
open Receptor.Core.Reporting

type Options =
    { File: string
      Input: string option
      /// None: the central unit.
      Unit: string option
      /// None: the last spatial layer.
      Layer: string option
      Json: bool }

/// File is required on the command line.
let defaults = { File = ""; Input = None; Unit = None; Layer = None; Json = false }

type Args =
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

let options (a: ParseResults<Args>) =
    { File = a.GetResult File
      Input = a.TryGetResult Input |> Option.orElse defaults.Input
      Unit = a.TryGetResult Unit |> Option.orElse defaults.Unit
      Layer = a.TryGetResult Layer |> Option.orElse defaults.Layer
      Json = a.Contains Json }

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    let optionally parse text =
        match text with
        | Some t -> parse t |> Result.map Some
        | None -> Ok None
    loadProgram o.File o.Input
    |> Result.bind Analysis.ofProgram
    |> Result.bind (fun report ->
        Theoretical.chooseLayer report o.Layer
        |> Result.bind (fun node ->
            optionally Theoretical.parseUnit o.Unit
            |> Result.bind (fun chosen -> Theoretical.region report node (chosen |> Option.defaultValue (Theoretical.centreUnit node))))
        |> Result.map (fun region -> if o.Json then FieldReport.rfJson report region else FieldReport.rfText report region))
    |> finish output error
