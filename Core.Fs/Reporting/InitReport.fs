/// The tables of `receptor init`: the plan of weight variances, and predicted against measured moments with
/// the verdict per node.
module Receptor.Core.Reporting.InitReport

open System.Text
open Receptor.Core.Signal

/// Relative error of a predicted variance against the measured one.
let relativeError predicted measured = abs (predicted - measured) / max measured 1e-12

/// A node agrees when its variance is within `RelativeVariance` (relative) and its mean within
/// `MeanInDeviations` of the measured standard deviation.
type Tolerance = { RelativeVariance: float; MeanInDeviations: float }

let tolerance = { RelativeVariance = 0.15; MeanInDeviations = 0.1 }

let agrees (t: Tolerance) (predicted: NodeMoments) (measured: Measurement.Measured) =
    relativeError predicted.Variance measured.Variance <= t.RelativeVariance
    && abs (predicted.Mean - measured.Mean) <= t.MeanInDeviations * sqrt (max measured.Variance 1e-12)

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
    let byPath = measured |> List.map (fun m -> m.Path, m) |> Map.ofList
    let rows = prediction.Nodes |> List.choose (fun p -> byPath.TryFind p.Path |> Option.map (fun m -> p, m))
    for p, m in rows do
        let mark = if agrees tolerance p m then "" else " *"
        let op = if p.Op.Length > 32 then p.Op.Substring (0, 31) + "…" else p.Op
        line (
            formatRow
                [ p.Path; op; sprintf "%.4f" p.Mean; sprintf "%.4f" m.Mean; sprintf "%.4f" p.Variance; sprintf "%.4f" m.Variance
                  sprintf "%.4f" m.VarianceError; sprintf "%.1f%%" (100.0 * relativeError p.Variance m.Variance) ]
                widths
            + mark)
    let within = rows |> List.filter (fun (p, m) -> agrees tolerance p m) |> List.length
    line ""
    line (
        sprintf "%d of %d nodes agree (variance within %.0f%%, mean within %.2f measured standard deviations; * marks the others)"
            within rows.Length (100.0 * tolerance.RelativeVariance) tolerance.MeanInDeviations)
    let weighted = prediction.Layers |> List.filter (fun (l, _) -> l.Part <> "depthwise") |> List.choose (fun (l, _) -> byPath.TryFind l.Path)
    if not weighted.IsEmpty then
        let errors = weighted |> List.map (fun m -> relativeError Initialisers.target m.Variance) |> List.sort
        line (
            sprintf "weighted layers: measured output variance within 15%% of %.0f for %d of %d, median error %.1f%%"
                Initialisers.target (errors |> List.filter (fun e -> e <= 0.15) |> List.length) errors.Length (100.0 * errors[errors.Length / 2]))
    text.ToString ()

/// Every weighted layer with its fan-in and the standard deviations its method chose (`receptor init`).
let plan (prediction: Prediction) =
    let text = StringBuilder ()
    let line (s: string) = text.AppendLine s |> ignore
    let widths = [ 44; 12; 8; 10; 10 ]
    line (formatRow [ "layer"; "kind"; "fan-in"; "weight sd"; "bias sd" ] widths)
    for layer, v in prediction.Layers do
        let name = if layer.Part = "" then layer.Path else layer.Path + "/" + layer.Part
        line (formatRow [ name; layer.Kind; string layer.FanIn; sprintf "%.5f" (sqrt v.Weight); sprintf "%.5f" (sqrt v.Bias) ] widths)
    text.ToString ()
