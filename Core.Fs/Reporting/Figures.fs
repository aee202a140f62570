/// PNG figures of signal propagation (ScottPlot, as Fields/Plots.fs): χ₁ against σ_w for the edge of chaos,
/// and the variance along a network's depth for several initialisers.
module Receptor.Core.Reporting.Figures

open ScottPlot
open Receptor.Core.Signal.EdgeOfChaos
open Receptor.Core.Signal

/// Width and height of every figure here, in pixels.
let size = 900, 640

let private save (plot: Plot) path =
    let width, height = size
    Plots.write path (fun file -> plot.SavePng(file, width, height) |> ignore)

/// χ₁ against σ_w where the variance map has a fixed point, with χ₁ = 1 and the critical σ_w marked.
let edgeOfChaos (path: string) (activation: string) (biasSd: float) (points: Point[]) (critical: Critical) =
    let plot = new Plot()
    let finite = points |> Array.choose (fun p -> p.Chi |> Option.map (fun chi -> p.WeightSd, chi))
    let curve = plot.Add.Scatter(Array.map fst finite, Array.map snd finite)
    curve.MarkerSize <- 0.0f
    curve.LegendText <- "χ₁ at the fixed point q*"
    let one = plot.Add.HorizontalLine 1.0
    one.LinePattern <- LinePattern.Dashed
    one.LegendText <- "χ₁ = 1"
    match critical with
    | Critical (weightSd, _) ->
        let line = plot.Add.VerticalLine weightSd
        line.LinePattern <- LinePattern.Dotted
        line.LegendText <- sprintf "edge of chaos σ_w = %.5f" weightSd
    | NoCritical _ -> ()
    plot.XLabel "σ_w"
    plot.YLabel "χ₁ = σ_w² E[φ′(√q* z)²]"
    plot.Title (sprintf "%s, σ_b = %g" activation biasSd)
    plot.ShowLegend(Alignment.UpperLeft) |> ignore
    save plot path

/// One initialiser's variances along the depth: measured, and predicted where the method predicts.
type VarianceCurve =
    { Method: string
      Measured: float[]
      Predicted: float[] option }

/// log10 variance against depth (position on the network's main path), one colour per method: measured
/// solid with markers, predicted dashed.
let varianceByDepth (path: string) (title: string) (curves: VarianceCurve list) =
    let plot = new Plot()
    let palette = Palettes.Category10()
    // Zero variances (Fixup's zeroed classifier) are drawn at a floor two decades below the smallest other.
    let positive = curves |> List.collect (fun c -> List.ofArray c.Measured @ (c.Predicted |> Option.map List.ofArray |> Option.defaultValue [])) |> List.filter (fun v -> v > 0.0)
    let floor = if positive.IsEmpty then 1e-12 else List.min positive / 100.0
    let log10Of values = values |> Array.map (fun v -> log10 (max v floor))
    curves
    |> List.iteri (fun i curve ->
        let colour = palette.GetColor i
        let depths = Array.init curve.Measured.Length (fun d -> float (d + 1))
        let measured = plot.Add.Scatter(depths, log10Of curve.Measured)
        measured.Color <- colour
        measured.LegendText <- sprintf "%s measured" curve.Method
        curve.Predicted
        |> Option.iter (fun predicted ->
            let line = plot.Add.Scatter(depths, log10Of predicted)
            line.Color <- colour
            line.MarkerSize <- 0.0f
            line.LinePattern <- LinePattern.Dashed
            line.LegendText <- sprintf "%s predicted" curve.Method))
    plot.XLabel "depth (node on the main path)"
    plot.YLabel "log10 variance (zero drawn two decades below the smallest)"
    plot.Title title
    plot.ShowLegend(Alignment.LowerLeft) |> ignore
    save plot path

/// Validation accuracy against multiply-accumulates (log scale), one marker per trial, with the Pareto front
/// (no other trial both cheaper and more accurate) joined and its points labelled by trial number.
let pareto (path: string) (title: string) (trials: (int * int64 * float) list) =
    let plot = new Plot()
    let macs = trials |> List.map (fun (_, m, _) -> log10 (float (max 1L m))) |> Array.ofList
    let accuracy = trials |> List.map (fun (_, _, a) -> 100.0 * a) |> Array.ofList
    let all = plot.Add.ScatterPoints(macs, accuracy)
    all.LegendText <- "trials"
    let front =
        trials
        |> List.sortBy (fun (_, m, a) -> m, -a)
        |> List.fold (fun (kept, best) (n, m, a) -> if a > best then (n, m, a) :: kept, a else kept, best) ([], -1.0)
        |> fst
        |> List.rev
    let line = plot.Add.Scatter(front |> List.map (fun (_, m, _) -> log10 (float (max 1L m))) |> Array.ofList, front |> List.map (fun (_, _, a) -> 100.0 * a) |> Array.ofList)
    line.LegendText <- "Pareto front"
    for n, m, a in front do
        plot.Add.Text(sprintf "#%d" n, log10 (float (max 1L m)), 100.0 * a) |> ignore
    plot.XLabel "log10 MACs per image"
    plot.YLabel "best validation accuracy (%)"
    plot.Title title
    // Room around the points, so that none hides under an edge or the legend.
    plot.Axes.Margins(0.1, 0.15)
    plot.ShowLegend(Alignment.LowerRight) |> ignore
    save plot path
