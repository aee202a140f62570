/// Text and JSON for `receptor rf`, `receptor erf` and `receptor erf-growth`.
module Receptor.Core.Reporting.FieldReport

open System.IO
open System.Text
open System.Text.Json
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Fields

let private axisText (pick: AxisField -> float) field =
    match field with
    | Global -> "-"
    | Local (h, w) when pick h = pick w -> sprintf "%g" (pick h)
    | Local (h, w) -> sprintf "%g×%g" (pick h) (pick w)

let private spanText (s: Span) = sprintf "%g..%g" s.First s.Last

let private regionText (rows, columns) = sprintf "rows %s, columns %s" (spanText rows) (spanText columns)

/// The per-layer table (size, effective stride and padding, centre of unit 0), the alignment warnings
/// and the region of the chosen unit.
let rfText (report: AnalysisReport) (region: UnitRegion) =
    let header = [| "path"; "output"; "size"; "stride"; "padding"; "centre(0)" |]
    let rows =
        report.Nodes
        |> List.map (fun n ->
            [| n.Path; Shape.format n.Output; Report.fieldSize n.Field; axisText (fun a -> a.Stride) n.Field
               axisText (fun a -> a.Padding) n.Field; axisText (fun a -> AxisField.centre a 0.0) n.Field |])
    let all = header :: rows
    let widths = Array.init header.Length (fun i -> all |> List.map (fun r -> r[i].Length) |> List.max)
    let line (cells: string[]) =
        cells
        |> Array.mapi (fun i c -> if i < 2 then c.PadRight widths[i] else c.PadLeft widths[i])
        |> String.concat "  "
        |> fun s -> s.TrimEnd()
    let text = StringBuilder()
    let add (s: string) = text.AppendLine s |> ignore
    add (sprintf "%s: input %s" report.Name (Shape.format report.Input))
    add (line header)
    for r in rows do add (line r)
    add ""
    match report.Misalignments with
    | [] -> add "alignment: every merge's paths agree on stride and centre"
    | problems ->
        for m in problems do
            add (sprintf "warning: %s: misaligned paths: %s" m.Path m.Message)
    let row, column = region.Unit
    add (sprintf "unit %d,%d of %s: centre (%g, %g)" row column region.Layer (fst region.Centre) (snd region.Centre))
    add (sprintf "  sees      %s" (regionText region.Unclipped))
    add (sprintf "  in image  %s" (regionText region.Clipped))
    let height, width =
        match report.Input with
        | Spatial (_, h, w) -> h, w
        | Flat n -> 1, n
    let whole length = { First = 0.0; Last = float length - 1.0 }
    if region.Clipped = (whole height, whole width) then add "  sees the whole input"
    text.ToString()

let private toJson (write: Utf8JsonWriter -> unit) =
    use stream = new MemoryStream()
    do
        use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
        write w
    Encoding.UTF8.GetString(stream.ToArray()) + "\n"

let private writeSpans (w: Utf8JsonWriter) (name: string) (rows: Span, columns: Span) =
    w.WriteStartObject name
    for axis, s in [ "rows", rows; "columns", columns ] do
        w.WriteStartArray axis
        w.WriteNumberValue s.First
        w.WriteNumberValue s.Last
        w.WriteEndArray()
    w.WriteEndObject()

let private writeRegion (w: Utf8JsonWriter) (region: UnitRegion) =
    w.WriteStartObject "region"
    w.WriteString("layer", region.Layer)
    w.WriteStartArray "unit"
    w.WriteNumberValue(fst region.Unit)
    w.WriteNumberValue(snd region.Unit)
    w.WriteEndArray()
    w.WriteStartArray "centre"
    w.WriteNumberValue(fst region.Centre)
    w.WriteNumberValue(snd region.Centre)
    w.WriteEndArray()
    writeSpans w "unclipped" region.Unclipped
    writeSpans w "clipped" region.Clipped
    w.WriteEndObject()

/// The analysis report's JSON fields that concern fields, plus the unit's region.
let rfJson (report: AnalysisReport) (region: UnitRegion) =
    toJson (fun w ->
        w.WriteStartObject()
        w.WriteString("name", report.Name)
        w.WriteStartArray "layers"
        for n in report.Nodes do
            w.WriteStartObject()
            w.WriteString("path", n.Path)
            w.WriteString("output", Shape.format n.Output)
            Report.writeFieldProperties w n.Field
            w.WriteEndObject()
        w.WriteEndArray()
        Report.writeMisalignments w report.Misalignments
        writeRegion w region
        w.WriteEndObject())

