/// What the commands share: their exit codes, the reading of a program file (its mistakes printed as
/// file:line:col), and the number formats of their output.
module Receptor.Cli.Common

open System
open System.Globalization
open System.IO
open Receptor.Dsl

/// A command's exit code: 0 on success, 1 when the environment fails (MNIST cannot be fetched), 2 on bad
/// input (with a positioned message), 3 when training diverges; never a stack trace.
let exitOk = 0
let exitFailed = 1
let exitBadInput = 2
let exitDiverged = 3

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

/// Prints a diagnostic and gives the exit code of bad input.
let report (error: TextWriter) diagnostic =
    error.WriteLine(Diagnostic.format diagnostic)
    exitBadInput

/// Bad input without a place.
let fail (error: TextWriter) message = report error (Diagnostic.at Nowhere message)

let count (n: int) = n.ToString("N0", CultureInfo.InvariantCulture)

let percent (fraction: float) = (100.0 * fraction).ToString("F2", CultureInfo.InvariantCulture) + "%"

/// Prints a command's text, or its diagnostic, and gives the exit code.
let finish (output: TextWriter) (error: TextWriter) result =
    match result with
    | Ok (text: string) ->
        output.Write text
        exitOk
    | Error diagnostic -> report error diagnostic

/// A count given to an option, or bad input naming the option when it is below 1.
let positive name (value: int) =
    if value >= 1 then Ok value else Error (Diagnostic.at Nowhere (sprintf "%s must be at least 1, got %d" name value))

/// A trial store as the command line names it (Receptor.Search.Storage.parse).
let storage (text: string) = Receptor.Search.Storage.parse text
