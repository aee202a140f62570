/// Theoretical receptive fields read off an analysis: which layer, which output unit, and the input
/// region that unit sees, with and without the image's edges.
namespace Receptor.Core.Fields

open Receptor.Dsl
open Receptor.Core

/// A closed interval of input pixels along one axis.
type Span = { First: float; Last: float }

type UnitRegion =
    { Layer: string
      /// (row, column) of the output unit in the layer's output plane.
      Unit: int * int
      /// Centre of the unit's field in input coordinates (row, column).
      Centre: float * float
      /// The field as the arithmetic gives it, possibly reaching past the image (rows, columns).
      Unclipped: Span * Span
      /// The part of the field inside the image.
      Clipped: Span * Span }

module Theoretical =
    /// The node at a path; an unknown path is an error with the nearest path as a hint.
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

    /// The last spatial map before any global pooling: the default layer for `rf` and `erf`.
    let lastSpatial (report: AnalysisReport) =
        match report.Nodes |> List.filter isSpatial |> List.tryLast with
        | Some node -> Ok node
        | None -> Error (Diagnostic.at Nowhere (sprintf "%s has no layer with a spatial output and a local receptive field" report.Name))

    /// The chosen layer, or the last spatial one; it must have a spatial output.
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

    /// The central unit of a layer's output plane (the lower middle for even sizes).
    let centreUnit (node: NodeReport) =
        let h, w = plane node
        (h - 1) / 2, (w - 1) / 2

    let private span (axis: AxisField) u =
        let centre = AxisField.centre axis (float u)
        { First = centre - (axis.Size - 1.0) / 2.0; Last = centre + (axis.Size - 1.0) / 2.0 }

    let private clip length (s: Span) = { First = max 0.0 s.First; Last = min (float length - 1.0) s.Last }

    /// The input region that unit (row, column) of the layer sees; a unit off the plane is an error.
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

    /// Parses `row,column`.
    let parseUnit (text: string) =
        match text.Split(',', System.StringSplitOptions.TrimEntries) |> Array.map System.Int32.TryParse with
        | [| true, row; true, column |] -> Ok (row, column)
        | _ -> Error (Diagnostic.at Nowhere (sprintf "--unit expects row,column with integers, got '%s'" text))
