/// TorchSharp modules of the field layers (Dsl/Layers/FieldLayers.fs), built from plain tensor ops:
/// TorchSharp has no deform_conv2d, so deformable sampling gathers channels-last pixel rows (RowSums).
module Receptor.Core.Torch.FieldModules

open TorchSharp
open Receptor.Dsl

type private Tensor = torch.Tensor
type private M = torch.nn.Module<Tensor, Tensor>

let private pairOf (a: int, b: int) = struct (int64 a, int64 b)

/// A learnable tensor owned by its module: it outlives any dispose scope the module is built in.
let parameterOf (data: Tensor) =
    let p = torch.nn.Parameter data
    p.DetachFromDisposeScope () |> ignore
    p

/// PyTorch's default initialisation of a convolution's weight and bias (kaiming-uniform with a = √5).
let initialiseConv (weight: Tensor) (bias: Tensor option) =
    use _ = torch.no_grad ()
    torch.nn.init.kaiming_uniform_ (weight, a = sqrt 5.0) |> ignore
    let fanIn = weight.numel () / weight.shape[0]
    let bound = 1.0 / sqrt (float fanIn)
    bias |> Option.iter (fun b -> b.uniform_ (-bound, bound) |> ignore)

/// Pads (top, left, bottom, right) beforehand when it is not symmetric; returns the symmetric part left
/// for the convolution itself.
let private splitPadding (top, left, bottom, right) =
    if top = bottom && left = right then id, (top, left)
    else
        let pad = [| int64 left; int64 right; int64 top; int64 bottom |]
        (fun (x: Tensor) -> torch.nn.functional.pad (x, pad)), (0, 0)

/// Row i of the result is Σ_k weights[i, k]·table[indices[i, k]], optionally over the bags that `offsets`
/// starts in a 1-D `indices`: an embedding bag, which TorchSharp has only as a module, built for the call
/// (no state shared between layers or threads) with the table, detached, as its weight.
let private bagSums (table: Tensor) (indices: Tensor) (offsets: Tensor) (weights: Tensor) =
    use bag = torch.nn.EmbeddingBag (1L, 1L, mode = EmbeddingBagMode.Sum)
    bag.weight <- torch.nn.Parameter (table.detach (), false)
    bag.forward (indices, offsets, weights)

