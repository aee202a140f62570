/// The moment rule of DynOPool (Dsl/Layers/DynOPool.fs) at its initial scale: every output is the bilinear
/// read Σᵢ aᵢ·xᵢ of at most four input positions with shares aᵢ fixed by the initial query points, summing to
/// 1 (points past the edge read the edge pixel), so means are kept and variances follow the shares, as
/// DCLS's rule reads its initial grid.
module internal Receptor.Core.Signal.DynOPoolRules

open Receptor.Dsl
open Receptor.Dsl.Layers
open Receptor.Core.Signal.Signal

/// The bilinear shares (pixel, share) of query point i of m along an axis of n pixels; zero shares dropped.
let private axisShares r n m i =
    let p = DynOPool.queryPoint r n m i |> max 0.0 |> min (float (n - 1))
    let below = floor p
    [ int below, 1.0 - (p - below); min (n - 1) (int below + 1), p - below ] |> List.filter (fun (_, a) -> a > 0.0)

let dynopool (context: Context) (layer: CheckedLayer) (input: Signal) =
    match input.Shape, layer.Facts.Output with
    | Spatial (_, h, w), Spatial (_, oh, ow) ->
        let r = DynOPool.initialScale layer.Args
        let reads =
            Array.init (oh * ow) (fun o ->
                [| for y, a in axisShares r h oh (o / ow) do
                       for x, b in axisShares r w ow (o % ow) -> y * w + x, a * b |])
        Ok { Shape = layer.Facts.Output; Segments = input.Segments |> List.map (Signal.linear context.Ids reads oh ow) }
    | _ -> Error "dynopool needs a C×H×W input"
