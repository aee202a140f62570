/// The field layers (deformable convolution v1/v2, DCLS, selective kernel) against independent references
/// written here from the papers' definitions with plain arrays or plain tensor ops, finite-difference
/// gradients in float64, the analysis against execution, and the text syntax.
module Receptor.Properties.LayerTests

open System
open System.IO
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Torch
open Receptor.Core.Torch.FieldModules

type Tensor = torch.Tensor

let parse text =
    match Parser.parseNode text with
    | Ok node -> node
    | Error d -> failtest (Diagnostic.format d)

let compile input text = Network.ofNode "t" input (parse text) |> Repository.unwrap

let analyse input text = Analysis.ofNode "t" input (parse text) |> Repository.unwrap

/// The parameter of a module with the given name, or else the only one whose name ends with `.name`.
let parameter (m: torch.nn.Module) (name: string) : Tensor =
    let all = m.named_parameters () |> Seq.map (fun struct (n, p) -> n, p :> Tensor) |> List.ofSeq
    match all |> List.tryFind (fun (n, _) -> n = name) with
    | Some (_, p) -> p
    | None -> all |> List.filter (fun (n, _) -> n.EndsWith ("." + name)) |> List.exactlyOne |> snd

let values (t: Tensor) = t.detach().contiguous().data<float>().ToArray ()

let set (target: Tensor) (source: Tensor) =
    use _ = torch.no_grad ()
    target.copy_ source |> ignore

let private maxDifference (a: Tensor) (b: Tensor) = (a - b).abs().max().item<float32> () |> float
let maxDifference64 (a: Tensor) (b: Tensor) = (a - b).abs().max().item<float> ()

/// g(a, b) = max(0, 1 − |a − b|): the bilinear kernel of Dai et al. (eq. 4) and of DCLS.
let private hat (a: float) (b: float) = max 0.0 (1.0 - abs (a - b))

/// Central differences of a scalar loss against its autograd gradient, at a few entries of each tensor.
let gradientCheck (random: Random) (loss: unit -> Tensor) (tensors: (string * Tensor) list) =
    for _, t in tensors do
        t.grad <- null
    (loss ()).backward ()
    let step = 1e-6
    for name, t in tensors do
        let analytic = values t.grad
        let flat = t.detach().view (-1L)
        for _ in 1 .. 6 do
            let i = random.Next analytic.Length
            let original = flat[int64 i].item<float> ()
            let at (v: float) =
                use _ = torch.no_grad ()
                flat.narrow(0L, int64 i, 1L).fill_ (Scalar.op_Implicit v) |> ignore
                (loss ()).item<float> ()
            let numeric = (at (original + step) - at (original - step)) / (2.0 * step)
            at original |> ignore
            let tolerance = 1e-6 + 1e-5 * abs numeric
            Expect.isLessThanOrEqual (abs (numeric - analytic[i])) tolerance
                (sprintf "%s[%d]: autograd %g, central difference %g" name i analytic[i] numeric)

/// A loss that weighs every output element by a fixed random tensor, so that every gradient is exercised.
let weighted (output: unit -> Tensor) =
    let weights = lazy (torch.randn_like (output ()))
    fun () -> (output () * weights.Value).sum ()

// ---------------------------------------------------------------- deformable convolution

type private DeformCase =
    { Name: string; Channels: int; Out: int; Kernel: int * int; Stride: int * int; Padding: int
      Dilation: int * int; Groups: int; Modulated: bool; Height: int; Width: int }

let private deformCases =
    [ { Name = "3×3, padding 1"; Channels = 3; Out = 4; Kernel = 3, 3; Stride = 1, 1; Padding = 1
        Dilation = 1, 1; Groups = 1; Modulated = false; Height = 6; Width = 5 }
      { Name = "3×2, stride 2×1, dilation 2, groups 2"; Channels = 4; Out = 6; Kernel = 3, 2; Stride = 2, 1
        Padding = 2; Dilation = 2, 2; Groups = 2; Modulated = false; Height = 9; Width = 7 }
      { Name = "modulated, stride 2, groups 2"; Channels = 4; Out = 4; Kernel = 3, 3; Stride = 2, 2; Padding = 1
        Dilation = 1, 2; Groups = 2; Modulated = true; Height = 7; Width = 6 } ]