/// Weighted sums of table rows (`bagSums` without offsets) with their gradients to the table and to the
/// weights, where each sum's rows are a top-left row plus fixed `shifts` (the four bilinear corners in a
/// zero-bordered pixel table). ATen's embedding-bag backward to the table is a scalar loop of one axpy per
/// index after a sort of all indices; here only the top-left rows are sorted, one embedding bag over that
/// order sums each corner's gradient rows per top-left row, and each corner's sums are added shifted. The
/// weights' gradient is ATen's, by a nested backward through the forward's bag (recorded with weights of
/// its own, so the bag does not run again; the record is kept for backward passes that retain the graph).
type private RowSums() =
    inherit torch.autograd.MultiTensorFunction<RowSums>()
    override _.Name = "RowSums"

    override _.forward(ctx, vars) =
        let table, topLeft, shifts, weights = vars[0] :?> Tensor, vars[1] :?> Tensor, vars[2] :?> Tensor, vars[3] :?> Tensor
        ctx.save_for_backward (ResizeArray [ table; topLeft; shifts; weights ])
        ctx.save_data ("needs", box (table.requires_grad, weights.requires_grad))
        // Recorded only when the weights need a gradient (in training, not in inference).
        use _ = torch.enable_grad ()
        let w = weights.detach().requires_grad_ weights.requires_grad
        let sums = bagSums table (topLeft.unsqueeze 1L + shifts) null w
        ctx.save_data ("bag", box (sums, w))
        ResizeArray [ sums.detach () ]

    override _.backward(ctx, grads) =
        use scope = torch.NewDisposeScope ()
        let saved = ctx.get_saved_variables ()
        let table, topLeft, shifts, weights = saved[0], saved[1], saved[2], saved[3]
        let tableNeeds, weightsNeeds = ctx.get_data "needs" :?> bool * bool
        let grad = grads[0]
        // Grad mode is on here only when the caller asked for a graph of the gradients (GradInit's second
        // order): then both gradients are written with differentiable ops; the fast bag detaches the table.
        let differentiable = torch.is_grad_enabled ()
        let flat = lazy ((topLeft.unsqueeze 1L + shifts).view (-1L))
        let tableGrad =
            if not tableNeeds then null
            elif differentiable then
                let shares = (grad.unsqueeze 1L * weights.unsqueeze -1L).view (-1L, table.shape[1])
                torch.zeros_like(table).index_add (0L, flat.Value, shares, Scalar.op_Implicit 1.0)
            else
                // Bag c·R + r (R table rows) sums grad[j]·weight[j, c] over the samples j whose top-left row
                // is r: the samples sorted by top-left row, once for all four corners.
                let rows, corners = table.shape[0], shifts.shape[0]
                let struct (_, order) = topLeft.sort ()
                let counts = topLeft.bincount (null, minlength = rows)
                let starts = counts.cumsum 0L - counts
                let cornerStarts = torch.arange(corners, dtype = torch.int64, device = starts.device).unsqueeze (1L) * order.shape[0]
                let bagStarts = (starts.unsqueeze(0L) + cornerStarts).view (-1L)
                let sorted = weights.index_select(0L, order).t().reshape (-1L)
                let sums = bagSums grad (order.repeat corners) bagStarts sorted
                // Corner c of top-left row r is table row r + shifts[c].
                let tableGrad = sums.narrow (0L, 0L, rows)
                for c in 1L .. corners - 1L do
                    let shift = shifts[c].item<int64> ()
                    tableGrad.narrow(0L, shift, rows - shift).add_ (sums.narrow (0L, c * rows, rows - shift)) |> ignore
                tableGrad
        let weightsGrad =
            if not weightsNeeds then null
            elif differentiable then
                (table.index_select(0L, flat.Value).view (topLeft.shape[0], shifts.shape[0], -1L) * grad.unsqueeze 1L).sum (-1L)
            else
                let sums, w = ctx.get_data "bag" :?> Tensor * Tensor
                torch.autograd.grad([| sums |], [| w |], [| grad |], retain_graph = true).[0]
        for t in [ tableGrad; weightsGrad ] do
            if not (isNull t) then scope.MoveToOuter t |> ignore
        ResizeArray [ tableGrad; null; null; weightsGrad ]

