/// The commands of the `receptor` tool as functions of their arguments and output writers, returning the
/// exit code: 0 on success, 2 on bad input (with a positioned message), never a stack trace.
module Receptor.Search.Commands

open System
open System.IO
open Receptor.Dsl
open Receptor.Core

let exitOk = 0
let exitBadInput = 2

/// Parses `c,h,w` or `n`.
let parseShape (text: string) =
    let parts = text.Split(',', StringSplitOptions.TrimEntries)
    let numbers = parts |> Array.map (fun p -> match Int32.TryParse p with | true, n when n > 0 -> Some n | _ -> None)
    match numbers with
    | [| Some c; Some h; Some w |] -> Ok (Spatial (c, h, w))
    | [| Some n |] -> Ok (Flat n)
    | _ -> Error (Diagnostic.at Nowhere (sprintf "--input expects c,h,w or n with positive integers, got '%s'" text))

/// Reads, parses and checks a program file, optionally overriding its input shape.
let loadProgram (file: string) (input: string option) =
    let text =
        try Ok (File.ReadAllText file)
        with
        | :? FileNotFoundException | :? DirectoryNotFoundException ->
            Error (Diagnostic.at (Text (file, 1, 1)) "no such file")
        | :? IOException | :? UnauthorizedAccessException as e ->
            Error (Diagnostic.at (Text (file, 1, 1)) e.Message)
    text
    |> Result.bind (Parser.parseProgram file)
    |> Result.bind (fun program ->
        match input with
        | Some shape -> parseShape shape |> Result.map (fun s -> { program with Input = s })
        | None -> Ok program)

let private report (error: TextWriter) diagnostic =
    error.WriteLine(Diagnostic.format diagnostic)
    exitBadInput

/// `receptor analyze FILE [--input c,h,w] [--json]`
let analyze (output: TextWriter) (error: TextWriter) file input asJson =
    match loadProgram file input |> Result.bind Analysis.ofProgram with
    | Error diagnostic -> report error diagnostic
    | Ok analysis ->
        output.Write(if asJson then Report.json analysis + "\n" else Report.table analysis)
        exitOk