let private deformModule (case: DeformCase) =
    let kh, kw = case.Kernel
    let dh, dw = case.Dilation
    let p = case.Padding
    new DeformableConv2d (
        "deform", case.Channels, case.Out, case.Kernel, case.Stride, (p, p, p, p), case.Dilation, case.Groups, true,
        case.Modulated),
    (dh * (kh - 1) + 1, dw * (kw - 1) + 1)

let private plainConv (case: DeformCase) (input: Tensor) (weight: Tensor) (bias: Tensor) =
    let sh, sw = case.Stride
    let dh, dw = case.Dilation
    torch.nn.functional.conv2d (
        input, weight, bias, [| int64 sh; int64 sw |], [| int64 case.Padding; int64 case.Padding |],
        [| int64 dh; int64 dw |], int64 case.Groups)

/// Deformable convolution from its definition (Dai et al. 2017, eqs. 2–4; Zhu et al. 2019, eq. 1):
/// y(p) = b + Σ_t w_t · m_t(p) · Σ_q G(q, p + p_t + Δp_t(p)) · x(q), G(q, r) = g(q_y, r_y)·g(q_x, r_x), summed
/// over every pixel q of the image. The offsets come from the offset convolution, evaluated with conv2d;
/// their layout is (Δy, Δx) per tap, then v2's mask logits.
let private deformReference (case: DeformCase) (input: Tensor) (weight: Tensor) (bias: Tensor) (offsetWeight: Tensor) (offsetBias: Tensor) =
    let raw = plainConv { case with Groups = 1 } input offsetWeight offsetBias
    let n, c, h, w = int input.shape[0], case.Channels, case.Height, case.Width
    let oh, ow = int raw.shape[2], int raw.shape[3]
    let kh, kw = case.Kernel
    let taps = kh * kw
    let sh, sw = case.Stride
    let dh, dw = case.Dilation
    let x, wt, b, r = values input, values weight, values bias, values raw
    let perGroupIn, perGroupOut = c / case.Groups, case.Out / case.Groups
    let rawAt ni channel u v = r[((ni * int raw.shape[1] + channel) * oh + u) * ow + v]
    let output: float[] = Array.zeroCreate (n * case.Out * oh * ow)
    for ni in 0 .. n - 1 do
        for o in 0 .. case.Out - 1 do
            for u in 0 .. oh - 1 do
                for v in 0 .. ow - 1 do
                    let mutable sum = b[o]
                    for t in 0 .. taps - 1 do
                        let i, j = t / kw, t % kw
                        let py = float (u * sh - case.Padding + i * dh) + rawAt ni (2 * t) u v
                        let px = float (v * sw - case.Padding + j * dw) + rawAt ni (2 * t + 1) u v
                        let mask = if case.Modulated then 1.0 / (1.0 + exp (-(rawAt ni (2 * taps + t) u v))) else 1.0
                        for ci in 0 .. perGroupIn - 1 do
                            let channel = o / perGroupOut * perGroupIn + ci
                            let mutable sampled = 0.0
                            for qy in 0 .. h - 1 do
                                for qx in 0 .. w - 1 do
                                    sampled <- sampled + hat (float qy) py * hat (float qx) px * x[((ni * c + channel) * h + qy) * w + qx]
                            sum <- sum + wt[((o * perGroupIn + ci) * kh + i) * kw + j] * mask * sampled
                    output[((ni * case.Out + o) * oh + u) * ow + v] <- sum
    torch.tensor(output, dtype = torch.float64).view (int64 n, int64 case.Out, int64 oh, int64 ow)