/// Deformable convolution v1 (Dai et al. 2017) and, when `modulated`, v2 (Zhu et al. 2019).
/// Parameters: `weight` (out, in/groups, kh, kw), `bias`, and the offset convolution `offset` with
/// 2·kh·kw (v2: 3·kh·kw) output channels, zero-initialised: channel 2t is Δy and 2t + 1 is Δx of tap
/// t = i·kw + j (torchvision's layout); v2's last kh·kw channels are mask logits. The samples of all taps
/// are rows of (position, tap·channel), gathered from the channels-last input with a zero border of one
/// pixel (so each sample's four corners are fixed shifts of its top-left one), and the kernel is one GEMM
/// over them; the output is the NCHW view of a channels-last tensor.
type DeformableConv2d
    (name: string, inChannels: int, outChannels: int, kernel: int * int, stride: int * int,
     padding: int * int * int * int, dilation: int * int, groups: int, hasBias: bool, modulated: bool) as this =
    inherit M(name)
    let kh, kw = kernel
    let sh, sw = stride
    let dh, dw = dilation
    let taps = kh * kw
    let predicted = (if modulated then 3 else 2) * taps
    let prepad, symmetric = splitPadding padding
    let top, left, _, _ = padding
    let offset =
        torch.nn.Conv2d (
            int64 inChannels, int64 predicted, pairOf (kh, kw), stride = System.Nullable (pairOf (sh, sw)),
            padding = System.Nullable (pairOf symmetric), dilation = System.Nullable (pairOf (dh, dw)), bias = true)
    do
        let weight = parameterOf (torch.empty (int64 outChannels, int64 (inChannels / groups), int64 kh, int64 kw))
        let biasParameter = if hasBias then Some (parameterOf (torch.empty (int64 outChannels))) else None
        initialiseConv weight (biasParameter |> Option.map (fun b -> b :> Tensor))
        this.register_parameter ("weight", weight)
        biasParameter |> Option.iter (fun b -> this.register_parameter ("bias", b))
        use _ = torch.no_grad ()
        offset.weight.zero_ () |> ignore
        offset.bias.zero_ () |> ignore
        this.register_module ("offset", offset)

    /// Offsets (N, kh·kw, 2, oh, ow) as (Δy, Δx), and v2's masks (N, kh·kw, oh, ow), for an input.
    member _.Predict(input: Tensor) =
        let raw = offset.call (prepad input)
        let n, oh, ow = raw.shape[0], raw.shape[2], raw.shape[3]
        let offsets = raw.narrow(1L, 0L, int64 (2 * taps)).view (n, int64 taps, 2L, oh, ow)
        let masks = if modulated then Some (raw.narrow(1L, int64 (2 * taps), int64 taps).sigmoid ()) else None
        offsets, masks

    /// The convolution with given offsets (N, kh·kw, 2, oh, ow) and optional masks (N, kh·kw, oh, ow).
    member this.Apply(input: Tensor, offsets: Tensor, masks: Tensor option) =
        let n, channels, height, width = input.shape[0], input.shape[1], input.shape[2], input.shape[3]
        let oh, ow = offsets.shape[3], offsets.shape[4]
        let tensor (values: float[]) = torch.tensor (values, dtype = input.dtype, device = input.device)
        // Nominal tap positions in input coordinates (the top/left padding moves the origin), laid out as
        // (output row or column, tap) like the samples below.
        let nominal count size step spacing tapIndex origin =
            tensor (Array.init (int count * taps) (fun k -> float (k / taps * step - origin + tapIndex (k % taps) * spacing)))
        let rows = nominal oh height sh dh (fun t -> t / kw) top
        let columns = nominal ow width sw dw (fun t -> t % kw) left
        // Samples are ordered (image, output row, output column, tap), the channels innermost.
        let offsets = offsets.permute (0L, 3L, 4L, 1L, 2L)
        let y = rows.view (1L, oh, 1L, int64 taps) + offsets.select (4L, 0L)
        let x = columns.view (1L, 1L, ow, int64 taps) + offsets.select (4L, 1L)
        let y0, x0 = y.floor().detach (), x.floor().detach ()
        let fy, fx = y - y0, x - x0
        let iy, ix = y0.to_type torch.int64, x0.to_type torch.int64
        // Corners outside the image read zeros: their weight is 0 (so is their share of the offsets'
        // gradient). The table has a zero border, so clamping a top-left corner into it keeps all four
        // corners in their image's padded rows, at fixed shifts from it.
        let inside (i: Tensor) (size: int64) =
            i.ge(Scalar.op_Implicit 0L).logical_and(i.lt (Scalar.op_Implicit size)).to_type input.dtype
        let upperWeight, lowerWeight = (1.0 - fy) * inside iy height, fy * inside (iy + 1L) height
        let upperWeight, lowerWeight =
            match masks with
            | Some m ->
                let m = m.permute (0L, 2L, 3L, 1L)
                upperWeight * m, lowerWeight * m
            | None -> upperWeight, lowerWeight
        let leftWeight, rightWeight = (1.0 - fx) * inside ix width, fx * inside (ix + 1L) width
        let weights = torch.stack([| upperWeight * leftWeight; upperWeight * rightWeight; lowerWeight * leftWeight; lowerWeight * rightWeight |], -1L)
        let paddedHeight, paddedWidth = height + 2L, width + 2L
        let bordered (i: Tensor) (size: int64) = i.clamp (Scalar.op_Implicit -1L, Scalar.op_Implicit (size - 1L)) + 1L
        let image = (torch.arange (n, dtype = torch.int64, device = input.device) * (paddedHeight * paddedWidth)).view (-1L, 1L, 1L, 1L)
        let topLeft = image + bordered iy height * paddedWidth + bordered ix width
        let shifts = torch.tensor ([| 0L; 1L; paddedWidth; paddedWidth + 1L |], device = input.device)
        // The input as a table of pixels (N·(H+2)·(W+2), C), channels-last with a zero border (the pad's
        // backward strips it from the table's gradient): each sample is the weighted sum of four whole rows
        // (the offsets are shared by all channels), and the weights carry the gradient to the offsets. Far
        // cheaper than grid_sample's per-channel backward on CPU.
        let table = torch.nn.functional.pad(input.permute (0L, 2L, 3L, 1L), [| 0L; 0L; 1L; 1L; 1L; 1L |]).reshape (-1L, channels)
        let sampled = RowSums.apply(table, topLeft.reshape (-1L), shifts, weights.view (-1L, 4L)).[0]
        // The k×k contraction as one GEMM over (position, tap·channel) with the weight as (tap·channel, out),
        // per group when grouped; the output is the NCHW view of a channels-last tensor.
        let weight = this.get_parameter "weight"
        let perGroup = int64 (inChannels / groups)
        let positions = n * oh * ow
        let output =
            if groups = 1 then
                let kernel = weight.permute(2L, 3L, 1L, 0L).reshape (int64 taps * perGroup, int64 outChannels)
                sampled.view(positions, -1L).matmul kernel
            else
                let g, perOut = int64 groups, int64 (outChannels / groups)
                let kernel =
                    weight.view(g, perOut, perGroup, int64 kh, int64 kw).permute(0L, 3L, 4L, 2L, 1L).reshape (g, -1L, perOut)
                let grouped = sampled.view(positions, int64 taps, g, perGroup).permute(2L, 0L, 1L, 3L).reshape (g, positions, -1L)
                grouped.bmm(kernel).permute(1L, 0L, 2L).reshape (positions, int64 outChannels)
        let output = if hasBias then output + this.get_parameter "bias" else output
        output.view(n, oh, ow, int64 outChannels).permute (0L, 3L, 1L, 2L)

    override this.forward input =
        let offsets, masks = this.Predict input
        this.Apply (input, offsets, masks)

