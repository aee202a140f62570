/// `receptor eoc ACTIVATION [--sigma-b B] [--sigma-w W] [--plot PNG]`: the edge of chaos of an activation: the
/// variance map's fixed point q*, χ₁ there, and the σ_w where χ₁ = 1 (EdgeOfChaos.fs), optionally plotted.
module Receptor.Cli.Commands.Eoc

open System.IO
open Argu
open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Cli.Common
open Receptor.Core.Reporting

type Options =
    { Activation: string
      /// Standard deviation of the biases.
      SigmaB: float
      /// Also show q* and χ₁ at this weight standard deviation.
      SigmaW: float option
      Plot: string option }

/// The activation is required on the command line.
let defaults = { Activation = ""; SigmaB = 0.0; SigmaW = None; Plot = None }

type Args =
    | [<MainCommand; ExactlyOnce>] Activation of expression: string
    | Sigma_B of bias_sd: float
    | Sigma_W of weight_sd: float
    | Plot of png: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Activation _ -> "an activation as the language writes it: tanh, prelu(0.25), act(x * sigmoid(x))"
            | Sigma_B _ -> $"standard deviation of the biases (default {defaults.SigmaB})"
            | Sigma_W _ -> "also show q* and χ₁ at this weight standard deviation"
            | Plot _ -> "write χ₁ against σ_w to this PNG"

let options (a: ParseResults<Args>) =
    { Activation = a.GetResult Activation
      SigmaB = a.GetResult(Sigma_B, defaults.SigmaB)
      SigmaW = a.TryGetResult Sigma_W |> Option.orElse defaults.SigmaW
      Plot = a.TryGetResult Plot |> Option.orElse defaults.Plot }

let private describe (activation: Moments.Activation) biasSd weightSd =
    let p = EdgeOfChaos.point activation biasSd weightSd
    match p.FixedPoint, p.Chi with
    | EdgeOfChaos.Converges q, Some chi ->
        let phase = if abs (chi - 1.0) < 1e-6 then "critical" elif chi < 1.0 then "ordered" else "chaotic"
        sprintf "%8.4f  %12.6g  %10.6f  %s" weightSd q chi phase
    | _ -> sprintf "%8.4f  %12s  %10s  %s" weightSd "diverges" "—" "no fixed point"

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    let text, biasSd, weightSd, plot = o.Activation, o.SigmaB, o.SigmaW, o.Plot
    let checkedScales =
        if biasSd < 0.0 || System.Double.IsNaN biasSd then Error (Diagnostic.at Nowhere "--sigma-b must be at least 0")
        else
            match weightSd with
            | Some w when not (w > 0.0) -> Error (Diagnostic.at Nowhere "--sigma-w must be positive")
            | _ -> Ok ()
    match checkedScales |> Result.bind (fun () -> EdgeOfChaos.parseActivation text) with
    | Error d ->
        error.WriteLine (Diagnostic.format d)
        exitBadInput
    | Ok activation ->
        let critical = EdgeOfChaos.critical activation biasSd
        match critical with
        | EdgeOfChaos.Critical (w, q) ->
            output.WriteLine (
                sprintf "%s, σ_b = %g: edge of chaos at σ_w = %.6f (q* = %.6g, χ₁ = %.6f)"
                    text biasSd w q (EdgeOfChaos.chi activation w q))
        | EdgeOfChaos.NoCritical reason -> output.WriteLine (sprintf "%s, σ_b = %g: no edge of chaos: %s" text biasSd reason)
        output.WriteLine (
            sprintf "σ_w scanned over (0, %g] in steps of 0.025, then bisected to %g; q* to relative 1e-14"
                EdgeOfChaos.weightGrid[EdgeOfChaos.weightGrid.Length - 1] EdgeOfChaos.tolerance)
        output.WriteLine ""
        output.WriteLine (sprintf "%8s  %12s  %10s  %s" "σ_w" "q*" "χ₁" "phase")
        let shown = ([ 0.5; 1.0; 1.5; 2.0; 2.5; 3.0 ] @ Option.toList weightSd) |> List.distinct |> List.sort
        for w in shown do
            output.WriteLine (describe activation biasSd w)
        match plot with
        | None -> exitOk
        | Some path ->
            match Figures.edgeOfChaos path text biasSd (EdgeOfChaos.curve activation biasSd) critical with
            | Ok written ->
                output.WriteLine ""
                output.WriteLine (sprintf "χ₁ against σ_w written to %s" written)
                exitOk
            | Error d ->
                error.WriteLine (Diagnostic.format d)
                exitBadInput