/// The case's module in float64 with offsets of a few pixels, enough to leave the image and to cross pixel
/// boundaries, and a float64 input of two images; drawn after seeding the generator.
let private withOffsets seed (case: DeformCase) =
    torch.manual_seed seed |> ignore
    let m, _ = deformModule case
    m.``to`` torch.float64 |> ignore
    set (parameter m "offset.weight") (torch.randn_like (parameter m "offset.weight") * 0.3)
    set (parameter m "offset.bias") (torch.randn_like (parameter m "offset.bias") * 1.5)
    m, torch.randn (2L, int64 case.Channels, int64 case.Height, int64 case.Width, dtype = torch.float64)

let private deformTests =
    [ for case in deformCases do
        test $"deform ({case.Name}): with zero offsets (and unit masks) it is the plain convolution, to 1e-5" {
            use _ = torch.NewDisposeScope ()
            let m, _ = deformModule case
            let x = torch.randn (2L, int64 case.Channels, int64 case.Height, int64 case.Width)
            let expected = plainConv case x (parameter m "weight") (parameter m "bias")
            let offsets, masks = m.Predict x
            Expect.equal (offsets.abs().max().item<float32> ()) 0.0f "the offset convolution starts at zero"
            let unitMasks = masks |> Option.map torch.ones_like
            Expect.isLessThan (maxDifference (m.Apply (x, offsets, unitMasks)) expected) 1e-5 "zero offsets, unit masks"
            // At initialisation v1 is the plain convolution; v2's masks start at sigmoid(0) = 1/2 (Zhu et al.).
            let atInit = m.forward x
            if case.Modulated then
                let bias = (parameter m "bias").view (1L, -1L, 1L, 1L)
                Expect.isLessThan (maxDifference atInit ((expected - bias) * 0.5 + bias)) 1e-5 "v2 at initialisation"
            else Expect.isLessThan (maxDifference atInit expected) 1e-5 "v1 at initialisation"
        }
        test $"deform ({case.Name}): random offsets crossing the border match the bilinear definition, float64" {
            use _ = torch.NewDisposeScope ()
            let m, x = withOffsets 7L case
            let expected =
                deformReference case x (parameter m "weight") (parameter m "bias") (parameter m "offset.weight")
                    (parameter m "offset.bias")
            Expect.isLessThan (maxDifference64 (m.forward x) expected) 1e-10 "deform against its definition"
        }
        test $"deform ({case.Name}): autograd gradients match central differences, float64" {
            use _ = torch.NewDisposeScope ()
            let m, x = withOffsets 11L case
            x.requires_grad_ true |> ignore
            let loss = weighted (fun () -> m.forward x)
            gradientCheck (Random 3) loss
                [ "input", x; "weight", parameter m "weight"; "bias", parameter m "bias"
                  "offset.weight", parameter m "offset.weight"; "offset.bias", parameter m "offset.bias" ]
        }
      test "deform: second derivatives (a gradient's norm differentiated, as GradInit does) match central differences, float64" {
          use _ = torch.NewDisposeScope ()
          let m, x = withOffsets 13L deformCases[2]
          x.requires_grad_ true |> ignore
          let first = weighted (fun () -> m.forward x)
          let weight = parameter m "weight"
          // ‖∂L/∂x‖² + ‖∂L/∂w‖²: its gradient runs through the deform backward's own graph.
          let gradientNorm () =
              use _ = torch.enable_grad () // the central differences evaluate it under no_grad
              let gradients = torch.autograd.grad ([| first () |], [| x; weight |], retain_graph = true, create_graph = true)
              gradients |> Seq.map (fun g -> (g * g).sum ()) |> Seq.reduce (+)
          gradientCheck (Random 5) gradientNorm
              [ "input", x; "weight", weight; "offset.weight", parameter m "offset.weight"; "offset.bias", parameter m "offset.bias" ]
      }
      test "deform: the compiled layer holds the analysed weights and equals conv with copied weights" {
          use _ = torch.NewDisposeScope ()
          let input = Spatial (3, 9, 8)
          // padding=same with an even kernel pads asymmetrically (1 before, 2 after).
          use deform = compile input "deform(4, 5, stride=2, padding=same)"
          use conv = compile input "conv(4, 5, stride=2, padding=same)"
          set (parameter conv "weight") (parameter deform "deform.weight")
          set (parameter conv "bias") (parameter deform "deform.bias")
          let x = torch.randn (2L, 3L, 9L, 8L)
          Expect.isLessThan (maxDifference (deform.forward x) (conv.forward x)) 1e-5 "deform(4, padding=same) at init"
      }
      test "deform: the gradient support is the nominal field at zero offsets, and offsets move it outside" {
          use _ = torch.NewDisposeScope ()
          let input = Spatial (1, 15, 15)
          let text = "deform(3, 1, dilation=2, padding=2)"
          match (analyse input text).Field with
          | Local (h, _) -> Expect.equal h.Size 5.0 "nominal field: the dilated 3×3"
          | Global -> failtest "a local field was expected"
          use network = compile input text
          network.``to`` torch.float64 |> ignore
          set (parameter network "deform.weight") (torch.ones_like (parameter network "deform.weight"))
          let rowsOfSupport () =
              let x = (torch.rand (1L, 1L, 15L, 15L, dtype = torch.float64) + 0.5).requires_grad_ (true)
              network.forward(x).index(torch.TensorIndex.Ellipsis, torch.TensorIndex.Single 7L, torch.TensorIndex.Single 7L).sum().backward ()
              let rows = values (x.grad.abs().sum ([| 0L; 1L; 3L |]))
              // A relative threshold: rounding in the sampling may leak ~1e-16 of a tap to its neighbour.
              let largest = Array.max rows
              let nonZero = rows |> Array.indexed |> Array.filter (fun (_, v) -> v > 1e-12 * largest) |> Array.map fst
              Array.head nonZero, Array.last nonZero
          Expect.equal (rowsOfSupport ()) (5, 9) "rows 7 ± 2 at zero offsets"
          // Δy = 1.5 on every tap: rows 5, 7, 9 move to 6.5, 8.5, 10.5 and read rows 6 … 11.
          let offsetBias = parameter network "offset.bias"
          set offsetBias (torch.tensor (Array.init 18 (fun ch -> if ch % 2 = 0 then 1.5 else 0.0), dtype = torch.float64))
          Expect.equal (rowsOfSupport ()) (6, 11) "offsets reach beyond the nominal field"
      } ]

