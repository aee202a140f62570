/// PNG figures with ScottPlot (rendered by SkiaSharp, headless): an ERF heatmap on linear and log scales
/// side by side, and ERF growth curves on log-log axes.
module Receptor.Core.Reporting.Plots

open System
open System.IO
open ScottPlot
open SkiaSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Fields

/// Writes a figure through `save`, creating the folder; an I/O failure is a diagnostic.
let write (path: string) (save: string -> unit) =
    try
        match Path.GetDirectoryName(Path.GetFullPath path) with
        | null -> ()
        | dir -> Directory.CreateDirectory dir |> ignore
        save path
        Ok path
    with
    | :? IOException | :? UnauthorizedAccessException as e -> Error (Diagnostic.at Nowhere (sprintf "cannot write %s: %s" path e.Message))

/// Labelled ticks at the given (position, label) pairs.
let private manualTicks (ticks: (float * string) seq) =
    let generator = TickGenerators.NumericManual()
    for position, label in ticks do
        generator.AddMajor(position, label)
    generator

/// A round step giving at most about ten ticks over `length`.
let private roundStep (length: int) =
    [ 1; 2; 5; 10; 20; 25; 50; 100; 200; 500 ] |> List.tryFind (fun s -> length / s <= 10) |> Option.defaultValue 1000

/// One panel: the map as an image (row 0 at the top), the theoretical field (clipped) outlined.
let private panel (title: string) (values: float[,]) (region: UnitRegion) =
    let plot = new Plot()
    let height = float (Array2D.length1 values)
    let heatmap = plot.Add.Heatmap values
    heatmap.Colormap <- Colormaps.Viridis()
    plot.Add.ColorBar heatmap |> ignore
    // ScottPlot draws row r at y = height − 1 − r (row 0 on top); the y ticks are labelled with rows.
    let toY row = height - 1.0 - row
    let step = roundStep (int height)
    plot.Axes.Left.TickGenerator <- manualTicks [ for row in 0 .. step .. int height - 1 -> toY (float row), string row ]
    let rows, columns = region.Clipped
    let outline = plot.Add.Rectangle(columns.First - 0.5, columns.Last + 0.5, toY rows.Last - 0.5, toY rows.First + 0.5)
    outline.FillStyle.Color <- Colors.Transparent
    outline.LineStyle.Color <- Colors.White
    outline.LineStyle.Width <- 1.5f
    outline.LineStyle.Pattern <- LinePattern.Dashed
    plot.Title title
    plot.XLabel "column"
    plot.YLabel "row"
    plot.Axes.SetLimits(-0.5, float (Array2D.length2 values) - 0.5, -0.5, height - 0.5)
    plot

/// The ERF heatmap, linear and log10 side by side, with the theoretical field dashed.
let heatmap (path: string) (map: ErfMap) (summary: ErfSummary) =
    let values = map.Values
    let peak = values |> Seq.cast<float> |> Seq.max
    // log10 relative to the peak, floored six decades down so that zeros stay drawable.
    let logValues = values |> Array2D.map (fun v -> log10 (max (v / peak) 1e-6))
    let caption = sprintf "ERF %.1f px (Luo), TRF %.0f px (dashed)" summary.Size.Luo summary.TheoreticalSize
    let linear = panel caption values map.Region
    let logarithmic = panel (sprintf "%s, log10(ERF / peak)" map.Layer.Path) logValues map.Region
    write path (fun file ->
        let width, height = 1400, 640
        let multiplot = Multiplot linear
        multiplot.Subplots.Add logarithmic
        multiplot.Layout <- MultiplotLayouts.Columns()
        use surface = SKSurface.Create(SKImageInfo(width, height))
        surface.Canvas.Clear SKColors.White
        multiplot.Render(surface.Canvas, PixelRect(0.0f, float32 width, float32 height, 0.0f))
        use image = surface.Snapshot()
        use data = image.Encode(SKEncodedImageFormat.Png, 100)
        File.WriteAllBytes(file, data.ToArray()))

/// The ERF's spread (solid) and the TRF (dashed) against depth on log-log axes, one colour per family.
let growth (path: string) (curves: GrowthCurve list) =
    let plot = new Plot()
    let palette = ScottPlot.Palettes.Category10()
    curves
    |> List.iteri (fun i curve ->
        let colour = palette.GetColor i
        let depths = [| for p in curve.Points -> log10 (float p.Depth) |]
        let erf = plot.Add.Scatter(depths, [| for p in curve.Points -> log10 p.Spread |])
        erf.Color <- colour
        erf.LegendText <- sprintf "%s ERF spread (slope %.2f)" (Growth.name curve.Family) curve.Slope
        let trf = plot.Add.Scatter(depths, [| for p in curve.Points -> log10 p.Theoretical |])
        trf.Color <- colour
        trf.LinePattern <- LinePattern.Dashed
        trf.LegendText <- sprintf "%s TRF" (Growth.name curve.Family))
    // Log-log axes: values are plotted as log10 and labelled with the depths and with powers of two.
    let depths = curves |> List.collect (fun c -> c.Points |> List.map (fun p -> p.Depth)) |> List.distinct
    plot.Axes.Bottom.TickGenerator <- manualTicks [ for d in depths -> log10 (float d), string d ]
    let sizes = curves |> List.collect (fun c -> c.Points |> List.collect (fun p -> [ p.Spread; p.Theoretical ]))
    let lowest, highest = floor (Math.Log2(List.min sizes)), ceil (Math.Log2(List.max sizes))
    plot.Axes.Left.TickGenerator <- manualTicks [ for e in lowest .. highest -> log10 (2.0 ** e), sprintf "%g" (2.0 ** e) ]
    plot.XLabel "depth (3×3 convolutions)"
    plot.YLabel "size (pixels)"
    plot.Title "Effective vs theoretical receptive field"
    plot.ShowLegend(Alignment.UpperLeft) |> ignore
    write path (fun file -> plot.SavePng(file, 900, 640) |> ignore)

/// Test accuracy against ERF size, one colour per labelled variant: a hollow marker at the ERF of fresh
/// initialisations, a filled one at the ERF of the trained weights, joined by a dotted line.
let accuracyAgainstErf (path: string) (variants: (string * float * float * float) list) =
    let plot = new Plot()
    let palette = ScottPlot.Palettes.Category10()
    variants
    |> List.iteri (fun i (name, atInit, trained, accuracy) ->
        let colour = palette.GetColor i
        let y = 100.0 * accuracy
        let link = plot.Add.Line(atInit, y, trained, y)
        link.Color <- colour
        link.LinePattern <- LinePattern.Dotted
        plot.Add.Marker(atInit, y, MarkerShape.OpenCircle, 10.0f, colour) |> ignore
        let after = plot.Add.Marker(trained, y, MarkerShape.FilledCircle, 10.0f, colour)
        after.LegendText <- name
        let label = plot.Add.Text(name, trained, y)
        label.LabelFontColor <- colour
        label.LabelFontSize <- 13.0f
        label.OffsetX <- 8.0f
        label.OffsetY <- -8.0f)
    // Room on the right for the labels of the widest fields.
    plot.Axes.Margins(0.15, 0.1)
    plot.XLabel "ERF size, Luo (pixels): hollow at initialisation, filled after training"
    plot.YLabel "test accuracy (%)"
    plot.Title "far-pair: accuracy against effective receptive field"
    plot.ShowLegend(Alignment.UpperLeft) |> ignore
    write path (fun file -> plot.SavePng(file, 900, 640) |> ignore)
