/// The tables of `receptor init`: the plan of weight variances, and predicted against measured moments with
/// the verdict per node.
module Receptor.Core.Reporting.InitReport

open System.Text
open Receptor.Core.Signal

let private agrees = Measurement.agreesWithin Measurement.reportShare

/// The targets the plan aims at: "1", or "1; readout/path 0.01".
let private targets (prediction: Prediction) =
    let others =
        prediction.Layers
        |> List.filter (fun (l, v) -> l.Output && v.Target <> Initialisers.target)
        |> List.map (fun (l, v) -> sprintf "%s %g" l.Path v.Target)
    String.concat "; " (sprintf "%g" Initialisers.target :: others)

let private formatRow (columns: string list) (widths: int list) =
    List.zip columns widths
    |> List.mapi (fun i (c, w) -> if i < 2 then c.PadRight w else c.PadLeft w)
    |> String.concat "  "

/// Predicted beside measured moments at every node, the agreement verdict per node, and the weighted layers'
/// output variances against AutoInit's target (`receptor init --report`).
let comparison (prediction: Prediction) (measured: Measurement.Measured list) =
    let text = StringBuilder ()
    let line (s: string) = text.AppendLine s |> ignore
    let widths = [ 40; 32; 8; 8; 8; 8; 7; 7 ]
    line (formatRow [ "path"; "op"; "mean"; "measured"; "variance"; "measured"; "± s.e."; "error" ] widths)
    for p, m in Agreement.pairs prediction measured do
        let mark = if agrees p m then "" else " *"
        let op = if p.Op.Length > 32 then p.Op.Substring (0, 31) + "…" else p.Op
        line (
            formatRow
                [ p.Path; op; sprintf "%.4f" p.Mean; sprintf "%.4f" m.Mean; sprintf "%.4f" p.Variance; sprintf "%.4f" m.Variance
                  sprintf "%.4f" m.VarianceError; sprintf "%.1f%%" (100.0 * Agreement.relativeError p.Variance m.Variance) ]
                widths
            + mark)
    let verdict = Agreement.verdict prediction measured
    line ""
    line (
        sprintf "%d of %d nodes agree (variance within %.0f%% and mean within %.3g measured standard deviations, or either within four standard errors, the tests' rule; * marks the others)"
            verdict.Agreeing verdict.Nodes (100.0 * Measurement.reportShare) (0.5 * Measurement.reportShare))
    if verdict.Weighted > 0 then
        line (
            sprintf "weighted layers: measured output variance within %.0f%% of the target (%s) for %d of %d, median error %.1f%%"
                (100.0 * Agreement.targetShare) (targets prediction) verdict.OnTarget verdict.Weighted (100.0 * verdict.MedianError))
    text.ToString ()

/// Excess kurtosis from which `plan` names a layer's output as far from Gaussian: a 3×3 depthwise convolution
/// of Gaussian input has 0.67, after a ReLU 1.67; a 3×3 convolution of 16 channels 0.04.
let kurtosisNote = 0.5

/// Every weighted layer with its fan-in and the standard deviations its method chose (`receptor init`), and
/// the layers whose small fan-in leaves their output far from the Gaussian law the rules give it.
let plan (prediction: Prediction) =
    let text = StringBuilder ()
    let line (s: string) = text.AppendLine s |> ignore
    let widths = [ 44; 12; 8; 10; 10; 9; 8 ]
    line (formatRow [ "layer"; "kind"; "fan-in"; "weight sd"; "bias sd"; "bias mean"; "target" ] widths)
    for layer, v in prediction.Layers do
        let name = if layer.Part = "" then layer.Path else layer.Path + "/" + layer.Part
        line (
            formatRow
                [ name; layer.Kind; string layer.FanIn; sprintf "%.5f" (sqrt v.Weight); sprintf "%.5f" (sqrt v.Bias); sprintf "%g" v.BiasMean; sprintf "%g" v.Target ]
                widths)
    let far = prediction.Layers |> List.filter (fun (l, _) -> l.Kurtosis >= kurtosisNote)
    if not far.IsEmpty then
        line ""
        line (
            sprintf "small fan-in: %d layers' outputs are far from the Gaussian law the rules give them (excess kurtosis over the draws, 0 for a normal law; activations after them may miss by a few %%):"
                far.Length)
        for layer, _ in far do
            let name = if layer.Part = "" then layer.Path else layer.Path + "/" + layer.Part
            line (sprintf "  %s (%s, fan-in %d): %.2f" name layer.Kind layer.FanIn layer.Kurtosis)
    text.ToString ()

/// One row of the zoo's agreement table: a model at one input size under both rule sets.
type AgreementRow =
    { Model: string
      Input: Receptor.Dsl.Shape
      Exact: Result<Agreement.Verdict, string>
      AutoInit2023: Result<Agreement.Verdict, string> }

/// What the issue asks of every row: this share of the nodes agreeing and of the weighted layers on target.
let agreementGoal = 0.95

let private meetsGoal (v: Agreement.Verdict) =
    float v.Agreeing >= agreementGoal * float v.Nodes && float v.OnTarget >= agreementGoal * float v.Weighted

/// The zoo's agreement table in Markdown: per model and input, nodes agreeing and weighted layers on target
/// under Receptor's exact rules and AutoInit's 2023 rules, and where the exact rules first miss.
let agreementTable (seeds: int) (batch: int) (rows: AgreementRow list) =
    let text = StringBuilder ()
    let line (s: string) = text.AppendLine s |> ignore
    let share n total = if total = 0 then "—" else sprintf "%d of %d" n total
    let cells (verdict: Result<Agreement.Verdict, string>) =
        match verdict with
        | Ok v ->
            [ share v.Agreeing v.Nodes; share v.OnTarget v.Weighted
              (if v.Weighted = 0 then "—" else sprintf "%.1f %%" (100.0 * v.MedianError)) ]
        | Error e -> [ $"fails: {e.Replace('|', '/')}"; ""; "" ]
    let firstMiss (verdict: Result<Agreement.Verdict, string>) =
        match verdict with
        | Ok { FirstMiss = Some (p, m) } -> sprintf "`%s`: variance %.3g predicted, %.3g measured" p.Path p.Variance m.Variance
        | _ -> ""
    line "| model | input | exact: nodes agreeing | exact: layers within 15 % | exact: median error | 2023 rules: nodes agreeing | 2023: layers within 15 % | 2023: median error | exact rules' first miss |"
    line "|---|---|---|---|---|---|---|---|---|"
    for row in rows do
        line (
            "| "
            + String.concat " | " ([ row.Model; Receptor.Dsl.Shape.format row.Input ] @ cells row.Exact @ cells row.AutoInit2023 @ [ firstMiss row.Exact ])
            + " |")
    let meeting select = rows |> List.filter (fun r -> match select r with Ok v -> meetsGoal v | Error _ -> false) |> List.length
    line ""
    line (
        sprintf "Rows meeting the goal (≥ %.0f %% of nodes agreeing and ≥ %.0f %% of weighted layers within 15 %% of the target): exact rules %d of %d, AutoInit's 2023 rules %d of %d. AutoInit drawn and measured over %d seeds × %d standard-normal samples in training mode; a node agrees by the tests' rule (Measurement.agreesWithin, share %.2f)."
            (100.0 * agreementGoal) (100.0 * agreementGoal) (meeting (fun r -> r.Exact)) rows.Length (meeting (fun r -> r.AutoInit2023)) rows.Length seeds batch Measurement.reportShare)
    text.ToString ()