/// The initial tap positions of DCLS along one axis: `count` evenly spaced in [0, size − 1]
/// (the centre when there is one tap).
let spacingGrid count size =
    Array.init count (fun i -> if count = 1 then float (size - 1) / 2.0 else float i * float (size - 1) / float (count - 1))

/// Dilated convolution with learnable spacings (Khalfaoui-Hassani et al. 2023). Parameters: `weight`
/// (out, in/groups, kh, kw), `displacement` (2, out, in/groups, kh, kw) of each element from its initial
/// grid position (row, column), zero-initialised, and `bias`.
type LearnableSpacingConv2d
    (name: string, inChannels: int, outChannels: int, elements: int * int, dilatedSize: int * int, stride: int * int,
     padding: int * int * int * int, groups: int, hasBias: bool) as this =
    inherit M(name)
    let kh, kw = elements
    let sizeH, sizeW = dilatedSize
    let sh, sw = stride
    let prepad, symmetric = splitPadding padding
    do
        let shape = [| int64 outChannels; int64 (inChannels / groups); int64 kh; int64 kw |]
        let weight = parameterOf (torch.empty shape)
        let biasParameter = if hasBias then Some (parameterOf (torch.empty (int64 outChannels))) else None
        // Initialised as the k×k convolution it starts as (fan-in in/groups·kh·kw).
        initialiseConv weight (biasParameter |> Option.map (fun b -> b :> Tensor))
        this.register_parameter ("weight", weight)
        this.register_parameter ("displacement", parameterOf (torch.zeros (Array.append [| 2L |] shape)))
        biasParameter |> Option.iter (fun b -> this.register_parameter ("bias", b))

    /// The dense (out, in/groups, dilated height, dilated width) kernel the elements spread onto: element
    /// e at (p_y, p_x) adds w·(1 − f_y)(1 − f_x) at (⌊p_y⌋, ⌊p_x⌋), w·(1 − f_y)f_x at (⌊p_y⌋, ⌊p_x⌋ + 1), and
    /// so on, f = p − ⌊p⌋; differentiable in p (one-sided at integers, as DCLS). One scatter-add of the four
    /// corners per element: on CPU, forming the kernel densely or by batched matmul costs far more.
    member this.Kernel() =
        let weight = this.get_parameter "weight"
        let displacement = this.get_parameter "displacement"
        let grid count size = torch.tensor (spacingGrid count size, dtype = weight.dtype, device = weight.device)
        let limit size = Scalar.op_Implicit (float (size - 1))
        let rows = ((grid kh sizeH).view (-1L, 1L) + displacement.select (0L, 0L)).clamp (Scalar.op_Implicit 0.0, limit sizeH)
        let columns = ((grid kw sizeW).view (1L, -1L) + displacement.select (0L, 1L)).clamp (Scalar.op_Implicit 0.0, limit sizeW)
        let top, left = rows.floor().detach (), columns.floor().detach ()
        let fy, fx = rows - top, columns - left
        // A corner one past the last row or column only occurs with weight 0 (f = 0 there): clamp its index.
        let index (dy: float) (dx: float) =
            (top + dy).clamp_max(limit sizeH) * float sizeW + (left + dx).clamp_max (limit sizeW)
        let corners =
            [ index 0.0 0.0, (1.0 - fy) * (1.0 - fx); index 0.0 1.0, (1.0 - fy) * fx
              index 1.0 0.0, fy * (1.0 - fx); index 1.0 1.0, fy * fx ]
        let pairs = int64 outChannels * int64 (inChannels / groups)
        let indices = torch.cat([| for i, _ in corners -> i.view (pairs, -1L) |], 1L).to_type torch.int64
        let values = torch.cat ([| for _, share in corners -> (weight * share).view (pairs, -1L) |], 1L)
        torch.zeros(pairs, int64 (sizeH * sizeW), dtype = weight.dtype, device = weight.device)
            .scatter_add(1L, indices, values)
            .view (int64 outChannels, int64 (inChannels / groups), int64 sizeH, int64 sizeW)

    override this.forward input =
        let biasTensor = if hasBias then this.get_parameter "bias" :> Tensor else null
        torch.nn.functional.conv2d (
            prepad input, this.Kernel (), biasTensor, [| int64 sh; int64 sw |],
            [| int64 (fst symmetric); int64 (snd symmetric) |], [| 1L; 1L |], int64 groups)

