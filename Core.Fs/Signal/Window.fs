namespace Receptor.Core.Signal

open Receptor.Dsl

/// What the moment rules read off a checked layer's window (Dsl's Geometry).
module internal Window =
    /// Pooling windows: the input positions each output sees and PyTorch's divisor for averaging
    /// (padded zeros count when countPad; asymmetric padding is explicit zeros, which always count).
    let pooling (window: Geometry) countPad =
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


/// What each output of a convolution reads, per kernel element: the input positions the element combines
/// and their shares. A plain tap reads one position with share 1; a modulated deformable tap at init reads
/// one with the mask's value; a DCLS element spreads over up to four by bilinear interpolation.
type internal Reads =
    { Input: int * int
      Output: int * int
      /// Kernel elements per input channel (the fan-in's spatial factor).
      Elements: int
      /// [output position][element] → (input position, share); positions in the padding are left out.
      Positions: (int * float)[][][]
      /// Σ share² per element, averaged over the kernel: the output variance a white unit input gives per
      /// unit of weight variance and fan-in (1 for a plain convolution).
      Gain: float }

module internal Reads =
    /// Reads of a window whose element e is the corners (dy, dx, share) relative to the window's corner.
    let ofStencil (window: Geometry) (stencil: (int * int * float)[][]) =
        let h, w = window.Input
        let oh, ow = window.Output
        let sh, sw = window.Stride
        let top, left, _, _ = window.Padding
        let positions =
            Array.init (oh * ow) (fun o ->
                let y0, x0 = (o / ow) * sh - top, (o % ow) * sw - left
                stencil
                |> Array.map (fun corners ->
                    [| for dy, dx, share in corners do
                           let y, x = y0 + dy, x0 + dx
                           if y >= 0 && y < h && x >= 0 && x < w && share <> 0.0 then y * w + x, share |]))
        let gain = stencil |> Array.averageBy (Array.sumBy (fun (_, _, s) -> s * s))
        { Input = window.Input; Output = window.Output; Elements = stencil.Length; Positions = positions; Gain = gain }

    /// A convolution whose taps, on the window's dilated grid, each read one position with the given share.
    let ofWindow (window: Geometry) share =
        let kh, kw = window.Kernel
        let dh, dw = window.Dilation
        ofStencil window (Array.init (kh * kw) (fun t -> [| (t / kw) * dh, (t % kw) * dw, share |]))
