namespace Receptor.Core.Fields

open Receptor.Dsl
open Receptor.Core

type Span = { First: float; Last: float }

type UnitRegion =
    { Layer: string
      Unit: int * int
      Centre: float * float
      Unclipped: Span * Span
      Clipped: Span * Span }

module Theoretical =
    let findLayer (report: AnalysisReport) (path: string) =
        match report.Nodes |> List.tryFind (fun n -> n.Path = path) with
        | Some node -> Ok node
        | None ->
            let diagnostic = Diagnostic.at Nowhere (sprintf "no layer at path '%s'" path)
            match Registry.nearest (report.Nodes |> List.map (fun n -> n.Path)) path with
            | Some near -> Error (Diagnostic.withHint (sprintf "did you mean '%s'?" near) diagnostic)
            | None -> Error (Diagnostic.withHint "`receptor analyze FILE` lists every path" diagnostic)

    /// A spatial map with a local field, global pooling's 1×1 summary excepted.
    let private isSpatial (node: NodeReport) =
        match node.Output, node.Field with
        | Spatial _, Local _ -> node.Op <> "gavgpool" && node.Op <> "gmaxpool"
        | _ -> false

    let lastSpatial (report: AnalysisReport) =
        match report.Nodes |> List.filter isSpatial |> List.tryLast with
        | Some node -> Ok node
        | None -> Error (Diagnostic.at Nowhere (sprintf "%s has no layer with a spatial output and a local receptive field" report.Name))

    let chooseLayer (report: AnalysisReport) (path: string option) =
        match path with
        | None -> lastSpatial report
        | Some p ->
            findLayer report p
            |> Result.bind (fun node ->
                match node.Output with
                | Spatial _ -> Ok node
                | Flat n -> Error (Diagnostic.atPath p (sprintf "the output of this layer is flat (%d features), not a plane of units" n)))

    let private plane (node: NodeReport) =
        match node.Output with
        | Spatial (_, h, w) -> h, w
        | Flat _ -> 1, 1

    let centreUnit (node: NodeReport) =
        let h, w = plane node
        (h - 1) / 2, (w - 1) / 2

    let private span (axis: AxisField) u =
        let centre = AxisField.centre axis (float u)
        { First = centre - (axis.Size - 1.0) / 2.0; Last = centre + (axis.Size - 1.0) / 2.0 }

    let private clip length (s: Span) = { First = max 0.0 s.First; Last = min (float length - 1.0) s.Last }

    let region (report: AnalysisReport) (node: NodeReport) (row: int, column: int) =
        let h, w = plane node
        let imageH, imageW =
            match report.Input with
            | Spatial (_, ih, iw) -> ih, iw
            | Flat n -> 1, n
        if row < 0 || row >= h || column < 0 || column >= w then
            Error (Diagnostic.atPath node.Path (sprintf "unit %d,%d is outside the %d×%d output plane" row column h w))
        else
            let rows, columns =
                match node.Field with
                | Local (fh, fw) -> span fh row, span fw column
                | Global -> { First = 0.0; Last = float imageH - 1.0 }, { First = 0.0; Last = float imageW - 1.0 }
            Ok
                { Layer = node.Path
                  Unit = row, column
                  Centre = (rows.First + rows.Last) / 2.0, (columns.First + columns.Last) / 2.0
                  Unclipped = rows, columns
                  Clipped = clip imageH rows, clip imageW columns }

    let parseUnit (text: string) =
        match text.Split(',', System.StringSplitOptions.TrimEntries) |> Array.map System.Int32.TryParse with
        | [| true, row; true, column |] -> Ok (row, column)
        | _ -> Error (Diagnostic.at Nowhere (sprintf "--unit expects row,column with integers, got '%s'" text))
