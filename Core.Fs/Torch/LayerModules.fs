/// How each layer kind becomes a TorchSharp module: one entry per kind, keyed by the kind's name.
module Receptor.Core.Torch.LayerModules

open TorchSharp
open Receptor.Dsl

type private M = torch.nn.Module<torch.Tensor, torch.Tensor>

/// A layer's module, registered at its path, and how the network calls it.
type CompiledLayer = { Module: torch.nn.Module; Forward: torch.Tensor -> torch.Tensor }

let private plain (m: M) = { Module = m; Forward = m.call }

let private lambda name f = plain (new Lambda(name, f))

/// Explicit (top, left, bottom, right) padding for a window layer on its checked input.
let private paddingOf (layer: CheckedLayer) kernelName =
    let args = layer.Args
    let kh, kw = args.Pair kernelName
    let dh, dw =
        if layer.Kind.Signature |> List.exists (fun p -> p.Name = "dilation") then args.Pair "dilation" else 1, 1
    let _, h, w =
        match layer.Input with
        | Spatial (c, h, w) -> c, h, w
        | Flat n -> n, 1, 1
    Facts.resolvePadding (args.Padding "padding") (h, w) (dh * (kh - 1) + 1, dw * (kw - 1) + 1) (args.Pair "stride")

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

let private convolution (layer: CheckedLayer) cin cout groups bias =
    let args = layer.Args
    let padding = paddingOf layer "kernel"
    torch.nn.Conv2d (
        int64 cin, int64 cout, pair (args.Pair "kernel"),
        stride = nullablePair (args.Pair "stride"), padding = nullablePair (symmetricPart padding),
        dilation = nullablePair (args.Pair "dilation"), groups = int64 groups, bias = bias)
    |> withPadding padding 0.0

let private channels (layer: CheckedLayer) = Shape.channels layer.Input

let private conv (layer: CheckedLayer) =
    let args = layer.Args
    convolution layer (channels layer) (args.Int "out") (args.Int "groups") (args.Bool "bias")

let private dwconv (layer: CheckedLayer) =
    let c = channels layer
    convolution layer c (c * layer.Args.Int "multiplier") c (layer.Args.Bool "bias")

let private sepconv (layer: CheckedLayer) =
    let c = channels layer
    let depthwise = convolution layer c c c false
    let pointwise = torch.nn.Conv2d (int64 c, int64 (layer.Args.Int "out"), 1L, bias = layer.Args.Bool "bias")
    let holder = new Container ("sepconv")
    holder.Add ("depthwise", depthwise.Module)
    holder.Add ("pointwise", pointwise)
    { Module = holder; Forward = depthwise.Forward >> pointwise.call }

let private pool isMax (layer: CheckedLayer) =
    let args = layer.Args
    let padding = paddingOf layer "kernel"
    let symmetric = symmetricPart padding
    let inner =
        if isMax then
            torch.nn.MaxPool2d (pair (args.Pair "kernel"), stride = nullablePair (args.Pair "stride"), padding = nullablePair symmetric,
                          ceil_mode = args.Bool "ceil") :> M
        else
            torch.nn.AvgPool2d (pair (args.Pair "kernel"), stride = nullablePair (args.Pair "stride"), padding = nullablePair symmetric,
                          ceil_mode = args.Bool "ceil", count_include_pad = args.Bool "countpad") :> M
    withPadding padding (if isMax then System.Double.NegativeInfinity else 0.0) inner

/// Sets a normalisation layer's affine parameters to the γ and β the layer declares.
let private affine (layer: CheckedLayer) (weight: torch.Tensor) (bias: torch.Tensor) =
    use _ = torch.no_grad ()
    weight.fill_ (Scalar.op_Implicit (layer.Args.Float "gamma")) |> ignore
    bias.fill_ (Scalar.op_Implicit (layer.Args.Float "beta")) |> ignore

let private batchnorm (layer: CheckedLayer) =
    let c = int64 (channels layer)
    let eps = layer.Args.Float "eps"
    match layer.Input with
    | Spatial _ ->
        let bn = torch.nn.BatchNorm2d (c, eps = eps)
        affine layer bn.weight bn.bias
        plain bn
    | Flat _ ->
        let bn = torch.nn.BatchNorm1d (c, eps = eps)
        affine layer bn.weight bn.bias
        plain bn

let private groupnorm groups (layer: CheckedLayer) =
    let c = int64 (channels layer)
    let eps = layer.Args.Float "eps"
    match layer.Input with
    | Spatial _ ->
        let gn = torch.nn.GroupNorm (int64 groups, c, eps = eps)
        affine layer gn.weight gn.bias
        plain gn
    | Flat _ ->
        let ln = torch.nn.LayerNorm (c, eps = eps)
        affine layer ln.weight ln.bias
        plain ln

let private dense (layer: CheckedLayer) =
    plain (torch.nn.Linear (int64 (channels layer), int64 (layer.Args.Int "out"), hasBias = layer.Args.Bool "bias"))

let private prelu (layer: CheckedLayer) =
    let count = if layer.Args.Bool "shared" then 1L else int64 (channels layer)
    plain (torch.nn.PReLU (count, init = layer.Args.Float "init"))

