/// A layer kind is one bundle: its signature and its static facts (shape, parameters, MACs, FLOPs,
/// receptive-field step). Passes fold these rules over the tree; adding a kind adds one bundle.
namespace Receptor.Dsl

/// What an argument accepts.
type ArgType =
    /// An integer ≥ 1.
    | PositiveInt
    /// An integer ≥ 0.
    | NaturalInt
    /// A positive integer `k` (meaning k×k) or a pair `h x w`.
    | KernelSize
    /// A natural integer, a pair, `same` or `valid`.
    | PaddingSpec
    /// Any real number.
    | Number
    /// A real number in [0, 1).
    | Fraction
    | Flag
    | OneOf of string list
    | Activation

type Default =
    | Required
    | Fixed of Value
    /// Defaults to the value of another argument (a pooling stride defaults to its kernel).
    | SameAs of string

type ParamSpec = { Name: string; Type: ArgType; Default: Default; Doc: string }

/// How a layer maps the receptive field of its input to that of its output, per axis
/// (Araujo et al. 2019, written forwards: r' = r + (k − 1)·S, S' = S·s, P' = P + p·S).
type FieldStep =
    | Window of kernel: (float * float) * stride: (float * float) * padding: (float * float)
    | Pointwise

/// A sliding window resolved against its input, with PyTorch's conventions. The checker computes it once;
/// every later phase reads it instead of the layer's arguments.
type Geometry =
    { Kernel: int * int
      Dilation: int * int
      Stride: int * int
      /// Zeros added (top, left, bottom, right), `same` and `valid` resolved.
      Padding: int * int * int * int
      /// Channel groups (1 for pooling).
      Groups: int
      Input: int * int
      Output: int * int }

    /// The dilated kernel's span per axis, dilation·(kernel − 1) + 1.
    member g.Extent =
        let (kh, kw), (dh, dw) = g.Kernel, g.Dilation
        dh * (kh - 1) + 1, dw * (kw - 1) + 1

/// What a layer does to a tensor of a given shape, known without running it.
type LayerFacts =
    { Output: Shape
      Parameters: int64
      /// Fused multiply-adds of convolutions and dense layers.
      Macs: int64
      /// Other floating-point operations (normalisation, activations, pooling, merges).
      Flops: int64
      Field: FieldStep
      /// The window of a windowed layer (convolutions, pooling); None for the others.
      Geometry: Geometry option }

type Padding =
    | Explicit of top: int * left: int * bottom: int * right: int
    | SamePadding
    | ValidPadding

/// The arguments of one layer with defaults applied; built only from a checked layer.
type Args(signature: ParamSpec list, given: (string * Value) list) =
    let rec lookup name =
        match List.tryFind (fun (n, _) -> n = name) given with
        | Some (_, v) -> v
        | None ->
            match signature |> List.find (fun p -> p.Name = name) |> fun p -> p.Default with
            | Fixed v -> v
            | SameAs other -> lookup other
            | Required -> invalidArg name "required argument missing after checking"

    member _.Int name =
        match lookup name with
        | Int i -> i
        | v -> invalidArg name (sprintf "%A is not an integer" v)

    member _.Float name =
        match lookup name with
        | Float f -> f
        | Int i -> float i
        | v -> invalidArg name (sprintf "%A is not a number" v)

    member _.Bool name =
        match lookup name with
        | Bool b -> b
        | v -> invalidArg name (sprintf "%A is not a flag" v)

    member _.Word name =
        match lookup name with
        | Word w -> w
        | v -> invalidArg name (sprintf "%A is not a word" v)

    /// A kernel-like pair (height, width).
    member _.Pair name =
        match lookup name with
        | Int i -> i, i
        | Pair (h, w) -> h, w
        | v -> invalidArg name (sprintf "%A is not a size" v)

    member this.Padding name =
        match lookup name with
        | Word "same" -> SamePadding
        | Word "valid" -> ValidPadding
        | _ ->
            let h, w = this.Pair name
            Explicit (h, w, h, w)

    member _.Expr name =
        match lookup name with
        | Expr e -> e
        | v -> invalidArg name (sprintf "%A is not an expression" v)

    /// Named arguments outside the signature: the learnable scalars of an activation expression.
    member _.Scalars =
        given
        |> List.filter (fun (n, _) -> not (signature |> List.exists (fun p -> p.Name = n)))
        |> List.map (fun (n, v) ->
            match v with
            | Float f -> n, f
            | Int i -> n, float i
            | _ -> n, nan)