let erfText (map: ErfMap) (summary: ErfSummary) =
    let fit, size = summary.Fit, summary.Size
    let text = StringBuilder()
    let add (s: string) = text.AppendLine s |> ignore
    let row, column = map.Region.Unit
    add (sprintf "ERF of %s, unit %d,%d, over %d samples" map.Layer.Path row column map.Samples)
    match map.Unbatched with
    | Some why -> add (sprintf "  (one initialisation per pass: %s)" why)
    | None -> ()
    add (sprintf "gaussian fit     centre (%.2f, %.2f), sigma %.2f × %.2f px, R² %.4f" fit.CentreRow fit.CentreColumn fit.SigmaRow fit.SigmaColumn fit.RSquared)
    add (sprintf "moments          variance %.3f × %.3f px²" summary.Moments.VarianceRow summary.Moments.VarianceColumn)
    add (sprintf "ERF size (Luo)   %.2f px (pixels ≥ %.4f × centre value at %d,%d)" size.Luo ErfStats.luoThreshold (fst size.Centre) (snd size.Centre))
    for fraction, side in size.MassSquares do
        add (sprintf "mass %2.0f%% square  %d px" (100.0 * fraction) side)
    add (sprintf "TRF size         %.1f px" summary.TheoreticalSize)
    add (sprintf "ERF/TRF          %.4f" summary.Ratio)
    text.ToString()

let erfJson (map: ErfMap) (summary: ErfSummary) (image: string option) =
    toJson (fun w ->
        let fit, size = summary.Fit, summary.Size
        w.WriteStartObject()
        w.WriteString("layer", map.Layer.Path)
        w.WriteNumber("samples", map.Samples)
        match map.Unbatched with
        | Some why -> w.WriteString("unbatched", why)
        | None -> w.WriteNull "unbatched"
        writeRegion w map.Region
        w.WriteStartObject "gaussianFit"
        w.WriteNumber("amplitude", fit.Amplitude)
        w.WriteNumber("centreRow", fit.CentreRow)
        w.WriteNumber("centreColumn", fit.CentreColumn)
        w.WriteNumber("sigmaRow", fit.SigmaRow)
        w.WriteNumber("sigmaColumn", fit.SigmaColumn)
        w.WriteNumber("rSquared", fit.RSquared)
        w.WriteEndObject()
        w.WriteStartObject "moments"
        w.WriteNumber("meanRow", summary.Moments.MeanRow)
        w.WriteNumber("meanColumn", summary.Moments.MeanColumn)
        w.WriteNumber("varianceRow", summary.Moments.VarianceRow)
        w.WriteNumber("varianceColumn", summary.Moments.VarianceColumn)
        w.WriteEndObject()
        w.WriteNumber("luoSize", size.Luo)
        w.WriteStartObject "massSquares"
        for fraction, side in size.MassSquares do
            w.WriteNumber(sprintf "%g" fraction, side)
        w.WriteEndObject()
        w.WriteNumber("theoreticalSize", summary.TheoreticalSize)
        w.WriteNumber("ratio", summary.Ratio)
        match image with
        | Some path -> w.WriteString("image", path)
        | None -> w.WriteNull "image"
        w.WriteEndObject())

let growthText (curves: GrowthCurve list) =
    let text = StringBuilder()
    let add (s: string) = text.AppendLine s |> ignore
    for curve in curves do
        add (sprintf "%s: log-log slope of the ERF's spread %.3f, of spread/TRF %.3f" (Growth.name curve.Family) curve.Slope curve.RatioSlope)
        add "  depth     TRF  spread  spread/TRF     Luo  fit sigma     R²"
        for p in curve.Points do
            add (sprintf "  %5d  %6.1f  %6.2f  %10.4f  %6.2f  %9.2f  %.4f" p.Depth p.Theoretical p.Spread p.Ratio p.Luo p.Sigma p.RSquared)
    text.ToString()

let growthJson (curves: GrowthCurve list) =
    toJson (fun w ->
        w.WriteStartArray()
        for curve in curves do
            w.WriteStartObject()
            w.WriteString("family", Growth.name curve.Family)
            w.WriteNumber("slope", curve.Slope)
            w.WriteNumber("ratioSlope", curve.RatioSlope)
            w.WriteStartArray "points"
            for p in curve.Points do
                w.WriteStartObject()
                w.WriteNumber("depth", p.Depth)
                w.WriteNumber("theoretical", p.Theoretical)
                w.WriteNumber("spread", p.Spread)
                w.WriteNumber("ratio", p.Ratio)
                w.WriteNumber("luo", p.Luo)
                w.WriteNumber("sigma", p.Sigma)
                w.WriteNumber("rSquared", p.RSquared)
                w.WriteEndObject()
            w.WriteEndArray()
            w.WriteEndObject()
        w.WriteEndArray())