// ---------------------------------------------------------------- DCLS

/// DCLS from its definition (Khalfaoui-Hassani et al. 2023): each element's weight is spread over the dense
/// kernel by g(r, p_y)·g(s, p_x) at its position p = clamp(grid + displacement, 0, size − 1), and the dense
/// kernel is correlated with the zero-padded input.
let private dclsReference (input: Tensor) (weight: Tensor) (displacement: Tensor) (bias: Tensor) (sizeH, sizeW) (sh, sw) padding groups =
    let n, c, h, w = int input.shape[0], int input.shape[1], int input.shape[2], int input.shape[3]
    let out, perGroupIn, kh, kw = int weight.shape[0], int weight.shape[1], int weight.shape[2], int weight.shape[3]
    let x, wt, d, b = values input, values weight, values displacement, values bias
    let oh, ow = (h + 2 * padding - sizeH) / sh + 1, (w + 2 * padding - sizeW) / sw + 1
    let gridH, gridW = spacingGrid kh sizeH, spacingGrid kw sizeW
    let perGroupOut = out / groups
    let elements = out * perGroupIn * kh * kw
    let output: float[] = Array.zeroCreate (n * out * oh * ow)
    for ni in 0 .. n - 1 do
        for o in 0 .. out - 1 do
            for u in 0 .. oh - 1 do
                for v in 0 .. ow - 1 do
                    let mutable sum = b[o]
                    for ci in 0 .. perGroupIn - 1 do
                        let channel = o / perGroupOut * perGroupIn + ci
                        for i in 0 .. kh - 1 do
                            for j in 0 .. kw - 1 do
                                let e = ((o * perGroupIn + ci) * kh + i) * kw + j
                                let py = min (float (sizeH - 1)) (max 0.0 (gridH[i] + d[e]))
                                let px = min (float (sizeW - 1)) (max 0.0 (gridW[j] + d[elements + e]))
                                for r in 0 .. sizeH - 1 do
                                    for s in 0 .. sizeW - 1 do
                                        let y, xx = u * sh - padding + r, v * sw - padding + s
                                        if y >= 0 && y < h && xx >= 0 && xx < w then
                                            sum <- sum + wt[e] * hat (float r) py * hat (float s) px * x[((ni * c + channel) * h + y) * w + xx]
                    output[((ni * out + o) * oh + u) * ow + v] <- sum
    torch.tensor(output, dtype = torch.float64).view (int64 n, int64 out, int64 oh, int64 ow)