type LayerKind =
    { Name: string
      Aliases: string list
      Doc: string
      Signature: ParamSpec list
      /// Whether named arguments outside the signature are learnable scalars (activation expressions).
      AcceptsScalars: bool
      Facts: Args -> Shape -> Result<LayerFacts, string> }

module Param =
    let required name argType doc = { Name = name; Type = argType; Default = Required; Doc = doc }
    let optional name argType value doc = { Name = name; Type = argType; Default = Fixed value; Doc = doc }
    let sameAs name argType other doc = { Name = name; Type = argType; Default = SameAs other; Doc = doc }

module Facts =
    /// A layer that keeps its input's shape and acts element by element.
    let pointwise flopsPerElement parameters input =
        { Output = input
          Parameters = parameters
          Macs = 0L
          Flops = flopsPerElement * Shape.elements input
          Field = Pointwise
          Geometry = None }

    let needsSpatial kind input =
        match input with
        | Spatial (c, h, w) -> Ok (c, h, w)
        | Flat n -> Error (sprintf "%s needs a C×H×W input, got a flat vector of %d" kind n)

    /// Output length of a sliding window along one axis (PyTorch's rule, ceil mode included).
    let windowOutput length kernel stride padBefore padAfter ceilMode =
        let span = length + padBefore + padAfter - kernel
        if span < 0 then None
        elif ceilMode then
            let n = (span + stride - 1) / stride + 1
            // The last window must start inside the input or the left padding.
            let n = if (n - 1) * stride >= length + padBefore then n - 1 else n
            Some n
        else Some (span / stride + 1)

    /// Resolves padding into (top, left, bottom, right) for a window of the given extents.
    let resolvePadding padding (h, w) (kh, kw) (sh, sw) =
        match padding with
        | Explicit (t, l, b, r) -> t, l, b, r
        | ValidPadding -> 0, 0, 0, 0
        | SamePadding ->
            // TensorFlow's rule: output = ceil(input / stride), the extra pixel on the bottom/right.
            let total length kernel stride =
                let out = (length + stride - 1) / stride
                max 0 ((out - 1) * stride + kernel - length)
            let th, tw = total h kh sh, total w kw sw
            th / 2, tw / 2, th - th / 2, tw - tw / 2

    let window (kh, kw) (sh, sw) (top, left) =
        Window ((float kh, float kw), (float sh, float sw), (float top, float left))

    /// The window of `kernel` taps `dilation` apart, moved by `stride` over a (h, w) map with the given
    /// padding; None when it does not fit.
    let geometry kernel dilation stride padding ceilMode groups (h, w) =
        let g = { Kernel = kernel; Dilation = dilation; Stride = stride; Padding = (0, 0, 0, 0); Groups = groups; Input = (h, w); Output = (0, 0) }
        let eh, ew = g.Extent
        let sh, sw = stride
        let top, left, bottom, right = resolvePadding padding (h, w) (eh, ew) (sh, sw)
        match windowOutput h eh sh top bottom ceilMode, windowOutput w ew sw left right ceilMode with
        | Some oh, Some ow -> Some { g with Padding = (top, left, bottom, right); Output = (oh, ow) }
        | _ -> None

    /// The field step of a window.
    let fieldOf (g: Geometry) =
        let top, left, _, _ = g.Padding
        window g.Extent g.Stride (top, left)
