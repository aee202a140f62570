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

/// A segment read through fixed shares: mean Σ aᵢμᵢ; offsets Σᵢⱼ aᵢbⱼ·Cov(Cᵢ, Cⱼ) across the outputs (they
/// covary across positions); fluctuations Σ aᵢ²Fᵢ (spatially uncorrelated).
let private resampled (context: Context) (reads: (int * float)[][]) oh ow (segment: Segment) =
    let v = segment.Values.Value
    let k = segment.Offsets.Value
    let covariance o o' =
        let mutable total = 0.0
        for i, a in reads[o] do
            for j, b in reads[o'] do
                total <- total + a * b * Offsets.get k v.Constant i j
        total
    let stats = Stats.create (oh * ow)
    reads
    |> Array.iteri (fun o shares ->
        stats.Mean[o] <- shares |> Array.sumBy (fun (i, a) -> a * v.Mean[i])
        stats.Constant[o] <- covariance o o
        stats.Fluctuating[o] <- shares |> Array.sumBy (fun (i, a) -> a * a * v.Fluctuating[i]))
    Signal.gaussianSegment context.Ids segment.Channels oh ow stats (Offsets.init (oh * ow) covariance)

let dynopool (context: Context) (layer: CheckedLayer) (input: Signal) =
    match input.Shape, layer.Facts.Output with
    | Spatial (_, h, w), Spatial (_, oh, ow) ->
        let r = DynOPool.initialScale layer.Args
        let reads =
            Array.init (oh * ow) (fun o ->
                [| for y, a in axisShares r h oh (o / ow) do
                       for x, b in axisShares r w ow (o % ow) -> y * w + x, a * b |])
        Ok { Shape = layer.Facts.Output; Segments = input.Segments |> List.map (resampled context reads oh ow) }
    | _ -> Error "dynopool needs a C×H×W input"