/// Selective-kernel unit (Li et al. 2019): `branch1..M` grouped 3×3 convolutions with dilation i, each with
/// batch norm `norm1..M` and ReLU; `squeeze` (bias-free fc to d) with `squeeze_norm` and ReLU; `select`, the
/// M bias-free fcs from d back to the channels stacked as one (M·out, d) matrix.
type SelectiveKernel
    (name: string, inChannels: int, outChannels: int, branches: int, width: int, groups: int, stride: int * int) as this =
    inherit M(name)
    let convs =
        List.init branches (fun i ->
            let d = i + 1
            let conv =
                torch.nn.Conv2d (
                    int64 inChannels, int64 outChannels, pairOf (3, 3), stride = System.Nullable (pairOf stride),
                    padding = System.Nullable (pairOf (d, d)), dilation = System.Nullable (pairOf (d, d)),
                    groups = int64 groups, bias = false)
            let norm = torch.nn.BatchNorm2d (int64 outChannels)
            this.register_module (sprintf "branch%d" d, conv)
            this.register_module (sprintf "norm%d" d, norm)
            conv :> M, norm :> M)
    let squeeze = torch.nn.Linear (int64 outChannels, int64 width, hasBias = false)
    let squeezeNorm = torch.nn.BatchNorm1d (int64 width)
    let select = torch.nn.Linear (int64 width, int64 (branches * outChannels), hasBias = false)
    do
        this.register_module ("squeeze", squeeze)
        this.register_module ("squeeze_norm", squeezeNorm)
        this.register_module ("select", select)

    override _.forward input =
        let values = convs |> List.map (fun (conv, norm) -> torch.nn.functional.relu (norm.call (conv.call input)))
        let stacked = torch.stack (values, 1L)
        let pooled = stacked.sum(1L).mean ([| 2L; 3L |])
        let compact = torch.nn.functional.relu (squeezeNorm.call (squeeze.call pooled))
        let attention = select.call(compact).view(-1L, int64 branches, int64 outChannels).softmax (1L)
        (stacked * attention.unsqueeze(-1L).unsqueeze (-1L)).sum (1L)

let deform (layer: CheckedLayer) : M =
    let g = layer.Window
    new DeformableConv2d (
        "deform", Shape.channels layer.Input, Shape.channels layer.Facts.Output, g.Kernel, g.Stride, g.Padding, g.Dilation,
        g.Groups, Layers.Convolution.hasBias layer.Args, Layers.FieldLayers.modulated layer.Args)

let dcls (layer: CheckedLayer) : M =
    let g = layer.Window
    new LearnableSpacingConv2d (
        "dcls", Shape.channels layer.Input, Shape.channels layer.Facts.Output, Layers.FieldLayers.elementGrid layer.Args, g.Kernel,
        g.Stride, g.Padding, g.Groups, Layers.Convolution.hasBias layer.Args)

let sk (layer: CheckedLayer) : M =
    let settings = Layers.FieldLayers.selectiveSettings layer.Args
    new SelectiveKernel (
        "sk", Shape.channels layer.Input, Shape.channels layer.Facts.Output, settings.Branches, settings.Width,
        settings.Groups, settings.Stride)
