/// Analysis reports as a text table and as JSON.
module Receptor.Core.Reporting.Report

open System
open System.IO
open System.Text
open System.Text.Json
open Receptor.Dsl
open Receptor.Core

let thousands (n: int64) = n.ToString("N0", Globalization.CultureInfo.InvariantCulture)

/// 4.09 G, 61.7 M, 1.23 k: three significant figures with an SI prefix.
let engineering (n: int64) =
    let f = float n
    let scaled, prefix =
        if f >= 1e9 then f / 1e9, " G"
        elif f >= 1e6 then f / 1e6, " M"
        elif f >= 1e3 then f / 1e3, " k"
        else f, ""
    let digits = if prefix = "" then 0 elif scaled >= 100.0 then 0 elif scaled >= 10.0 then 1 else 2
    scaled.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture) + prefix

let private formatAxis (a: AxisField) = sprintf "%g" a.Size

let fieldSize field =
    match field with
    | Global -> "global"
    | Local (h, w) when h.Size = w.Size -> formatAxis h
    | Local (h, w) -> sprintf "%s×%s" (formatAxis h) (formatAxis w)

let fieldStride field =
    match field with
    | Global -> "-"
    | Local (h, w) when h.Stride = w.Stride -> sprintf "%g" h.Stride
    | Local (h, w) -> sprintf "%g×%g" h.Stride w.Stride

let fieldPadding field =
    match field with
    | Global -> "-"
    | Local (h, w) when h.Padding = w.Padding -> sprintf "%g" h.Padding
    | Local (h, w) -> sprintf "%g×%g" h.Padding w.Padding

let private truncate width (text: string) =
    if text.Length <= width then text else text.Substring(0, width - 1) + "…"

/// The per-node table with totals, as `receptor analyze` prints it.
let table (report: AnalysisReport) =
    let header = [| "path"; "op"; "output"; "params"; "MACs"; "RF"; "stride"; "pad" |]
    let rows =
        report.Nodes
        |> List.map (fun n ->
            [| n.Path; truncate 48 n.Op; Shape.format n.Output; thousands n.Parameters; engineering n.Macs
               fieldSize n.Field; fieldStride n.Field; fieldPadding n.Field |])
    let all = header :: rows
    let widths = Array.init header.Length (fun i -> all |> List.map (fun r -> r[i].Length) |> List.max)
    let rightAligned = set [ 3; 4; 5; 6; 7 ]
    let line (cells: string[]) =
        cells
        |> Array.mapi (fun i c -> if rightAligned.Contains i then c.PadLeft widths[i] else c.PadRight widths[i])
        |> String.concat "  "
        |> fun s -> s.TrimEnd()
    let text = StringBuilder()
    text.AppendLine(sprintf "%s: input %s → output %s" report.Name (Shape.format report.Input) (Shape.format report.Output)) |> ignore
    text.AppendLine(line header) |> ignore
    text.AppendLine(String('-', (widths |> Array.sum) + 2 * (widths.Length - 1))) |> ignore
    for r in rows do
        text.AppendLine(line r) |> ignore
    let t = report.Totals
    text.AppendLine() |> ignore
    text.AppendLine(sprintf "parameters        %s" (thousands t.Parameters)) |> ignore
    text.AppendLine(sprintf "MACs              %s (%s)" (engineering t.Macs) (thousands t.Macs)) |> ignore
    text.AppendLine(sprintf "other FLOPs       %s" (engineering t.Flops)) |> ignore
    text.AppendLine(sprintf "activation memory %sB per image" (engineering t.Memory)) |> ignore
    text.AppendLine(sprintf "receptive field   %s (stride %s, padding %s)" (fieldSize report.Field) (fieldStride report.Field) (fieldPadding report.Field)) |> ignore
    for m in report.Misalignments do
        text.AppendLine(sprintf "warning: %s: misaligned paths: %s" m.Path m.Message) |> ignore
    text.ToString()

let private writeShape (w: Utf8JsonWriter) (name: string) shape =
    w.WriteStartArray name
    match shape with
    | Spatial (c, h, wd) ->
        w.WriteNumberValue c
        w.WriteNumberValue h
        w.WriteNumberValue wd
    | Flat n -> w.WriteNumberValue n
    w.WriteEndArray()

/// A field's properties in the object being written: `global`, and per axis its size, stride, padding and
/// the centre of unit 0.
let writeFieldProperties (w: Utf8JsonWriter) field =
    match field with
    | Global -> w.WriteBoolean("global", true)
    | Local (h, wd) ->
        w.WriteBoolean("global", false)
        for axis, a in [ "height", h; "width", wd ] do
            w.WriteStartObject axis
            w.WriteNumber("size", a.Size)
            w.WriteNumber("stride", a.Stride)
            w.WriteNumber("padding", a.Padding)
            w.WriteNumber("centre", AxisField.centre a 0.0)
            w.WriteEndObject()

let private writeField (w: Utf8JsonWriter) field =
    w.WriteStartObject "receptiveField"
    writeFieldProperties w field
    w.WriteEndObject()

/// The whole report as JSON (one object; nodes in evaluation order).

/// The `misalignments` array of a report: each misaligned merge's path and message.
let writeMisalignments (w: Utf8JsonWriter) (misalignments: Misalignment list) =
    w.WriteStartArray "misalignments"
    for m in misalignments do
        w.WriteStartObject()
        w.WriteString("path", m.Path)
        w.WriteString("message", m.Message)
        w.WriteEndObject()
    w.WriteEndArray()

let json (report: AnalysisReport) =
    use stream = new MemoryStream()
    use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
    w.WriteStartObject()
    w.WriteString("name", report.Name)
    writeShape w "input" report.Input
    writeShape w "output" report.Output
    w.WriteStartObject "totals"
    w.WriteNumber("parameters", report.Totals.Parameters)
    w.WriteNumber("macs", report.Totals.Macs)
    w.WriteNumber("flops", report.Totals.Flops)
    w.WriteNumber("memoryBytes", report.Totals.Memory)
    w.WriteEndObject()
    writeField w report.Field
    writeMisalignments w report.Misalignments
    w.WriteStartArray "nodes"
    for n in report.Nodes do
        w.WriteStartObject()
        w.WriteString("path", n.Path)
        w.WriteString("op", n.Op)
        writeShape w "output" n.Output
        w.WriteNumber("parameters", n.Parameters)
        w.WriteNumber("macs", n.Macs)
        w.WriteNumber("flops", n.Flops)
        w.WriteNumber("memoryBytes", n.Memory)
        writeField w n.Field
        w.WriteEndObject()
    w.WriteEndArray()
    w.WriteEndObject()
    w.Flush()
    Encoding.UTF8.GetString(stream.ToArray())