let private dclsTests =
    [ for text, peer, input in
        [ "dcls(3, 5, 7, padding=3)", "conv(3, 5, dilation=3, padding=3)", Spatial (4, 11, 10)
          "dcls(3x2, 6, 5x4, stride=2, groups=2)", "conv(3x2, 6, dilation=2x3, stride=2, groups=2)", Spatial (4, 12, 9)
          "dcls(2, 4, 4, padding=same)", "conv(2, 4, dilation=3, padding=same)", Spatial (2, 8, 8) ] do
        test $"{text} at its initial positions is {peer} with the same weights, to 1e-5" {
            use _ = torch.NewDisposeScope ()
            use dcls = compile input text
            use conv = compile input peer
            set (parameter conv "weight") (parameter dcls "weight")
            set (parameter conv "bias") (parameter dcls "bias")
            let c, h, w = match input with Spatial (c, h, w) -> c, h, w | Flat _ -> 0, 0, 0
            let x = torch.randn (2L, int64 c, int64 h, int64 w)
            Expect.isLessThan (maxDifference (dcls.forward x) (conv.forward x)) 1e-5 "dcls on the dilated grid"
        }
      for groups, stride, padding in [ 1, (1, 1), 2; 2, (2, 1), 1 ] do
        test $"dcls (groups {groups}, stride {stride}): learnt fractional positions match bilinear spreading, float64" {
            use _ = torch.NewDisposeScope ()
            torch.manual_seed 5L |> ignore
            let m = new LearnableSpacingConv2d ("dcls", 4, 4, (3, 2), (6, 5), stride, (padding, padding, padding, padding), groups, true)
            m.``to`` torch.float64 |> ignore
            // Displacements up to ±1.5: positions cross pixels and some clamp at the kernel's edge.
            set (parameter m "displacement") (torch.rand_like (parameter m "displacement") * 3.0 - 1.5)
            let x = torch.randn (2L, 4L, 8L, 7L, dtype = torch.float64)
            let expected =
                dclsReference x (parameter m "weight") (parameter m "displacement") (parameter m "bias") (6, 5) stride padding groups
            Expect.isLessThan (maxDifference64 (m.forward x) expected) 1e-10 "dcls against its definition"
            let x = x.requires_grad_ (true)
            gradientCheck (Random 9) (weighted (fun () -> m.forward x))
                [ "input", x; "weight", parameter m "weight"; "displacement", parameter m "displacement"; "bias", parameter m "bias" ]
        }
      test "dcls: positions are learnt from the start (the one-sided gradient at integer positions is not zero)" {
          use _ = torch.NewDisposeScope ()
          let m = new LearnableSpacingConv2d ("dcls", 2, 2, (3, 3), (7, 7), (1, 1), (3, 3, 3, 3), 1, true)
          (m.forward (torch.randn (1L, 2L, 9L, 9L))).square().sum().backward ()
          Expect.isGreaterThan ((parameter m "displacement").grad.abs().sum().item<float32> ()) 0.0f "displacement gradient"
      } ]

// ---------------------------------------------------------------- selective kernel

