/// `receptor rewrite`: tree rewrites printed back in the text syntax.
module Receptor.Search.RewriteCommands

open System.IO
open Receptor.Dsl

/// `receptor rewrite all-conv FILE [--out FILE] [--average]`: the program with its max pooling (and average
/// pooling with --average) replaced by strided convolutions, blocks instantiated.
let allConv (output: TextWriter) (error: TextWriter) file (out: string option) includeAverage =
    let rewritten =
        Commands.loadProgram file None
        |> Result.bind (fun program -> Shapes.checkProgram program |> Result.map (fun _ -> program))
        |> Result.bind (Rewrite.allConvolutionalProgram includeAverage)
    match rewritten with
    | Error diagnostic -> Commands.report error diagnostic
    | Ok program ->
        let text = Printer.program program
        match out with
        | Some path ->
            File.WriteAllText (path, text)
            output.WriteLine $"wrote {path}"
        | None -> output.Write text
        Commands.exitOk
