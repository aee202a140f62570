namespace Receptor.Core.Signal

open Receptor.Dsl

/// A sliding window's geometry along both axes, with PyTorch's conventions.
type internal Window =
    { Kernel: int * int
      Stride: int * int
      Dilation: int * int
      /// (top, left, bottom, right) zeros.
      Padding: int * int * int * int
      Input: int * int
      Output: int * int }

module internal Window =
    let ofLayer (layer: CheckedLayer) kernelName dilated =
        let args = layer.Args
        let kh, kw = args.Pair kernelName
        let dh, dw = if dilated then args.Pair "dilation" else 1, 1
        let sh, sw = args.Pair "stride"
        let _, h, w =
            match layer.Input with
            | Spatial (c, h, w) -> c, h, w
            | Flat n -> n, 1, 1
        let padding = Facts.resolvePadding (args.Padding "padding") (h, w) (dh * (kh - 1) + 1, dw * (kw - 1) + 1) (sh, sw)
        let oh, ow =
            match layer.Facts.Output with
            | Spatial (_, oh, ow) -> oh, ow
            | Flat _ -> 1, 1
        { Kernel = kh, kw; Stride = sh, sw; Dilation = dh, dw; Padding = padding; Input = h, w; Output = oh, ow }

    /// For each output position, the sum of an input map over the taps that fall inside the input.
    let sum (window: Window) (map: float[]) =
        let h, w = window.Input
        let oh, ow = window.Output
        let kh, kw = window.Kernel
        let sh, sw = window.Stride
        let dh, dw = window.Dilation
        let top, left, _, _ = window.Padding
        Array.init (oh * ow) (fun o ->
            let oy, ox = o / ow, o % ow
            let mutable total = 0.0
            for ky in 0 .. kh - 1 do
                let iy = oy * sh - top + ky * dh
                if iy >= 0 && iy < h then
                    for kx in 0 .. kw - 1 do
                        let ix = ox * sw - left + kx * dw
                        if ix >= 0 && ix < w then total <- total + map[iy * w + ix]
            total)

    /// For each output position and tap, the input position it reads, or −1 where it falls in the padding.
    let taps (window: Window) =
        let h, w = window.Input
        let oh, ow = window.Output
        let kh, kw = window.Kernel
        let sh, sw = window.Stride
        let dh, dw = window.Dilation
        let top, left, _, _ = window.Padding
        Array.init (oh * ow) (fun o ->
            let oy, ox = o / ow, o % ow
            Array.init (kh * kw) (fun t ->
                let iy, ix = oy * sh - top + (t / kw) * dh, ox * sw - left + (t % kw) * dw
                if iy >= 0 && iy < h && ix >= 0 && ix < w then iy * w + ix else -1))

    /// Pooling windows: the input positions each output sees and PyTorch's divisor for averaging
    /// (padded zeros count when countPad; asymmetric padding is explicit zeros, which always count).
    let pooling (window: Window) countPad =
        let h, w = window.Input
        let oh, ow = window.Output
        let kh, kw = window.Kernel
        let sh, sw = window.Stride
        let top, left, bottom, right = window.Padding
        let countZeros = countPad || top <> bottom || left <> right
        Array.init (oh * ow) (fun o ->
            let oy, ox = o / ow, o % ow
            let hStart, wStart = oy * sh - top, ox * sw - left
            let hEnd, wEnd = min (hStart + kh) (h + bottom), min (wStart + kw) (w + right)
            let padded = (hEnd - hStart) * (wEnd - wStart)
            let positions =
                [| for y in max hStart 0 .. min hEnd h - 1 do
                       for x in max wStart 0 .. min wEnd w - 1 -> y * w + x |]
            positions, float (if countZeros then padded else positions.Length))