let private silu (layer: CheckedLayer) =
    let beta = layer.Args.Float "beta"
    lambda "silu" (fun x -> if beta = 1.0 then torch.nn.functional.silu x else x * (x * beta).sigmoid ())

let private upsample (layer: CheckedLayer) =
    let factor = float (layer.Args.Int "factor")
    let mode = if layer.Args.Word "mode" = "bilinear" then torch.UpsampleMode.Bilinear else torch.UpsampleMode.Nearest
    let alignCorners = if mode = torch.UpsampleMode.Bilinear then System.Nullable false else System.Nullable ()
    plain (torch.nn.Upsample (scale_factor = [| factor; factor |], mode = mode, align_corners = alignCorners))

let private zeropad (layer: CheckedLayer) =
    let ph, pw = layer.Args.Pair "padding"
    let pad = [| int64 pw; int64 pw; int64 ph; int64 ph |]
    lambda "zeropad" (fun x -> torch.nn.functional.pad (x, pad))

let private stateless name forward = fun (_: CheckedLayer) -> lambda name forward

let private compilers: Map<string, CheckedLayer -> CompiledLayer> =
    Map.ofList
        [ "conv", conv
          "dwconv", dwconv
          "sepconv", sepconv
          "maxpool", pool true
          "avgpool", pool false
          "gavgpool", stateless "gavgpool" (fun x -> torch.nn.functional.adaptive_avg_pool2d (x, 1L))
          "gmaxpool", stateless "gmaxpool" (fun x -> torch.nn.functional.adaptive_max_pool2d (x, [| 1L; 1L |]))
          "adaptiveavgpool", (fun layer -> plain (torch.nn.AdaptiveAvgPool2d (pair (layer.Args.Pair "size"))))
          "batchnorm", batchnorm
          "layernorm", groupnorm 1
          "groupnorm", (fun layer -> groupnorm (layer.Args.Int "groups") layer)
          "identity", stateless "identity" id
          "dropout", (fun layer -> plain (torch.nn.Dropout (layer.Args.Float "p")))
          "scale", (fun layer -> let f = layer.Args.Float "factor" in lambda "scale" (fun x -> x * f))
          "flatten", stateless "flatten" (fun x -> x.flatten (1L))
          "dense", dense
          "zeropad", zeropad
          "upsample", upsample
          "relu", stateless "relu" torch.nn.functional.relu
          "relu6", stateless "relu6" (fun x -> torch.nn.functional.relu6 x)
          "leaky", (fun layer -> let a = layer.Args.Float "alpha" in lambda "leaky" (fun x -> torch.nn.functional.leaky_relu (x, a)))
          "prelu", prelu
          "elu", (fun layer -> let a = layer.Args.Float "alpha" in lambda "elu" (fun x -> torch.nn.functional.elu (x, a)))
          "selu", stateless "selu" (fun x -> torch.nn.functional.selu x)
          "gelu", stateless "gelu" (fun x -> torch.nn.functional.gelu x)
          "silu", silu
          "mish", stateless "mish" (fun x -> torch.nn.functional.mish x)
          "tanh", stateless "tanh" (fun x -> x.tanh ())
          "sigmoid", stateless "sigmoid" (fun x -> x.sigmoid ())
          "softplus", stateless "softplus" (fun x -> torch.nn.functional.softplus x)
          "hardswish", stateless "hardswish" (fun x -> torch.nn.functional.hardswish x)
          "act", (fun layer -> plain (new ExpressionActivation ("act", layer.Args.Expr "f", layer.Args.Scalars))) ]
    |> Map.foldBack (fun name build -> Map.add name (build >> plain)) FieldModules.compilers
    |> Map.foldBack (fun name build -> Map.add name (build >> plain)) DendriticModules.compilers
    |> Map.foldBack (fun name build -> Map.add name (build >> plain)) NonlocalModules.compilers
    |> Map.foldBack (fun name build -> Map.add name (build >> plain)) DynOPoolModules.compilers

/// Builds a layer's module inside a dispose scope and hands its own parameters and buffers to the scope
/// outside (or to none), so that temporaries of construction die at once: TorchSharp 0.107's Conv2d
/// constructor leaves one tensor undisposed when it initialises the bias.
let private scoped build layer =
    use _ = torch.NewDisposeScope ()
    let compiled = build layer
    for p in compiled.Module.parameters () do p.MoveToOuterDisposeScope () |> ignore
    for b in compiled.Module.buffers () do b.MoveToOuterDisposeScope () |> ignore
    compiled

/// The module for one checked layer, or an error naming its path when no rule exists for its kind.
let compile (layer: CheckedLayer) : Result<CompiledLayer, Diagnostic> =
    match compilers.TryFind layer.Kind.Name with
    | Some build -> Ok (scoped build layer)
    | None -> Error (Diagnostic.atPath layer.Path (sprintf "no TorchSharp rule for layer kind '%s'" layer.Kind.Name))

let kinds = compilers |> Map.keys |> List.ofSeq