/// The SK unit written out with plain tensor ops and the module's own weights and running statistics
/// (evaluation mode): split, fuse, select as in Li et al. 2019, §3.1.
let private skReference (m: torch.nn.Module) (x: Tensor) branches groups stride =
    let state = m.state_dict ()
    let norm (prefix: string) (t: Tensor) =
        let shape = if t.dim () = 4L then [| 1L; -1L; 1L; 1L |] else [| 1L; -1L |]
        let get name = state[prefix + "." + name].view shape
        (t - get "running_mean") / (get "running_var" + 1e-5).sqrt () * get "weight" + get "bias"
    let values =
        [ for i in 1 .. branches ->
            let conv =
                torch.nn.functional.conv2d (
                    x, state[sprintf "branch%d.weight" i], null, [| int64 stride; int64 stride |], [| int64 i; int64 i |],
                    [| int64 i; int64 i |], int64 groups)
            (norm (sprintf "norm%d" i) conv).clamp_min (Scalar.op_Implicit 0.0) ]
    let fused = values |> List.reduce (+)
    let s = fused.mean ([| 2L; 3L |])
    let z = (norm "squeeze_norm" (s.matmul (state["squeeze.weight"].t ()))).clamp_min (Scalar.op_Implicit 0.0)
    let out = int64 (fused.shape[1])
    let logits = [ for i in 0 .. branches - 1 -> z.matmul (state["select.weight"].narrow(0L, int64 i * out, out).t ()) ]
    let total = logits |> List.map (fun l -> l.exp ()) |> List.reduce (+)
    List.zip values logits
    |> List.map (fun (v, l) -> v * (l.exp () / total).view (-1L, out, 1L, 1L))
    |> List.reduce (+)

let private skTests =
    [ for branches, groups, stride in [ 2, 2, 1; 3, 4, 2 ] do
        test $"sk ({branches} branches, groups {groups}, stride {stride}) equals the hand-written unit with the same weights" {
            use _ = torch.NewDisposeScope ()
            torch.manual_seed 13L |> ignore
            let m = new SelectiveKernel ("sk", 8, 8, branches, 4, groups, (stride, stride))
            m.``to`` torch.float64 |> ignore
            // Non-trivial affine parameters and running statistics, so that no norm is the identity.
            use _ = torch.no_grad ()
            for KeyValue (name, t) in m.state_dict () do
                if name.EndsWith "num_batches_tracked" then ()
                elif name.EndsWith "running_var" || name.EndsWith "norm1.weight" then t.uniform_ (0.5, 1.5) |> ignore
                elif name.Contains "norm" then t.normal_ (0.0, 0.5) |> ignore
            m.eval ()
            let x = torch.randn (2L, 8L, 9L, 7L, dtype = torch.float64)
            Expect.isLessThan (maxDifference64 (m.forward x) (skReference m x branches groups stride)) 1e-12 "sk against its definition"
        }
      test "sk: autograd gradients match central differences, float64 (evaluation mode)" {
          use _ = torch.NewDisposeScope ()
          torch.manual_seed 17L |> ignore
          let m = new SelectiveKernel ("sk", 4, 4, 2, 3, 2, (1, 1))
          m.``to`` torch.float64 |> ignore
          m.eval ()
          let x = torch.randn(2L, 4L, 6L, 5L, dtype = torch.float64).requires_grad_ (true)
          gradientCheck (Random 21) (weighted (fun () -> m.forward x))
              [ "input", x; "branch1.weight", parameter m "branch1.weight"; "branch2.weight", parameter m "branch2.weight"
                "squeeze.weight", parameter m "squeeze.weight"; "select.weight", parameter m "select.weight"
                "norm2.weight", parameter m "norm2.weight" ]
      }
      test "sk: a training step runs and moves every parameter" {
          use _ = torch.NewDisposeScope ()
          use network = compile (Spatial (8, 8, 8)) "sk(8, groups=4, minimum=4)"
          network.train ()
          (network.forward (torch.randn (4L, 8L, 8L, 8L))).square().sum().backward ()
          for struct (name, p) in network.named_parameters () do
              Expect.isGreaterThan (p.grad.abs().sum().item<float32> ()) 0.0f $"gradient of {name}"
      } ]

// ---------------------------------------------------------------- analysis, agreement, syntax

