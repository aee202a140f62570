/// TorchSharp modules of the nonlocal PIDE operators (Dsl/Layers/Nonlocal.fs): Fourier multipliers applied
/// channel by channel with torch.fft's real 2-D transforms, which treat the map as periodic.
module Receptor.Core.Torch.NonlocalModules

open TorchSharp
open Receptor.Dsl
open Receptor.Dsl.Layers
open Receptor.Core.Torch.FieldModules

type private Tensor = torch.Tensor
type private M = torch.nn.Module<Tensor, Tensor>

/// The fractional Laplacian (−Δ)^s (multiplier |k|^(2s)) or, when `inverse`, its inverse on the zero-mean part
/// (|k|^(−2s), 0 at k = 0). Parameter `s`: one order per channel, or one when `shared`.
type FractionalLaplacian(name: string, channels: int, height: int, width: int, order: float, shared: bool, inverse: bool) as this =
    inherit M(name)
    let bins = width / 2 + 1
    // log|k|² on the bins of the real transform; the k = 0 bin is masked, so its log is never used.
    let logFrequency =
        Array.init (height * bins) (fun b -> if b = 0 then 0.0 else log (Nonlocal.frequencySquared height width (b / bins) (b % bins)))
    let nonzero = Array.init (height * bins) (fun b -> if b = 0 then 0.0 else 1.0)
    do this.register_parameter ("s", parameterOf (torch.tensor (Array.create (if shared then 1 else channels) order, dtype = torch.float32)))

    /// The multipliers, (channels or 1, H, ⌊W/2⌋ + 1), in the parameter's dtype.
    member this.Multiplier() =
        let s = this.get_parameter "s"
        let grid (values: float[]) = torch.tensor(values, dtype = s.dtype, device = s.device).view (1L, int64 height, int64 bins)
        let exponent = if inverse then -1.0 else 1.0
        (s.view (-1L, 1L, 1L) * grid logFrequency * exponent).exp () * grid nonzero

    override this.forward input =
        let spectrum = torch.fft.rfft2 input
        torch.fft.irfft2 (spectrum * this.Multiplier (), s = [| int64 height; int64 width |])

/// The global weighted Laplacian y(x) = Σ_d W(d)·(u(x) − u(x − d)) over the periodic offsets d, multiplier
/// Ŵ(0) − Ŵ(k). Parameter `weight`: (channels or 1, H, W), the 5-point stencil at first.
type WeightedLaplacian(name: string, channels: int, height: int, width: int, shared: bool) as this =
    inherit M(name)
    do
        let count = if shared then 1 else channels
        let initial = Array.replicate count (Nonlocal.stencil height width) |> Array.concat
        this.register_parameter ("weight", parameterOf (torch.tensor(initial, dtype = torch.float32).view (int64 count, int64 height, int64 width)))

    member this.Multiplier() =
        let weight = this.get_parameter "weight"
        weight.sum([| 1L; 2L |], keepdim = true) - torch.fft.rfft2 weight

    override this.forward input =
        torch.fft.irfft2 (torch.fft.rfft2 input * this.Multiplier (), s = [| int64 height; int64 width |])

let private plane (layer: CheckedLayer) =
    match layer.Input with
    | Spatial (c, h, w) -> c, h, w
    | Flat n -> n, 1, 1

let fractional inverse (layer: CheckedLayer) : M =
    let c, h, w = plane layer
    new FractionalLaplacian (layer.Kind.Name, c, h, w, Nonlocal.order layer.Args, Nonlocal.shared layer.Args, inverse)

let weighted (layer: CheckedLayer) : M =
    let c, h, w = plane layer
    new WeightedLaplacian ("weightedlap", c, h, w, Nonlocal.shared layer.Args)
