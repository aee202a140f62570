/// DynOPool (Jang et al., "Pooling Revisited: Your Receptive Field is Suboptimal", CVPR 2022): a resizer
/// with a learnable scale per axis, r_h and r_w in (0, 1], that reads its input by bilinear interpolation
/// at query points spaced 1/r apart around the map's centre, so that the loss reaches r through the query
/// positions (the paper's point: the pooling's scale is learnt rather than fixed at ½).
/// Shape: the output is ⌈r·H⌉ × ⌈r·W⌉ for the *initial* scale, since the checker needs one fixed shape;
/// training moves r and with it the sampling grid (the module recomputes the query points from the current
/// r), never the output size.
/// Counting: two parameters; no MACs (no weights); 7 other FLOPs per output value (4 products, 3 sums of
/// the bilinear read), as deform counts its reads.
/// Receptive field: stride 1/r, and a window centred at each query point p (the padding places the first
/// at p₀) of size 3, the support (p − 1, p + 1) of the bilinear tent: its extent ⌈p − 1⌉..⌊p + 1⌋ is the two
/// pixels a non-integer p reads, and at an integer p also the two neighbours that get share 0 (an upper
/// bound there). At r = 1 every point is a pixel and the size is 1.
module Receptor.Dsl.Layers.DynOPool

open Receptor.Dsl

/// ⌈r·n⌉, at least 1; the tolerance keeps r·n that is an integer up to rounding (0.3 × 10) from rounding up.
let outputLength (r: float) (n: int) = max 1 (int (ceil (r * float n - 1e-9)))

/// Query point i of m along an axis of n pixels (pixel j at coordinate j): centred on the map, 1/r apart,
/// p_i = (n − 1)/2 + (i − (m − 1)/2)/r; with r = 1 (m = n) they are the pixels themselves.
let queryPoint (r: float) n m (i: int) = float (n - 1) / 2.0 + (float i - float (m - 1) / 2.0) / r

/// The field step along one axis: (kernel, stride, padding) with the window's centre at each query point.
let private fieldAxis r n =
    let m = outputLength r n
    let kernel = if r = 1.0 then 1.0 else 3.0
    // Window i starts at i·s − padding and is centred at that plus (kernel − 1)/2; it must equal p_i.
    kernel, 1.0 / r, (kernel - 1.0) / 2.0 - queryPoint r n m 0

let dynopool =
    { Name = "dynopool"
      Aliases = []
      Doc = "DynOPool: bilinear resizing by a learnable scale per axis, starting at `scale` (output ⌈scale·H⌉ × ⌈scale·W⌉)"
      Signature = [ Param.required "scale" Number "initial scale r of both axes, in (0, 1]" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "dynopool" input
            |> Result.bind (fun (c, h, w) ->
                let r = args.Float "scale"
                if not (r > 0.0 && r <= 1.0) then Error (sprintf "dynopool: scale %g must lie in (0, 1]" r)
                else
                    let oh, ow = outputLength r h, outputLength r w
                    let (kh, sh, ph), (kw, sw, pw) = fieldAxis r h, fieldAxis r w
                    Ok
                        { Output = Spatial (c, oh, ow)
                          Parameters = 2L
                          Macs = 0L
                          Flops = 7L * int64 c * int64 oh * int64 ow
                          Field = Window ((kh, kw), (sh, sw), (ph, pw))
                          Geometry = None }) }

let kinds = [ dynopool ]

/// The initial scale r of both axes.
let initialScale (args: Args) = args.Float "scale"
