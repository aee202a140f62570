/// Nonlocal operators of partial integro-differential equations as layers (Bohn, Griebel & Kannan, "Deep
/// neural networks and PIDE discretizations", arXiv:2108.02430, SIAM J. Math. Data Sci. 2022): the
/// fractional Laplacian (−Δ)^s with a learnable order s, its inverse, and a global weighted Laplacian with
/// learnable weights. Each acts channel by channel on the periodic extension of the map through the 2-D FFT,
/// as a Fourier multiplier on the grid frequencies k = 2π·(m/H, n/W), m and n the signed integer frequencies.
/// Counting: no MACs (those are for convolutions and dense layers computed directly); other FLOPs are
/// 2.5·N·log₂N per real 2-D FFT of an N = H·W plane (half the 5·N·log₂N of a complex radix-2 FFT, FFTW's
/// convention), 2 per bin for a real multiplier times a complex value and 6 for a complex one, on the
/// H·(⌊W/2⌋ + 1) bins of a real transform. The receptive field is the whole input: every output value
/// depends on every input value of its channel, written as a window of 2·H − 1 by 2·W − 1 centred on each
/// unit (as the selective-kernel unit's, so that residual paths stay aligned).
module Receptor.Dsl.Layers.Nonlocal

open System
open Receptor.Dsl

/// Other FLOPs of one real 2-D FFT (forward or inverse) of a plane of n values.
let fftFlops (n: int) = int64 (Math.Round (2.5 * float n * Math.Log2 (float n)))

/// Frequency bins of a real 2-D transform of an h×w plane (the last axis halved).
let bins h w = int64 h * int64 (w / 2 + 1)

/// |k|² = k_y² + k_x² of bin (m, n) of an h×w plane, k = 2π·(m/h, n/w) with m, n taken in the signed range
/// (−h/2, h/2] as numpy's and torch's fftfreq (their sign at the even Nyquist bin does not change |k|).
let frequencySquared h w m n =
    let signed i length = if i <= length / 2 then i else i - length
    let ky = 2.0 * Math.PI * float (signed m h) / float h
    let kx = 2.0 * Math.PI * float (signed n w) / float w
    ky * ky + kx * kx

/// The weights of the 5-point stencil on an h×w periodic map: 1 at each of the four neighbours (added up
/// where the map is too small for them to differ), so that the weighted Laplacian starts as the discrete −Δ.
let stencil height width =
    let weights = Array.zeroCreate (height * width)
    for dy, dx in [ 1, 0; height - 1, 0; 0, 1; 0, width - 1 ] do
        let at = (dy % height) * width + dx % width
        weights[at] <- weights[at] + 1.0
    weights

let private wholeInput h w = Facts.window (2 * h - 1, 2 * w - 1) (1, 1) (h - 1, w - 1)

let private sharedParam =
    Param.optional "shared" Flag (Bool false) "one learnable parameter set for all channels instead of one per channel"

/// The fractional Laplacian (−Δ)^s, multiplier |k|^(2s), and its inverse on the zero-mean part, |k|^(−2s)
/// with the mean (k = 0) mapped to zero, count alike. s is learnt per channel (or shared).
let private fractional name doc =
    { Name = name
      Aliases = []
      Doc = doc
      Signature =
        [ Param.optional "s" Number (Float 0.5) "initial order s in (0, 1]: the multiplier is |k|^(2s)"
          sharedParam ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial name input
            |> Result.bind (fun (c, h, w) ->
                let s = args.Float "s"
                if not (s > 0.0 && s <= 1.0) then Error (sprintf "%s: the order s must lie in (0, 1], got %g" name s)
                else
                    let multipliers = if args.Bool "shared" then 1L else int64 c
                    let bins = bins h w
                    // Per multiplier: s·log|k|² and its exponential per bin (log|k|² is a constant).
                    let multiplierFlops = multipliers * 2L * bins
                    Ok
                        { Output = input
                          Parameters = multipliers
                          Macs = 0L
                          Flops = int64 c * (2L * fftFlops (h * w) + 2L * bins) + multiplierFlops
                          Field = wholeInput h w
                          Geometry = None }) }

let fraclap =
    fractional "fraclap" "fractional Laplacian (−Δ)^s through the FFT, learnable order s (periodic map)"

let invfraclap =
    fractional "invfraclap" "inverse fractional Laplacian (−Δ)^(−s) on the zero-mean part, learnable s"

/// The global weighted Laplacian y(x) = Σ_d W(d)·(u(x) − u(x − d)) over every periodic offset d of the map,
/// with learnable weights W (an H×W map per channel, or shared), starting as the 5-point stencil
/// (W = 1 at the four neighbours: the discrete −Δ). Multiplier Ŵ(0) − Ŵ(k).
let weightedlap =
    { Name = "weightedlap"
      Aliases = []
      Doc = "global weighted Laplacian Σ_d W(d)(u(x) − u(x − d)) through the FFT, learnable weights (periodic map)"
      Signature = [ sharedParam ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "weightedlap" input
            |> Result.map (fun (c, h, w) ->
                let kernels = if args.Bool "shared" then 1L else int64 c
                let bins = bins h w
                { Output = input
                  Parameters = kernels * int64 h * int64 w
                  Macs = 0L
                  // Per kernel: its transform and Ŵ(0) − Ŵ(k); per channel: two transforms, a complex product.
                  Flops = kernels * (fftFlops (h * w) + 2L * bins) + int64 c * (2L * fftFlops (h * w) + 6L * bins)
                  Field = wholeInput h w
                  Geometry = None }) }

let kinds = [ fraclap; invfraclap; weightedlap ]

/// The initial order s of fraclap and invfraclap.
let order (args: Args) = args.Float "s"

/// Whether one parameter set serves every channel.
let shared (args: Args) = args.Bool "shared"
