/// Layers whose sampling field is learnt or selected: deformable convolution (v1 and the modulated v2),
/// dilated convolution with learnable spacings (DCLS) and the selective-kernel unit (SKNet).
module Receptor.Dsl.Layers.FieldLayers

open Receptor.Dsl

/// The window of `kernel` taps `dilation` apart with the layer's stride and padding.
let private window kind (args: Args) (h, w) kernel dilation groups =
    match Facts.geometry kernel dilation (args.Pair "stride") (args.Padding "padding") false groups (h, w) with
    | Some g -> Ok g
    | None ->
        let (kh, kw), (dh, dw) = kernel, dilation
        Error (sprintf "%s: kernel extent %d×%d does not fit the padded %d×%d input" kind (dh * (kh - 1) + 1) (dw * (kw - 1) + 1) h w)

let private divides kind groups cin cout =
    if cin % groups = 0 && cout % groups = 0 then Ok ()
    else Error (sprintf "%s: groups %d must divide input channels %d and output channels %d" kind groups cin cout)

/// Deformable convolution (Dai et al. 2017) and, with `modulated=true`, its modulated form (Zhu et al.
/// 2019). A plain convolution of the same geometry, zero-initialised, predicts per output position a
/// (Δy, Δx) for each of the k·k taps (and for v2 a mask logit through a sigmoid); the kernel then reads the
/// input by bilinear interpolation at the moved taps, zero outside the image.
/// Counting: the offset convolution's multiply-adds are MACs like any convolution's; the bilinear reads are
/// other FLOPs, 7 per sampled value (4 products, 3 sums), plus for v2 one mask product per sampled value and
/// one sigmoid per mask. The receptive field is the nominal one (that of the plain convolution with zero
/// offsets): learnt offsets can move taps anywhere, so the field after training may be larger.
let deform =
    { Name = "deform"
      Aliases = [ "deformconv" ]
      Doc = "deformable convolution: taps moved by offsets that a zero-initialised conv predicts (v2: modulated)"
      Signature =
        [ Param.required "kernel" KernelSize "kernel size: k or h x w"
          Param.required "out" PositiveInt "output channels"
          Param.optional "stride" KernelSize (Int 1) "step of the window"
          Param.optional "padding" PaddingSpec (Int 0) "zeros around the input: n, h x w, same or valid"
          Param.optional "dilation" KernelSize (Int 1) "nominal spacing between kernel taps"
          Param.optional "groups" PositiveInt (Int 1) "channel groups of the main convolution"
          Param.optional "modulated" Flag (Bool false) "v2: also predict a mask in (0, 1) per tap"
          Param.optional "bias" Flag (Bool true) "learn a bias per output channel" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "deform" input
            |> Result.bind (fun (c, h, w) ->
                let out, groups = args.Int "out", args.Int "groups"
                let kh, kw = args.Pair "kernel"
                let dh, dw = args.Pair "dilation"
                divides "deform" groups c out
                |> Result.bind (fun () -> window "deform" args (h, w) (kh, kw) (dh, dw) groups)
                |> Result.map (fun g ->
                    let taps = int64 kh * int64 kw
                    let pixels = int64 (fst g.Output) * int64 (snd g.Output)
                    let modulated = args.Bool "modulated"
                    let predicted = (if modulated then 3L else 2L) * taps
                    let bias = if args.Bool "bias" then int64 out else 0L
                    let main = int64 out * int64 (c / groups) * taps
                    let offsets = predicted * int64 c * taps
                    let samples = int64 c * taps * pixels
                    { Output = Spatial (out, fst g.Output, snd g.Output)
                      Parameters = main + bias + offsets + predicted
                      Macs = (main + offsets) * pixels
                      Flops =
                          7L * samples + (if modulated then samples + taps * pixels else 0L)
                          + (bias + predicted) * pixels
                      Field = Facts.fieldOf g
                      Geometry = Some g })) }

/// Dilated convolution with learnable spacings (Khalfaoui-Hassani, Pellegrini & Masquelier, ICLR 2023).
/// Each filter has kh×kw elements at real positions inside a dilated_size kernel; they start on the evenly
/// spaced grid (with integer spacing this is exactly `conv(k, dilation=(dilated_size − 1)/(k − 1))`), are
/// learnt as displacements from it, clamped to the kernel, spread onto the dense dilated kernel by bilinear
/// interpolation, and the dense kernel is applied as a standard convolution.
/// Counting: MACs are those of the k×k taps, as for the dilated convolution it generalises; TorchSharp
/// executes the dense kernel, dilated_size²/k² times as many multiply-adds (see BENCHMARKS.md). Building
/// the dense kernel is other FLOPs, 12 per element (four corner shares, four products with the weight, four
/// additions into the kernel). The receptive field is the dilated kernel's extent:
/// the largest any positions can reach, and that of the initial grid.
let dcls =
    { Name = "dcls"
      Aliases = []
      Doc = "dilated convolution with learnable spacings: kh×kw taps at learnt positions in a dilated kernel"
      Signature =
        [ Param.required "kernel_count" KernelSize "kernel elements per filter, as a grid: k (k×k) or h x w"
          Param.required "out" PositiveInt "output channels"
          Param.required "dilated_size" KernelSize "extent of the dense kernel the elements move in"
          Param.optional "stride" KernelSize (Int 1) "step of the window"
          Param.optional "padding" PaddingSpec (Int 0) "zeros around the input: n, h x w, same or valid"
          Param.optional "groups" PositiveInt (Int 1) "channel groups"
          Param.optional "bias" Flag (Bool true) "learn a bias per output channel" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "dcls" input
            |> Result.bind (fun (c, h, w) ->
                let out, groups = args.Int "out", args.Int "groups"
                let kh, kw = args.Pair "kernel_count"
                let extent = args.Pair "dilated_size"
                if fst extent < kh || snd extent < kw then
                    Error (sprintf "dcls: dilated size %d×%d is smaller than the %d×%d elements" (fst extent) (snd extent) kh kw)
                else
                    divides "dcls" groups c out
                    |> Result.bind (fun () -> window "dcls" args (h, w) extent (1, 1) groups)
                    |> Result.map (fun g ->
                        let elements = int64 out * int64 (c / groups) * int64 kh * int64 kw
                        let pixels = int64 (fst g.Output) * int64 (snd g.Output)
                        let bias = if args.Bool "bias" then int64 out else 0L
                        { Output = Spatial (out, fst g.Output, snd g.Output)
                          Parameters = 3L * elements + bias
                          Macs = elements * pixels
                          Flops = 12L * elements + bias * pixels
                          Field = Facts.fieldOf g
                          Geometry = Some g })) }

/// The compact feature's width in a selective-kernel unit: d = max(C/r, L).
let selectionWidth (args: Args) out = max (out / args.Int "reduction") (args.Int "minimum")

/// Selective-kernel unit (Li, Wang, Hu & Yang, CVPR 2019). Split: `branches` grouped 3×3 convolutions with
/// dilation 1, 2, … (padding equal to the dilation), each followed by batch norm and ReLU. Fuse: sum the
/// branches, global average pool, a bias-free fc to d = max(out/reduction, minimum) features, batch norm,
/// ReLU. Select: one bias-free fc per branch back to `out`, softmax across branches per channel, and the
/// branches summed with those weights.
/// The receptive field is the whole input, since the selection weights come from a global average: a
/// window of 2·H − 1 by 2·W − 1 centred on each unit, as the branches are (so residual paths stay aligned).
let sk =
    { Name = "sk"
      Aliases = [ "selectivekernel" ]
      Doc = "selective-kernel unit: dilated 3×3 branches mixed by a softmax attention over branches"
      Signature =
        [ Param.required "out" PositiveInt "output channels"
          Param.optional "branches" PositiveInt (Int 2) "number of 3×3 branches, with dilation 1, 2, …"
          Param.optional "reduction" PositiveInt (Int 16) "r: the compact feature has out/r features"
          Param.optional "minimum" PositiveInt (Int 32) "L: the least width of the compact feature"
          Param.optional "groups" PositiveInt (Int 32) "channel groups of each branch (the paper's cardinality)"
          Param.optional "stride" KernelSize (Int 1) "step of every branch" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            Facts.needsSpatial "sk" input
            |> Result.bind (fun (c, h, w) ->
                let out, groups, branches = args.Int "out", args.Int "groups", int64 (args.Int "branches")
                let sh, sw = args.Pair "stride"
                divides "sk" groups c out
                |> Result.map (fun () ->
                    // Dilation i with padding i keeps every branch on the same output grid.
                    let oh, ow = (h - 1) / sh + 1, (w - 1) / sw + 1
                    let pixels = int64 oh * int64 ow
                    let d = int64 (selectionWidth args out)
                    let out = int64 out
                    let branchWeights = out * int64 (c / groups) * 9L
                    let values = out * pixels
                    { Output = Spatial (int out, oh, ow)
                      Parameters = branches * (branchWeights + 2L * out) + d * out + 2L * d + branches * out * d
                      Macs = branches * branchWeights * pixels + d * out + branches * out * d
                      Flops =
                          // norm (4) and ReLU (1) per branch value; sum and pooling; norm and ReLU of z;
                          // softmax (3 per weight); weighted sum.
                          branches * 5L * values + branches * values + 5L * d + 3L * branches * out
                          + (2L * branches - 1L) * values
                      Field = Facts.window (2 * h - 1, 2 * w - 1) (sh, sw) (h - 1, w - 1)
                      Geometry = None })) }

let kinds = [ deform; dcls; sk ]

/// Whether a deformable convolution is modulated (v2).
let modulated (args: Args) = args.Bool "modulated"

/// dcls' kernel elements per filter, as a grid (rows, columns).
let elementGrid (args: Args) = args.Pair "kernel_count"

/// sk's settings besides its output channels (Facts.Output).
type SelectiveSettings = { Branches: int; Width: int; Groups: int; Stride: int * int }

let selectiveSettings (args: Args) =
    let out = args.Int "out"
    { Branches = args.Int "branches"; Width = selectionWidth args out; Groups = args.Int "groups"; Stride = args.Pair "stride" }
