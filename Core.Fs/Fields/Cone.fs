namespace Receptor.Core.Fields

open System
open Receptor.Dsl
open Receptor.Core

type Crop =
    { Rows: int * int
      Columns: int * int
      Unit: int * int }

module Cone =
    let rec prefix (path: string) (tree: Checked) : Checked option =
        match tree with
        | CheckedOp layer -> if layer.Path = path then Some tree else None
        | CheckedBranches merge ->
            if merge.Path = path || merge.Branches |> List.exists (prefix path >> Option.isSome) then Some tree else None
        | CheckedSeq nodes ->
            let rec cut before rest =
                match rest with
                | [] -> None
                | node :: after ->
                    match prefix path node with
                    | Some held -> Some (CheckedSeq (List.rev (held :: before)))
                    | None -> cut (node :: before) after
            cut [] nodes

    let private integral (x: float) = x >= 1.0 && abs (x - Math.Round x) < 1e-9

    let rec private gcd (a: int) b = if b = 0 then a else gcd b (a % b)

    /// Along one axis: the first pixel and the count, a multiple of `step` from the image's start so that
    /// every layer's grid stays aligned, covering the unit's field inside an image of `length` pixels.
    let private window (field: Span) length step =
        let first = if field.First <= 0.0 then 0 else int (floor field.First) / step * step
        let last = if field.Last >= float (length - 1) then length - 1 else int (ceil field.Last)
        first, last - first + 1

    let crop (report: AnalysisReport) (layer: NodeReport) (region: UnitRegion) (cut: Checked) =
        let upToLayer =
            match report.Nodes |> List.tryFindIndex (fun n -> n.Path = layer.Path) with
            | Some i -> List.take (i + 1) report.Nodes
            | None -> []
        let strides =
            upToLayer
            |> List.map (fun n ->
                match n.Field with
                | Local (h, w) -> Some (h.Stride, w.Stride)
                | Global -> None)
        // Only kinds whose output at a position is a fixed function of its window, whatever the map size, compute
        // the same unit on a crop (FieldBehaviour.Local).
        let allLocal = Checked.layers cut |> Seq.forall (fun l -> (Kinds.Registry.field l.Kind.Name).Value.Local)
        match report.Input, layer.Field with
        | Spatial (_, height, width), Local (layerRows, layerColumns) when allLocal && not upToLayer.IsEmpty ->
            if strides |> List.forall (function Some (sh, sw) -> integral sh && integral sw | None -> false) then
                let lcm (values: float list) = values |> List.fold (fun acc s -> let s = int (Math.Round s) in acc / gcd acc s * s) 1
                let rowStep = strides |> List.choose id |> List.map fst |> lcm
                let columnStep = strides |> List.choose id |> List.map snd |> lcm
                let rows = window (fst region.Unclipped) height rowStep
                let columns = window (snd region.Unclipped) width columnStep
                if snd rows = height && snd columns = width then None
                else
                    let row, column = region.Unit
                    Some
                        { Rows = rows
                          Columns = columns
                          Unit = row - fst rows / int (Math.Round layerRows.Stride), column - fst columns / int (Math.Round layerColumns.Stride) }
            else None
        | _ -> None