let private nets =
    [ "deformable v1 and v2", Spatial (4, 12, 11),
      "deform(3, 8, padding=1) >> relu >> deform(3, 8, stride=2, dilation=2, padding=2, groups=2, modulated=true) >> bn"
      "deformable, even kernel and same padding", Spatial (3, 10, 10), "deform(4, 6, padding=same, bias=false) >> deform(1, 4)"
      "dcls", Spatial (4, 14, 13), "dcls(3, 8, 7, padding=3) >> relu >> dcls(3x2, 6, 5x4, stride=2, groups=2, bias=false)"
      "selective kernel", Spatial (8, 12, 12), "sk(8, groups=2, minimum=4) >> sk(16, branches=3, groups=4, reduction=2, stride=2)"
      "all three in a residual net", Spatial (8, 16, 16),
      "residual(deform(3, 8, padding=1, modulated=true) >> bn >> relu >> dcls(3, 8, 5, padding=2)) >> sk(8, groups=4, minimum=4) >> gavgpool >> flatten >> dense(3)" ]

/// Fields that Agreement.receptiveField can check exactly: DCLS (the initial grid spans the dilated kernel)
/// and SK (whole input). Deformable convolution is checked above with its offsets at zero.
let private fieldNets =
    [ "dcls", Spatial (2, 21, 21), "dcls(3, 2, 7, padding=1) >> dcls(2x3, 2, 3x7, stride=2)"
      "dcls after a strided conv", Spatial (1, 30, 30), "conv(3, 2, stride=2) >> dcls(3, 2, 5, padding=2)"
      "selective kernel", Spatial (4, 10, 10), "conv(3, 4) >> sk(4, groups=2, minimum=2)" ]

let private agreementTests =
    [ test "a network compiled inside a dispose scope keeps its field layers' parameters after the scope" {
          let input = Spatial (4, 8, 8)
          let network =
              use _ = torch.NewDisposeScope ()
              compile input "deform(3, 4, padding=1, modulated=true) >> dcls(3, 4, 5, padding=2) >> sk(4, groups=2, minimum=2)"
          use network = network
          use _ = torch.NewDisposeScope ()
          network.eval ()
          let held = Network.parameterCount network
          Expect.equal held (analyse input "deform(3, 4, padding=1, modulated=true) >> dcls(3, 4, 5, padding=2) >> sk(4, groups=2, minimum=2)").Totals.Parameters "parameters held"
          Expect.equal (network.forward (torch.randn (2L, 4L, 8L, 8L))).shape [| 2L; 4L; 8L; 8L |] "forward after the scope"
      }
      for name, input, text in nets do
        test $"{name}: shapes, parameters and MACs agree with one forward pass" {
            Expect.isEmpty (Agreement.shapesParametersAndMacs input (parse text)) "disagreements"
        }
      test "denseaspp.rcp (at 3×64×64): shapes, parameters and MACs agree with one forward pass" {
          let path, text = Repository.readZoo "denseaspp.rcp"
          let program = Parser.parseProgram path text |> Repository.unwrap
          let body = Expand.program program |> Repository.unwrap
          Expect.isEmpty (Agreement.shapesParametersAndMacs (Spatial (3, 64, 64)) body) "disagreements"
      }
      for name, input, text in fieldNets do
        test $"{name}: the theoretical field is the support of the input gradient" {
            Expect.isEmpty (Agreement.receptiveField input (parse text)) "disagreements"
        } ]

let private facts input text =
    let report = analyse input text
    report.Totals.Parameters, report.Totals.Macs

