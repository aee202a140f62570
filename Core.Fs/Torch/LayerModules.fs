/// The modules of the general layer kinds (convolutions, pooling, normalisation, activations, structural
/// layers), built from a checked layer's window and its kind's decoded settings; Core.Fs/Kinds names each
/// kind's builder.
module internal Receptor.Core.Torch.LayerModules

open TorchSharp
open Receptor.Dsl
open Receptor.Dsl.Layers

type private M = torch.nn.Module<torch.Tensor, torch.Tensor>

/// A module whose forward is its own call.
let plain (m: M) = { Module = m; Forward = m.call }

/// A stateless layer given by its forward function.
let lambda name f = plain (new Lambda(name, f))

/// A stateless kind's builder.
let stateless name forward = fun (_: CheckedLayer) -> lambda name forward

/// Pads asymmetrically first when PyTorch's symmetric padding cannot express it.
let private withPadding (top, left, bottom, right) fill (inner: M) =
    if top = bottom && left = right then plain inner
    else
        let pad = [| int64 left; int64 right; int64 top; int64 bottom |]
        { Module = inner; Forward = fun x -> inner.call (torch.nn.functional.pad (x, pad, value = fill)) }

/// The symmetric part PyTorch applies itself; asymmetric padding is applied beforehand instead.
let private symmetricPart (top, left, bottom, right) = if top = bottom && left = right then (top, left) else (0, 0)

let private pair (a: int, b: int) = struct (int64 a, int64 b)
let private nullablePair p = System.Nullable (pair p)

let private convolution (layer: CheckedLayer) cout bias =
    let g = layer.Window
    torch.nn.Conv2d (
        int64 (Shape.channels layer.Input), int64 cout, pair g.Kernel,
        stride = nullablePair g.Stride, padding = nullablePair (symmetricPart g.Padding),
        dilation = nullablePair g.Dilation, groups = int64 g.Groups, bias = bias)
    |> withPadding g.Padding 0.0

let private channels (layer: CheckedLayer) = Shape.channels layer.Input

let conv (layer: CheckedLayer) =
    convolution layer (Shape.channels layer.Facts.Output) (Convolution.hasBias layer.Args)

let dwconv (layer: CheckedLayer) =
    convolution layer (Shape.channels layer.Facts.Output) (Convolution.hasBias layer.Args)

let sepconv (layer: CheckedLayer) =
    let c = channels layer
    let depthwise = convolution layer c false
    let pointwise = torch.nn.Conv2d (int64 c, int64 (Shape.channels layer.Facts.Output), 1L, bias = Convolution.hasBias layer.Args)
    let holder = new Container ("sepconv")
    holder.Add ("depthwise", depthwise.Module)
    holder.Add ("pointwise", pointwise)
    { Module = holder; Forward = depthwise.Forward >> pointwise.call }

let pool isMax (layer: CheckedLayer) =
    let g = layer.Window
    let symmetric = symmetricPart g.Padding
    let ceil = Pooling.ceilMode layer.Args
    let inner =
        if isMax then
            torch.nn.MaxPool2d (pair g.Kernel, stride = nullablePair g.Stride, padding = nullablePair symmetric, ceil_mode = ceil) :> M
        else
            torch.nn.AvgPool2d (pair g.Kernel, stride = nullablePair g.Stride, padding = nullablePair symmetric,
                          ceil_mode = ceil, count_include_pad = Pooling.countsPadding layer.Args) :> M
    withPadding g.Padding (if isMax then System.Double.NegativeInfinity else 0.0) inner

/// Sets a normalisation layer's affine parameters to the γ and β the layer declares.
let private affine (layer: CheckedLayer) (weight: torch.Tensor) (bias: torch.Tensor) =
    use _ = torch.no_grad ()
    let settings = Normalisation.settings layer.Args
    weight.fill_ (Scalar.op_Implicit settings.Gamma) |> ignore
    bias.fill_ (Scalar.op_Implicit settings.Beta) |> ignore

let batchnorm (layer: CheckedLayer) =
    let c = int64 (channels layer)
    let eps = (Normalisation.settings layer.Args).Epsilon
    match layer.Input with
    | Spatial _ ->
        let bn = torch.nn.BatchNorm2d (c, eps = eps)
        affine layer bn.weight bn.bias
        plain bn
    | Flat _ ->
        let bn = torch.nn.BatchNorm1d (c, eps = eps)
        affine layer bn.weight bn.bias
        plain bn

let groupnorm groups (layer: CheckedLayer) =
    let c = int64 (channels layer)
    let eps = (Normalisation.settings layer.Args).Epsilon
    match layer.Input with
    | Spatial _ ->
        let gn = torch.nn.GroupNorm (int64 groups, c, eps = eps)
        affine layer gn.weight gn.bias
        plain gn
    | Flat _ ->
        let ln = torch.nn.LayerNorm (c, eps = eps)
        affine layer ln.weight ln.bias
        plain ln

let dense (layer: CheckedLayer) =
    plain (torch.nn.Linear (int64 (channels layer), int64 (Shape.channels layer.Facts.Output), hasBias = Convolution.hasBias layer.Args))

let prelu (layer: CheckedLayer) =
    let init, shared = Activations.preluSettings layer.Args
    plain (torch.nn.PReLU ((if shared then 1L else int64 (channels layer)), init = init))

let silu (layer: CheckedLayer) =
    let beta = Activations.siluBeta layer.Args
    lambda "silu" (fun x -> if beta = 1.0 then torch.nn.functional.silu x else x * (x * beta).sigmoid ())

let upsample (layer: CheckedLayer) =
    let factor, bilinear = Structural.upsampling layer.Args
    let mode = if bilinear then torch.UpsampleMode.Bilinear else torch.UpsampleMode.Nearest
    let alignCorners = if bilinear then System.Nullable false else System.Nullable ()
    plain (torch.nn.Upsample (scale_factor = [| float factor; float factor |], mode = mode, align_corners = alignCorners))

let zeropad (layer: CheckedLayer) =
    let ph, pw = Structural.zeroPadding layer.Args
    let pad = [| int64 pw; int64 pw; int64 ph; int64 ph |]
    lambda "zeropad" (fun x -> torch.nn.functional.pad (x, pad))

let adaptiveavgpool (layer: CheckedLayer) = plain (torch.nn.AdaptiveAvgPool2d (pair (Pooling.adaptiveSize layer.Args)))

let dropout (layer: CheckedLayer) = plain (torch.nn.Dropout (Structural.dropProbability layer.Args))

let scale (layer: CheckedLayer) = let f = Structural.scaleFactor layer.Args in lambda "scale" (fun x -> x * f)

let leaky (layer: CheckedLayer) = let a = Activations.leakySlope layer.Args in lambda "leaky" (fun x -> torch.nn.functional.leaky_relu (x, a))

let elu (layer: CheckedLayer) = let a = Activations.eluAlpha layer.Args in lambda "elu" (fun x -> torch.nn.functional.elu (x, a))

let act (layer: CheckedLayer) = let expression, scalars = Activations.expression layer.Args in plain (new ExpressionActivation ("act", expression, scalars))

/// Builds a layer's module inside a dispose scope and hands its own parameters and buffers to the scope
/// outside (or to none), so that temporaries of construction die at once: TorchSharp 0.107's Conv2d
/// constructor leaves one tensor undisposed when it initialises the bias.
let scoped build layer =
    use _ = torch.NewDisposeScope ()
    let compiled = build layer
    for p in compiled.Module.parameters () do p.MoveToOuterDisposeScope () |> ignore
    for b in compiled.Module.buffers () do b.MoveToOuterDisposeScope () |> ignore
    compiled
