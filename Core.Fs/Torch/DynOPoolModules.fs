/// The TorchSharp module of DynOPool (Dsl/Layers/DynOPool.fs): parameter `scale` = (r_h, r_w), starting at
/// the layer's `scale`. The bilinear read is written as two interpolation matrices, A_h·X·A_wᵀ, whose
/// entries are the tent weights max(0, 1 − |p_i − j|) of query point p_i at pixel j: plain tensor ops, so
/// the gradient reaches r through the query points, and the separable read costs two small matrix
/// products (output × input length per axis) rather than a sampled grid per output pixel.
module Receptor.Core.Torch.DynOPoolModules

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch.FieldModules

type private Tensor = torch.Tensor
type private M = torch.nn.Module<Tensor, Tensor>

/// The (m, n) bilinear interpolation matrix of the query points p_i = (n − 1)/2 + (i − (m − 1)/2)/r
/// (Layers.DynOPool.queryPoint), clamped to the map: a point past the edge reads the edge pixel, so every
/// row sums to 1 and the mean is kept.
let interpolation (r: Tensor) (m: int64) (n: int64) =
    let options = r.dtype, r.device
    let steps = torch.arange (m, dtype = fst options, device = snd options)
    let pixels = torch.arange (n, dtype = fst options, device = snd options)
    // A vanishing or negative r would put the points at infinity: below 10⁻³ the gradient stops instead.
    let r = r.clamp_min (Scalar.op_Implicit 1e-3)
    let points =
        ((steps - float (m - 1L) / 2.0) / r + float (n - 1L) / 2.0)
            .clamp (Scalar.op_Implicit 0.0, Scalar.op_Implicit (float (n - 1L)))
    (1.0 - (points.view (-1L, 1L) - pixels.view (1L, -1L)).abs ()).relu ()

type DynamicPool(name: string, scale: float, outputSize: int * int) as this =
    inherit M(name)
    do this.register_parameter ("scale", parameterOf (torch.tensor ([| scale; scale |], dtype = torch.float32)))

    override this.forward input =
        // The network may hand over channels-last tensors; the matrix products want NCHW.
        let input = input.contiguous ()
        let scale = this.get_parameter "scale"
        let rows = interpolation (scale.select (0L, 0L)) (int64 (fst outputSize)) input.shape[2]
        let columns = interpolation (scale.select (0L, 1L)) (int64 (snd outputSize)) input.shape[3]
        torch.matmul(torch.matmul (rows, input), columns.t ())

    /// r_h·r_w: the area ratio of the output, to which the cost of the layers after it is proportional. The
    /// paper penalises the network's FLOPs as a function of r (the same ratios, weighted by the cost they
    /// scale).
    interface ILossTerm with
        member this.Penalty () = (this.get_parameter "scale").prod ()

let dynopool (layer: CheckedLayer) : M =
    let _, oh, ow = match layer.Facts.Output with Spatial (c, h, w) -> c, h, w | Flat n -> n, 1, 1
    new DynamicPool ("dynopool", Layers.DynOPool.initialScale layer.Args, (oh, ow))

/// The compiler of DynOPool, merged into LayerModules' table.