/// Hand counts, independent of the formulas in FieldLayers.fs.
let private analysisTests =
    [ test "deform(3, 8, padding=1) on 4×10×10: weights 8·4·9 + 8, offset conv 18·4·9 + 18; MACs (288 + 648)·100" {
          Expect.equal (facts (Spatial (4, 10, 10)) "deform(3, 8, padding=1)") (962L, 93_600L) "parameters, MACs"
      }
      test "deform(3, 8, padding=1, modulated=true) on 4×10×10: the offset conv predicts 27 channels" {
          Expect.equal (facts (Spatial (4, 10, 10)) "deform(3, 8, padding=1, modulated=true)") (1_295L, 126_000L) "parameters, MACs"
      }
      test "dcls(3, 8, 7, padding=3) on 4×10×10: 288 elements with weight and two coordinates, + 8 biases; 288 MACs per pixel" {
          Expect.equal (facts (Spatial (4, 10, 10)) "dcls(3, 8, 7, padding=3)") (872L, 28_800L) "parameters, MACs"
      }
      test "sk(8, groups=2, minimum=4) on 4×10×10: d = 4; two 8·2·9 branches, norms, fcs 4·8 + 8·8 (+ norm 8)" {
          Expect.equal (facts (Spatial (4, 10, 10)) "sk(8, groups=2, minimum=4)") (424L, 28_896L) "parameters, MACs"
      }
      test "field rules: deform is nominal, dcls spans its dilated size, sk sees the whole input" {
          let size text =
              match (analyse (Spatial (3, 32, 32)) text).Field with
              | Local (h, w) -> Some (h.Size, w.Size)
              | Global -> None
          Expect.equal (size "deform(3, 4, dilation=2)") (Some (5.0, 5.0)) "deform"
          Expect.equal (size "dcls(3x2, 4, 9x5)") (Some (9.0, 5.0)) "dcls"
          // 3 from the conv, then a window of 2·30 − 1 on its 30×30 output: 3 + 58.
          Expect.equal (size "conv(3, 3) >> sk(4, groups=1)") (Some (61.0, 61.0)) "sk sees all of its input"
      }
      test "mistakes are diagnostics: a dilated size below the element grid, groups that do not divide" {
          let error input text =
              match Analysis.ofNode "t" input (parse text) with
              | Ok _ -> failtest $"{text} was accepted"
              | Error d -> Diagnostic.format d
          Expect.stringContains (error (Spatial (4, 8, 8)) "dcls(3, 4, 2)") "smaller than the 3×3 elements" "dcls"
          Expect.stringContains (error (Spatial (3, 8, 8)) "deform(3, 4, groups=2)") "groups 2 must divide" "deform"
          Expect.stringContains (error (Spatial (6, 8, 8)) "sk(8)") "groups 32 must divide" "sk keeps the paper's 32 groups"
      }
      test "a program using the field layers prints and parses back to the same program" {
          let text =
              """input(3, 32, 32)
block unit(c) = residual(sk(c, branches=3, groups=4, minimum=8) >> bn) >> relu
network fields =
    deform(3, 16, padding=1, modulated=true) >> dcls(3x2, 16, 7x5, padding=3x2, groups=2, bias=false)
    >> unit(16) >> deform(3, 32, stride=2, dilation=2, padding=same) >> gavgpool >> flatten >> dense(10)"""
          let program = Parser.parseProgram "fields.rcp" text |> Repository.unwrap
          let printed = Printer.program program
          let reparsed = Parser.parseProgram "<printed>" printed |> Repository.unwrap
          Expect.equal reparsed program (sprintf "printed form parses back:\n%s" printed)
      }
      test "receptor analyze runs on Examples/fields.rcp and lists every field layer" {
          use output = new StringWriter ()
          use error = new StringWriter ()
          let file = Path.Combine (Repository.root.Value, "Examples", "fields.rcp")
          let code = Receptor.Cli.Commands.Analyze.run output error { Receptor.Cli.Commands.Analyze.defaults with File = file }
          Expect.equal code 0 (error.ToString ())
          for kind in [ "deform("; "dcls("; "sk(" ] do
              Expect.stringContains (output.ToString ()) kind $"a row for {kind}"
      } ]

let tests: Test =
    testList "field layers" [
        testList "analysis" analysisTests
        // TorchSharp's dispose scopes belong to one thread: the module tests run one after another.
        testSequenced
        <| testList "modules" [
            testList "deformable convolution" deformTests
            testList "dcls" dclsTests
            testList "selective kernel" skTests
            testList "agreement" agreementTests
        ]
    ]
