/// FsCheck generators of well-typed architectures, public so that users can property-test their own code.
///
/// Everything generated is in normal form, so that what `Printer` prints `Parser` reads back as the same
/// tree: sequences have at least two elements, layers use canonical kind names with their arguments in
/// signature order (learnable scalars last), and every float is finite.
///
/// Register `Arbitraries` with FsCheck, in Expecto as
/// `{ FsCheckConfig.defaultConfig with arbitrary = [ typeof<Arbitraries> ] }`, and write properties over
/// `Architecture`, `ActExpr` or `Program` (docs/generators.md).
module Receptor.Generators

open System
open FsCheck
open FsCheck.FSharp
open Microsoft.FSharp.Reflection
open Receptor.Dsl

/// An architecture expression and an input shape for which it passes `Shapes.checkNode`.
type Architecture = { Input: Shape; Node: Node }

/// Every case of a union type without fields, so that new functions or merges are generated automatically.
let private allCases<'T> : 'T list =
    FSharpType.GetUnionCases typeof<'T>
    |> Array.map (fun case -> FSharpValue.MakeUnion(case, [||]) :?> 'T)
    |> List.ofArray

let private coin = Gen.elements [ true; false ]

/// Numbers as layer arguments and constants take them.
module Numbers =
    /// Finite floats that networks can hold in float32: mostly short decimals, sometimes any such double
    /// (subnormal, huge, negative zero).
    let finite: Gen<float> =
        let decimal =
            Gen.map2 (fun (mantissa: int) (exponent: int) -> float mantissa * Math.Pow(10.0, float exponent))
                (Gen.choose (-1000, 1000)) (Gen.choose (-5, 2))
        let anyFinite =
            ArbMap.defaults |> ArbMap.generate<NormalFloat> |> Gen.map NormalFloat.op_Explicit
            |> Gen.filter (fun f -> abs f <= float Single.MaxValue)
        Gen.frequency [ 4, decimal; 1, anyFinite; 1, Gen.elements [ 0.0; -0.0; 1.0; 0.5; 1e-5; 3e38 ] ]

    /// Reals in [0, 1), as dropout probabilities.
    let fraction: Gen<float> =
        let inHundredths = Gen.map (fun n -> float n / 100.0) (Gen.choose (0, 99))
        let fine = Gen.map (fun n -> float n / 1e9) (Gen.choose (0, 999_999_999))
        Gen.frequency [ 3, inHundredths; 1, fine ]

    /// Simpler floats: 0, then 1; none for 0 itself, so that shrinking ends.
    let shrinkFloat (f: float) =
        if f = 0.0 then [] elif f = 1.0 then [ 0.0 ] else [ 0.0; 1.0 ]

/// Activation expressions over every unary and binary function, constants and named learnable scalars.
module ActExprs =
    let unaryFunctions: UnaryFn list = allCases<UnaryFn>

    let binaryFunctions: BinaryFn list = allCases<BinaryFn>

    /// Names of learnable scalars: never `x`, a function's name or an argument of `act`.
    let scalarNames = [ "a"; "b"; "alpha"; "beta"; "k0"; "slope_1" ]

    let private leaf =
        Gen.frequency
            [ 3, Gen.constant X
              2, Gen.map Const Numbers.finite
              2, Gen.map Scalar (Gen.elements scalarNames) ]

    let rec private ofSize size =
        if size <= 1 then leaf
        else
            let half = ofSize (size / 2)
            Gen.frequency
                [ 2, leaf
                  3, Gen.map2 (fun fn a -> Unary (fn, a)) (Gen.elements unaryFunctions) half
                  3, Gen.map3 (fun fn a b -> Binary (fn, a, b)) (Gen.elements binaryFunctions) half half ]

    let generate: Gen<ActExpr> = Gen.sized (fun size -> ofSize (min size 24))

    /// Towards `x`: the whole to `x`, a constant to 0 or 1, an application to an operand or a simpler one.
    let rec shrink (expression: ActExpr) : ActExpr seq =
        seq {
            match expression with
            | X -> ()
            | Const c ->
                yield X
                yield! Numbers.shrinkFloat c |> List.map Const
            | Scalar _ -> yield X
            | Unary (fn, a) ->
                yield X
                yield a
                for a' in shrink a -> Unary (fn, a')
            | Binary (fn, a, b) ->
                yield X
                yield a
                yield b
                for a' in shrink a -> Binary (fn, a', b)
                for b' in shrink b -> Binary (fn, a, b')
        }

    /// The learnable scalars an expression uses, each once, in order of appearance.
    let scalars (expression: ActExpr) =
        let rec collect e =
            match e with
            | X | Const _ -> []
            | Scalar name -> [ name ]
            | Unary (_, a) -> collect a
            | Binary (_, a, b) -> collect a @ collect b
        collect expression |> List.distinct

/// Output sizes along one axis, written from PyTorch's and TensorFlow's documentation rather than taken
/// from the checker, so that properties can compare the two.
module Geometry =
    /// Outputs of a sliding window.
    let slide length kernel stride before after = (length + before + after - kernel) / stride + 1

    /// PyTorch's ceil mode: round up, but the last window must start inside the input or the left padding.
    let slideCeil length kernel stride before after =
        let n = (length + before + after - kernel + stride - 1) / stride + 1
        if (n - 1) * stride >= length + before then n - 1 else n

    /// TensorFlow's `same` padding: (before, after), giving ceil(length / stride) outputs.
    let samePadding length kernel stride =
        let total = max 0 (((length + stride - 1) / stride - 1) * stride + kernel - length)
        total / 2, total - total / 2

    /// The extent of a kernel with gaps of `dilation − 1` between its taps.
    let dilated kernel dilation = dilation * (kernel - 1) + 1

/// Well-typed architectures for a given input, built while tracking the shape after every node.
module Architectures =
    /// Feature maps do not grow beyond this many rows or columns.
    let maxExtent = 64

    /// Concatenation stops adding channels beyond this many.
    let maxChannels = 48

    /// The generator's size is capped here: larger trees test nothing new and slow every property down.
    let maxSize = 60

    /// Names that `Named` nodes get: not keywords, layer kinds or block names.
    let names = [ "stem"; "stage1"; "stage2"; "block1"; "down"; "head"; "trunk_a" ]

    let private op kind args = Op { Kind = kind; Args = args }

    let private identity = op "identity" []

    let private flatten = op "flatten" []

    let private sequenceOf nodes =
        match nodes with
        | [ single ] -> single
        | nodes -> Seq nodes

    /// Some of the optional arguments, each with probability 1/3, in the order given.
    let private someOf (optional: (string * Gen<Value>) list) : Gen<(string * Value) list> =
        optional
        |> Gen.collectToList (fun (name, value) ->
            Gen.frequency [ 2, Gen.constant None; 1, value |> Gen.map (fun v -> Some (name, v)) ])
        |> Gen.map (List.choose id)

    /// An optional argument: given when it differs from its default, and sometimes when it does not.
    let private unlessDefault name defaultValue value =
        if value <> defaultValue then Gen.constant [ name, value ]
        else Gen.frequency [ 3, Gen.constant []; 1, Gen.constant [ name, value ] ]

    let private floatValue = Gen.map Float Numbers.finite

    let private bias = someOf [ "bias", Gen.map Bool coin ]

    let private divisors n = [ 1 .. min n maxExtent ] |> List.filter (fun d -> n % d = 0)

    /// A size written as `k` or `h x w`; a square one now and then as `k x k`.
    let private sizeValue (h, w) =
        if h <> w then Gen.constant (Pair (h, w))
        else Gen.frequency [ 5, Gen.constant (Int h); 1, Gen.constant (Pair (h, h)) ]

    /// A value per axis (height, width) from low up to each axis's bound; the same on both three times in four.
    let private perAxis low (highH, highW) =
        Gen.frequency
            [ 3, Gen.choose (low, min highH highW) |> Gen.map (fun v -> v, v)
              1, Gen.zip (Gen.choose (low, highH)) (Gen.choose (low, highW)) ]

    /// (1, 1) two times in three, otherwise values per axis up to `high`: strides and dilations.
    let private unitOrUpTo high = Gen.frequency [ 2, Gen.constant (1, 1); 1, perAxis 1 (high, high) ]

    type private PaddingStyle =
        | Omitted
        | Explicit
        | SameStyle
        | ValidStyle

    let private paddingArgument style explicitPadding =
        match style with
        | Omitted -> Gen.constant []
        | Explicit -> sizeValue explicitPadding |> Gen.map (fun v -> [ "padding", v ])
        | SameStyle -> Gen.constant [ "padding", Word "same" ]
        | ValidStyle -> Gen.constant [ "padding", Word "valid" ]

    /// A convolution window for an (h, w) input: the kernel, the `stride, padding, dilation` arguments
    /// and the output (h, w).
    let private convolutionWindow (extent: int * int) =
        gen {
            let! stride = unitOrUpTo 3
            let! dilation = unitOrUpTo 2
            let! style = Gen.elements [ Omitted; Explicit; SameStyle; ValidStyle ]
            let! padding = if style = Explicit then perAxis 0 (3, 3) else Gen.constant (0, 0)
            let largestKernel (axis: int * int -> int) =
                if style = SameStyle then 7
                else min 7 ((axis extent + 2 * axis padding - 1) / axis dilation + 1)
            let! kernel = perAxis 1 (largestKernel fst, largestKernel snd)
            let outputs (axis: int * int -> int) =
                let length, s = axis extent, axis stride
                if style = SameStyle then (length + s - 1) / s
                else Geometry.slide length (Geometry.dilated (axis kernel) (axis dilation)) s (axis padding) (axis padding)
            let! kernelValue = sizeValue kernel
            let! strideArg = sizeValue stride |> Gen.bind (unlessDefault "stride" (Int 1))
            let! paddingArg = paddingArgument style padding
            let! dilationArg = sizeValue dilation |> Gen.bind (unlessDefault "dilation" (Int 1))
            return kernelValue, strideArg @ paddingArg @ dilationArg, (outputs fst, outputs snd)
        }

    /// A convolution-like layer of `kind` with at most `budget` output channels per group.
    let private convolutionOf kind budget (c, h, w) =
        gen {
            let! kernel, window, (oh, ow) = convolutionWindow (h, w)
            let! groups = Gen.frequency [ 3, Gen.constant 1; 1, Gen.elements (divisors c) ]
            let! multiple = Gen.choose (1, max 1 (budget / groups))
            let out = groups * multiple
            let! groupsArg = unlessDefault "groups" (Int 1) (Int groups)
            let! biasArg = bias
            return op kind ([ "kernel", kernel; "out", Int out ] @ window @ groupsArg @ biasArg), Spatial (out, oh, ow)
        }

    let private conv = convolutionOf "conv" 16

    /// A dendritic convolution rectifies the input once per connection: few output channels keep it small.
    let private dendconv = convolutionOf "dendconv" 8

    let private dwconv (c, h, w) =
        gen {
            let! kernel, window, (oh, ow) = convolutionWindow (h, w)
            let! multiplier = Gen.choose (1, max 1 (min 2 (maxChannels / c)))
            let! multiplierArg = unlessDefault "multiplier" (Int 1) (Int multiplier)
            let! biasArg = bias
            return op "dwconv" ([ "kernel", kernel ] @ multiplierArg @ window @ biasArg), Spatial (c * multiplier, oh, ow)
        }

    let private sepconv (_, h, w) =
        gen {
            let! kernel, window, (oh, ow) = convolutionWindow (h, w)
            let! out = Gen.choose (1, 16)
            let! biasArg = bias
            return op "sepconv" ([ "kernel", kernel; "out", Int out ] @ window @ biasArg), Spatial (out, oh, ow)
        }

    /// Deformable convolution: a convolution's window and groups, v1 or v2.
    let private deform (c, h, w) =
        gen {
            let! kernel, window, (oh, ow) = convolutionWindow (h, w)
            let! groups = Gen.frequency [ 3, Gen.constant 1; 1, Gen.elements (divisors c) ]
            let! multiple = Gen.choose (1, max 1 (8 / groups))
            let out = groups * multiple
            let! groupsArg = unlessDefault "groups" (Int 1) (Int groups)
            let! modulatedArg = someOf [ "modulated", Gen.map Bool coin ]
            let! biasArg = bias
            return
                op "deform" ([ "kernel", kernel; "out", Int out ] @ window @ groupsArg @ modulatedArg @ biasArg),
                Spatial (out, oh, ow)
        }

    /// DCLS: 2 or 3 elements per axis in a dilated size up to 9 that fits the padded input (else `same`).
    let private dcls (c, h, w) =
        gen {
            let! elements = perAxis 2 (3, 3)
            let! stride = unitOrUpTo 3
            let! style = Gen.elements [ Omitted; Explicit; SameStyle; ValidStyle ]
            let! padding = if style = Explicit then perAxis 0 (3, 3) else Gen.constant (0, 0)
            let room (axis: int * int -> int) = axis (h, w) + 2 * axis padding
            let style = if style <> SameStyle && (room fst < fst elements || room snd < snd elements) then SameStyle else style
            let largest (axis: int * int -> int) = if style = SameStyle then 9 else min 9 (room axis)
            let! size = Gen.zip (Gen.choose (fst elements, largest fst)) (Gen.choose (snd elements, largest snd))
            let outputs (axis: int * int -> int) =
                let length, s = axis (h, w), axis stride
                if style = SameStyle then (length + s - 1) / s
                else Geometry.slide length (axis size) s (axis padding) (axis padding)
            let! groups = Gen.frequency [ 3, Gen.constant 1; 1, Gen.elements (divisors c) ]
            let! multiple = Gen.choose (1, max 1 (8 / groups))
            let out = groups * multiple
            let! elementsValue = sizeValue elements
            let! sizeArg = sizeValue size
            let! strideArg = sizeValue stride |> Gen.bind (unlessDefault "stride" (Int 1))
            let! paddingArg = paddingArgument style padding
            let! groupsArg = unlessDefault "groups" (Int 1) (Int groups)
            let! biasArg = bias
            return
                op "dcls" ([ "kernel_count", elementsValue; "out", Int out; "dilated_size", sizeArg ] @ strideArg @ paddingArg @ groupsArg @ biasArg),
                Spatial (out, outputs fst, outputs snd)
        }

    /// Selective kernel: groups dividing both channel counts (always given: the default 32 rarely divides),
    /// a compact width of at most 8.
    let private sk (c, h, w) =
        gen {
            let! groups = Gen.elements (divisors c)
            let! multiple = Gen.choose (1, max 1 (16 / groups))
            let out = groups * multiple
            let! optional = someOf [ "branches", Gen.choose (1, 3) |> Gen.map Int; "reduction", Gen.choose (1, 16) |> Gen.map Int ]
            let! minimum = Gen.choose (1, 8)
            let! stride = Gen.choose (1, 2)
            let! strideArg = unlessDefault "stride" (Int 1) (Int stride)
            return
                op "sk" ([ "out", Int out ] @ optional @ [ "minimum", Int minimum; "groups", Int groups ] @ strideArg),
                Spatial (out, (h - 1) / stride + 1, (w - 1) / stride + 1)
        }

    /// A nonlocal operator (fractional Laplacian, its inverse, weighted Laplacian), on maps of at most 256
    /// positions: its moment rule costs (H·W)³.
    let private nonlocal (c, h, w) =
        gen {
            let! kind = Gen.elements [ "fraclap"; "invfraclap"; "weightedlap" ]
            let! order = if kind = "weightedlap" then Gen.constant [] else someOf [ "s", Gen.choose (1, 10) |> Gen.map (fun i -> Float (float i / 10.0)) ]
            let! shared = someOf [ "shared", Gen.map Bool coin ]
            return op kind (order @ shared), Spatial (c, h, w)
        }

    /// Max or average pooling with a window that fits, padding at most half the kernel, either rounding.
    let private pool kind (c, h, w) =
        gen {
            let! kernel = perAxis 1 (min 5 h, min 5 w)
            let! givenStride = Gen.frequency [ 1, Gen.constant None; 2, perAxis 1 (3, 3) |> Gen.map Some ]
            let stride = givenStride |> Option.defaultValue kernel
            let samePads (axis: int * int -> int) = Geometry.samePadding (axis (h, w)) (axis kernel) (axis stride)
            let sameFits (axis: int * int -> int) =
                let before, after = samePads axis
                2 * max before after <= axis kernel
            let! style = Gen.elements [ Omitted; Explicit; SameStyle; ValidStyle ]
            let style = if style = SameStyle && not (sameFits fst && sameFits snd) then Omitted else style
            let! explicitPadding = perAxis 0 (fst kernel / 2, snd kernel / 2)
            let! ceil = coin
            let outputs (axis: int * int -> int) =
                let before, after =
                    match style with
                    | SameStyle -> samePads axis
                    | Explicit -> axis explicitPadding, axis explicitPadding
                    | Omitted | ValidStyle -> 0, 0
                let slide = if ceil then Geometry.slideCeil else Geometry.slide
                slide (axis (h, w)) (axis kernel) (axis stride) before after
            let! kernelValue = sizeValue kernel
            let! strideArg =
                match givenStride with
                | Some s -> sizeValue s |> Gen.map (fun v -> [ "stride", v ])
                | None -> Gen.constant []
            let! paddingArg = paddingArgument style explicitPadding
            let! ceilArg = unlessDefault "ceil" (Bool false) (Bool ceil)
            let! countpadArg = if kind = "avgpool" then someOf [ "countpad", Gen.map Bool coin ] else Gen.constant []
            let args = [ "kernel", kernelValue ] @ strideArg @ paddingArg @ ceilArg @ countpadArg
            return op kind args, Spatial (c, outputs fst, outputs snd)
        }

    let private globalPool (c, _, _) =
        Gen.elements [ "gavgpool"; "gmaxpool" ] |> Gen.map (fun kind -> op kind [], Spatial (c, 1, 1))

    let private adaptiveAveragePool (c, h, w) =
        gen {
            let! oh, ow = perAxis 1 (min 8 (2 * h), min 8 (2 * w))
            let! size = sizeValue (oh, ow)
            return op "adaptiveavgpool" [ "size", size ], Spatial (c, oh, ow)
        }

    /// DynOPool at a scale that prints exactly; its output is ⌈scale·H⌉ × ⌈scale·W⌉.
    let private dynopool (c, h, w) =
        Gen.elements [ 0.35; 0.5; 0.6; 0.75; 1.0 ]
        |> Gen.map (fun r ->
            let length = Receptor.Dsl.Layers.DynOPool.outputLength r
            op "dynopool" [ "scale", Float r ], Spatial (c, length h, length w))

    let private zeropad (c, h, w) =
        gen {
            let! ph, pw = perAxis 1 (2, 2)
            let! padding = sizeValue (ph, pw)
            return op "zeropad" [ "padding", padding ], Spatial (c, h + 2 * ph, w + 2 * pw)
        }

    let private upsample (c, h, w) =
        gen {
            let! factor = Gen.choose (1, max 1 (min 3 (maxExtent / max h w)))
            let! mode = someOf [ "mode", Gen.elements [ Word "nearest"; Word "bilinear" ] ]
            return op "upsample" ([ "factor", Int factor ] @ mode), Spatial (c, h * factor, w * factor)
        }

    let private shuffle (c, h, w) =
        Gen.elements (divisors c) |> Gen.map (fun groups -> op "shuffle" [ "groups", Int groups ], Spatial (c, h, w))

    let private dense () =
        gen {
            let! out = Gen.choose (1, 32)
            let! biasArg = bias
            return op "dense" ([ "out", Int out ] @ biasArg), Flat out
        }

    let private dendense () =
        gen {
            let! out = Gen.choose (1, 8)
            let! biasArg = bias
            return op "dendense" ([ "out", Int out ] @ biasArg), Flat out
        }

    /// A value for an argument whose type alone says what it accepts, if there is such a value.
    let private valueOf argType =
        match argType with
        | Number -> Some floatValue
        | Fraction -> Some (Gen.map Float Numbers.fraction)
        | Flag -> Some (Gen.map Bool coin)
        | OneOf words -> Some (Gen.elements (List.map Word words))
        | PositiveInt | NaturalInt | KernelSize | PaddingSpec | Activation -> None

    /// Arguments for parameters whose types alone say what they accept: all the required ones and some of
    /// the optional ones, taken from the signature so that new kinds of that sort need no change here.
    let private argumentsFor (parameters: ParamSpec list) =
        let required, optional = parameters |> List.partition (fun p -> p.Default = Required)
        let generated = List.choose (fun (p: ParamSpec) -> valueOf p.Type |> Option.map (fun value -> p.Name, value))
        Gen.map2 (@)
            (generated required |> Gen.collectToList (fun (name, value) -> value |> Gen.map (fun v -> name, v)))
            (someOf (generated optional))

    let private fromSignature (kind: LayerKind) = argumentsFor kind.Signature |> Gen.map (op kind.Name)

    /// Every activation but `act`, whose expression and scalars are generated apart.
    let private namedActivations = Layers.Activations.kinds |> List.filter (fun kind -> kind.Name <> "act")

    /// Activations, normalisations, dropout, scaling and identity: layers that keep any shape.
    let pointwise (shape: Shape) : Gen<Node> =
        let expressionActivation =
            gen {
                let! expression = ActExprs.generate
                let scalars = ActExprs.scalars expression
                let! values = Gen.listOfLength scalars.Length floatValue
                return op "act" (("f", Expr expression) :: List.zip scalars values)
            }
        let groupnorm =
            gen {
                let! groups = Gen.elements (divisors (Shape.channels shape))
                let! affine = argumentsFor Layers.Normalisation.groupnorm.Signature
                return op "groupnorm" (("groups", Int groups) :: affine)
            }
        let oneOf kinds = kinds |> List.map fromSignature |> Gen.oneof
        Gen.frequency
            [ 6, oneOf namedActivations
              2, expressionActivation
              3, oneOf [ Layers.Normalisation.batchnorm; Layers.Normalisation.layernorm ]
              1, groupnorm
              2, oneOf [ Layers.Structural.dropout; Layers.Structural.scale; Layers.Structural.identity ] ]

    let private keeping shape (node: Gen<Node>) = node |> Gen.map (fun n -> n, shape)

    /// One layer of any kind that accepts the shape, with its output; `flatten` only where allowed.
    let layer allowFlat (shape: Shape) : Gen<Node * Shape> =
        match shape with
        | Flat _ -> Gen.frequency [ 3, pointwise shape |> keeping shape; 1, dense (); 1, dendense () ]
        | Spatial (c, h, w) ->
            let chw = c, h, w
            Gen.frequency
                [ yield 4, pointwise shape |> keeping shape
                  yield 3, conv chw
                  yield 1, dwconv chw
                  yield 1, sepconv chw
                  yield 1, deform chw
                  yield 1, dcls chw
                  yield 1, sk chw
                  yield 1, dendconv chw
                  if h * w <= 256 then yield 1, nonlocal chw
                  yield 1, pool "maxpool" chw
                  yield 1, pool "avgpool" chw
                  yield 1, adaptiveAveragePool chw
                  yield 1, dynopool chw
                  yield 1, globalPool chw
                  yield 1, shuffle chw
                  if h + 4 <= maxExtent && w + 4 <= maxExtent then yield 1, zeropad chw
                  if 2 * max h w <= maxExtent then yield 1, upsample chw
                  if allowFlat then yield 1, Gen.constant (flatten, Flat (c * h * w)) ]

    /// The stride s with ceil(length / s) = outputs, if there is one.
    let private strideTo length outputs = [ 1 .. length ] |> List.tryFind (fun s -> (length + s - 1) / s = outputs)

    /// A few layers from `input` to exactly `target`; a flat input has no way back to C×H×W.
    let projection (input: Shape) (target: Shape) : Gen<Node> =
        let pointwiseConv channels = op "conv" [ "kernel", Int 1; "out", Int channels ]
        match input, target with
        | _ when input = target -> Gen.frequency [ 1, Gen.constant identity; 3, pointwise input ]
        | Flat _, Flat n -> Gen.constant (op "dense" [ "out", Int n ])
        | Flat _, Spatial _ -> invalidArg (nameof target) "a flat vector cannot be projected to C×H×W"
        | Spatial (c, h, w), Flat n when c * h * w = n -> Gen.constant flatten
        | Spatial _, Flat n ->
            let toFeatures = op "dense" [ "out", Int n ]
            Gen.elements [ Seq [ flatten; toFeatures ]; Seq [ op "gavgpool" []; flatten; toFeatures ] ]
        | Spatial (c, h, w), Spatial (c', h', w') when (h, w) = (h', w') ->
            Gen.oneof
                [ Gen.constant (pointwiseConv c')
                  Gen.choose (1, 5) |> Gen.map (fun k -> op "conv" [ "kernel", Int k; "out", Int c'; "padding", Word "same" ])
                  Gen.choose (0, 2) |> Gen.map (fun p -> op "conv" [ "kernel", Int (2 * p + 1); "out", Int c'; "padding", Int p ])
                  Gen.constant (op "sepconv" [ "kernel", Int 3; "out", Int c'; "padding", Word "same" ]) ]
        | Spatial (c, h, w), Spatial (c', h', w') ->
            let toChannels = if c = c' then [] else [ pointwiseConv c' ]
            match strideTo h h', strideTo w w' with
            | Some sh, Some sw ->
                Gen.map2 (fun kernel stride -> op "conv" [ "kernel", Int kernel; "out", Int c'; "stride", stride; "padding", Word "same" ])
                    (Gen.choose (1, 3)) (sizeValue (sh, sw))
            | _ when h' = 2 * h && w' = 2 * w ->
                Gen.constant (sequenceOf (op "upsample" [ "factor", Int 2 ] :: toChannels))
            | _ ->
                sizeValue (h', w')
                |> Gen.map (fun size -> sequenceOf (op "adaptiveavgpool" [ "size", size ] :: toChannels))

    let private merges: Merge list = allCases<Merge>

    /// A node for `shape` and its output. Sizes shrink on the way down, so that every tree is finite.
    let rec private node allowFlat size shape : Gen<Node * Shape> =
        if size <= 1 then layer allowFlat shape
        else
            Gen.frequency
                [ 3, layer allowFlat shape
                  4, sequence allowFlat size shape
                  2, branches allowFlat size shape
                  2, residual allowFlat size shape
                  1, repeat size shape
                  1, named allowFlat size shape ]

    and private chain allowFlat size count shape : Gen<Node list * Shape> =
        if count = 0 then Gen.constant ([], shape)
        else
            gen {
                let! first, next = node allowFlat size shape
                let! rest, output = chain allowFlat size (count - 1) next
                return first :: rest, output
            }

    and private sequence allowFlat size shape =
        gen {
            let! count = Gen.choose (2, 4)
            let! nodes, output = chain allowFlat (size / count) count shape
            return Seq nodes, output
        }

    /// A node from `input` to exactly `target`: a projection, or anything followed by one.
    and private nodeTo size input target : Gen<Node> =
        let allowFlat = match target with Flat _ -> true | Spatial _ -> false
        let anythingThenProjection =
            gen {
                let! first, middle = node allowFlat (size / 2) input
                if middle = target then return first
                else
                    let! last = projection middle target
                    return Seq [ first; last ]
            }
        if size <= 1 then projection input target
        else Gen.frequency [ 1, projection input target; 2, anythingThenProjection ]

    /// Two or three branches: add-like merges get branches of equal shapes, concat ones of equal H×W.
    and private branches allowFlat size shape =
        gen {
            let! count = Gen.choose (2, 3)
            let share = size / (count + 1)
            let! first, output = node allowFlat share shape
            let! merge = Gen.elements merges
            match merge, output with
            | Concat, Spatial (c, h, w) when c <= maxChannels - 8 * (count - 1) ->
                let! channels = Gen.listOfLength (count - 1) (Gen.choose (1, 8))
                let! others = channels |> Gen.collectToList (fun k -> nodeTo share shape (Spatial (k, h, w)))
                return Branches (Concat, first :: others), Spatial (c + List.sum channels, h, w)
            | Concat, Flat n ->
                let! features = Gen.listOfLength (count - 1) (Gen.choose (1, 32))
                let! others = features |> Gen.collectToList (fun k -> nodeTo share shape (Flat k))
                return Branches (Concat, first :: others), Flat (n + List.sum features)
            | _ ->
                let merge = if merge = Concat then Add else merge
                let! others = Gen.listOfLength (count - 1) (nodeTo share shape output)
                return Branches (merge, first :: others), output
        }

    /// An identity shortcut around a shape-preserving body, or a projection shortcut; sometimes scaled.
    and private residual allowFlat size shape =
        gen {
            let! scale = Gen.frequency [ 3, Gen.constant None; 1, Gen.map Some floatValue ]
            let! projected = Gen.frequency [ 2, Gen.constant false; 1, Gen.constant true ]
            if projected then
                let! body, output = node allowFlat (size / 2) shape
                let! shortcut = nodeTo (size / 4) shape output
                return Residual (body, Some shortcut, scale), output
            else
                let! body = nodeTo (size - 1) shape shape
                return Residual (body, None, scale), shape
        }

    and private repeat size shape =
        gen {
            let! count = Gen.choose (1, 3)
            let! body = nodeTo (size / 2) shape shape
            return Repeat (Int count, body), shape
        }

    and private named allowFlat size shape =
        gen {
            let! name = Gen.elements names
            let! body, output = node allowFlat (size - 1) shape
            return Named (name, body), output
        }

    let private capped (build: int -> Gen<'a>) = Gen.sized (fun size -> build (min size maxSize))

    /// C×H×W inputs with 1..8 channels and 8..32 rows and columns, square half of the time.
    let input: Gen<Shape> =
        gen {
            let! c = Gen.choose (1, 8)
            let! h = Gen.choose (8, 32)
            let! w = Gen.frequency [ 1, Gen.constant h; 1, Gen.choose (8, 32) ]
            return Spatial (c, h, w)
        }

    /// A node well-typed for `input`, with the output shape the generator expects. A quarter of those
    /// with a C×H×W output end in a `flatten >> dense` head.
    let typed (input: Shape) : Gen<Node * Shape> =
        capped (fun size ->
            gen {
                let! body, output = node true size input
                let! withHead = Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]
                match output with
                | Spatial _ when withHead ->
                    let! head, features = dense ()
                    return Seq [ body; flatten; head ], features
                | _ -> return body, output
            })

    /// A node well-typed for `input` whose output is still a C×H×W feature map.
    let featureMap (input: Shape) : Gen<Node * Shape> = capped (fun size -> node false size input)

    /// A node from `input` to exactly `target` (C×H×W targets need C×H×W inputs).
    let towards (input: Shape) (target: Shape) : Gen<Node> = capped (fun size -> nodeTo size input target)

    let private architecture (build: Shape -> Gen<Node * Shape>) =
        gen {
            let! shape = input
            let! body, _ = build shape
            return { Input = shape; Node = body }
        }

    /// Architectures for random inputs; some end in flat vectors.
    let generate: Gen<Architecture> = architecture typed

    /// Architectures for random inputs that end in a C×H×W feature map.
    let generateFeatureMaps: Gen<Architecture> = architecture featureMap

    /// Lists with one element left out.
    let private withoutOne items = items |> List.mapi (fun i _ -> List.removeAt i items)

    /// Lists with one element replaced by one of its simplifications.
    let private replacingOne (simplify: 'a -> 'a seq) (items: 'a list) =
        items
        |> Seq.indexed
        |> Seq.collect (fun (i, item) -> simplify item |> Seq.map (fun simpler -> List.updateAt i simpler items))

    let private simplerValues value : Value seq =
        match value with
        | Int n when n > 1 -> Seq.singleton (Int 1)
        | Pair (h, w) -> Seq.singleton (Int (min h w))
        | Float f -> Numbers.shrinkFloat f |> Seq.map Float
        | Bool true -> Seq.singleton (Bool false)
        | Expr e -> ActExprs.shrink e |> Seq.map Expr
        | _ -> Seq.empty

    /// The layer without one of its optional arguments, or with one simpler value.
    let private simplerLayers (layer: Layer) : Layer seq =
        let isRequired name =
            Registry.tryFind layer.Kind
            |> Option.exists (fun kind -> kind.Signature |> List.exists (fun p -> p.Name = name && p.Default = Required))
        seq {
            for i, (name, _) in List.indexed layer.Args do
                if not (isRequired name) then yield { layer with Args = List.removeAt i layer.Args }
            for args in layer.Args |> replacingOne (fun (name, v) -> simplerValues v |> Seq.map (fun v' -> name, v')) ->
                { layer with Args = args }
        }

    /// Trees one local simplification smaller, biggest steps first: the whole to `identity`, a node to one
    /// of its children, fewer elements or branches, no shortcut or scale, fewer repeats, simpler layers.
    /// They keep the normal form but need not be well-typed.
    let rec simplifications (tree: Node) : Node seq =
        seq {
            if tree <> identity then yield identity
            match tree with
            | Op layer -> yield! simplerLayers layer |> Seq.map Op
            | Seq nodes ->
                if nodes.Length > 2 then yield! nodes
                yield! withoutOne nodes |> Seq.map sequenceOf
                yield! replacingOne simplifications nodes |> Seq.map Seq
            | Branches (merge, nodes) ->
                yield! nodes
                if nodes.Length > 1 then yield! withoutOne nodes |> Seq.map (fun rest -> Branches (merge, rest))
                yield! replacingOne simplifications nodes |> Seq.map (fun nodes -> Branches (merge, nodes))
            | Residual (body, shortcut, scale) ->
                yield body
                yield! Option.toList shortcut
                if shortcut.IsSome then yield Residual (body, None, scale)
                if scale.IsSome then yield Residual (body, shortcut, None)
                for body' in simplifications body -> Residual (body', shortcut, scale)
                for shortcut' in shortcut |> Option.map simplifications |> Option.defaultValue Seq.empty ->
                    Residual (body, Some shortcut', scale)
            | Repeat (count, body) ->
                yield body
                if count <> Int 1 then yield Repeat (Int 1, body)
                for body' in simplifications body -> Repeat (count, body')
            | Named (name, body) ->
                yield body
                for body' in simplifications body -> Named (name, body')
            | Call _ | Choice _ -> ()
        }

    /// The checker's output shape for a tree, if it is well-typed.
    let outputFor (input: Shape) (tree: Node) =
        Shapes.checkNode input tree |> Result.toOption |> Option.map (Checked.output input)

    /// Well-typed simplifications for the same input whose output satisfies `keep`.
    let private shrinkKeeping (keep: Shape -> bool) (architecture: Architecture) =
        simplifications architecture.Node
        |> Seq.filter (outputFor architecture.Input >> Option.exists keep)
        |> Seq.map (fun simpler -> { architecture with Node = simpler })

    let shrink: Architecture -> Architecture seq = shrinkKeeping (fun _ -> true)

    let shrinkFeatureMap: Architecture -> Architecture seq =
        shrinkKeeping (function Spatial _ -> true | Flat _ -> false)

    let arbitrary: Arbitrary<Architecture> = Arb.fromGenShrink (generate, shrink)

    /// Architectures ending in C×H×W feature maps, for properties that append convolutions.
    let featureMapArbitrary: Arbitrary<Architecture> = Arb.fromGenShrink (generateFeatureMaps, shrinkFeatureMap)

/// Whole programs with parameterised blocks. Every block maps any C×H×W input to `c`×H×W, where `c` is
/// its first parameter; blocks with a second parameter `k` use odd kernels `2 * k + 1` padded by `k`.
module Programs =
    let private c = Var "c"

    let private k = Var "k"

    let private op kind args = Op { Kind = kind; Args = args }

    let private conv kernel out padding = op "conv" [ "kernel", kernel; "out", out; "padding", padding ]

    let private oddKernel = Arith (Plus, Arith (Times, Int 2, k), Int 1)

    type private Signature = { Name: string; TakesK: bool }

    /// The first layers of a block: from any channel count to `c`.
    let private heads takesK =
        [ yield [ op "conv" [ "kernel", Int 1; "out", c ] ]
          yield [ conv (Int 3) c (Int 1) ]
          yield [ op "sepconv" [ "kernel", Int 3; "out", c; "padding", Word "same" ] ]
          yield [ op "conv" [ "kernel", Int 1; "out", Arith (Times, c, Int 2) ]; op "conv" [ "kernel", Int 1; "out", c ] ]
          if takesK then yield [ conv oddKernel c k ] ]

    let private callOf (earlier: Signature) takesK =
        let second = if takesK then Gen.constant k else Gen.choose (0, 2) |> Gen.map Int
        if earlier.TakesK then second |> Gen.map (fun kValue -> Call (earlier.Name, [ c; kValue ]))
        else Gen.constant (Call (earlier.Name, [ c ]))

    /// Nodes from `c`×H×W to `c`×H×W: layers, residuals, arithmetic on parameters and earlier blocks.
    let private middles takesK (earlier: Signature list) : Gen<Node> list =
        [ yield Architectures.pointwise (Flat 1)
          yield Gen.constant (Residual (Seq [ conv (Int 3) c (Int 1); op "relu" [] ], None, None))
          yield
              Gen.constant (
                  Residual (
                      Seq
                          [ op "conv" [ "kernel", Int 1; "out", Arith (Divide, Arith (Times, c, Int 4), Int 2) ]
                            op "relu" []
                            op "conv" [ "kernel", Int 1; "out", Arith (Minus, Arith (Plus, c, Int 1), Int 1) ] ],
                      None,
                      Some (Float 0.5)
                  )
              )
          if takesK then
              yield Gen.constant (op "dwconv" [ "kernel", oddKernel; "padding", k ])
              yield Gen.constant (Repeat (Arith (Plus, k, Int 1), op "relu" []))
          for block in earlier -> callOf block takesK ]

    let private block index (earlier: Signature list) : Gen<Block * Signature> =
        gen {
            let! takesK = coin
            let signature = { Name = sprintf "unit%d" index; TakesK = takesK }
            let! head = Gen.elements (heads takesK)
            let! middleCount = Gen.choose (0, 3)
            let! rest = Gen.listOfLength middleCount (Gen.oneof (middles takesK earlier))
            let parameters = if takesK then [ "c"; "k" ] else [ "c" ]
            let body =
                match head @ rest with
                | [ single ] -> single
                | nodes -> Seq nodes
            return { Name = signature.Name; Parameters = parameters; Body = body }, signature
        }

    let rec private blocks index (earlier: Signature list) count : Gen<Block list * Signature list> =
        if count = 0 then Gen.constant ([], List.rev earlier)
        else
            gen {
                let! first, signature = block index earlier
                let! rest, signatures = blocks (index + 1) (signature :: earlier) (count - 1)
                return first :: rest, signatures
            }

    /// A call with concrete arguments, some of them arithmetic, and the channels it produces.
    let private concreteCall (signatures: Signature list) : Gen<Node * int> =
        gen {
            let! signature = Gen.elements signatures
            let! channels = Gen.choose (1, 8)
            let! channelArg = Gen.elements [ Int channels; Arith (Times, Int channels, Int 1) ]
            let! kArg = Gen.choose (0, 2)
            let args = if signature.TakesK then [ channelArg; Int kArg ] else [ channelArg ]
            let call = Call (signature.Name, args)
            let! wrapped =
                Gen.frequency
                    [ 3, Gen.constant call
                      1, Gen.elements Architectures.names |> Gen.map (fun name -> Named (name, call))
                      1, Gen.constant (Repeat (Int 2, call)) ]
            return wrapped, channels
        }

    let private withChannels channels shape =
        match shape with
        | Spatial (_, h, w) -> Spatial (channels, h, w)
        | Flat _ -> Flat channels

    /// Half of the time a parameterless block `stem` holding a generated architecture, and its output.
    let private stem input : Gen<Block option * Shape> =
        Gen.frequency
            [ 1, Gen.constant (None, input)
              1,
              Architectures.featureMap input
              |> Gen.map (fun (body, output) -> Some { Name = "stem"; Parameters = []; Body = body }, output) ]

    /// Programs of an optional stem and one to three parameterised blocks, a body calling them and, half of
    /// the time, a generated architecture after the calls.
    let generate: Gen<Program> =
        gen {
            let! input = Architectures.input
            let! stemBlock, afterStem = stem input
            let! blockCount = Gen.choose (1, 3)
            let! blocks, signatures = blocks 1 [] blockCount
            let! callCount = Gen.choose (1, 3)
            let! calls = Gen.listOfLength callCount (concreteCall signatures)
            let! tail = Architectures.typed (withChannels (calls |> List.last |> snd) afterStem)
            let! withTail = coin
            let stemCall = stemBlock |> Option.map (fun b -> Call (b.Name, [])) |> Option.toList
            let body =
                match stemCall @ List.map fst calls @ (if withTail then [ fst tail ] else []) with
                | [ single ] -> single
                | nodes -> Seq nodes
            return { Name = "net"; Input = input; Blocks = Option.toList stemBlock @ blocks; Body = body }
        }

    let private isWellTyped (program: Program) = Shapes.checkProgram program |> Result.isOk

    /// Well-typed programs with one block fewer, a simpler body or a simpler block.
    let shrink (program: Program) : Program seq =
        seq {
            for blocks in program.Blocks |> List.mapi (fun i _ -> List.removeAt i program.Blocks) ->
                { program with Blocks = blocks }
            for body in Architectures.simplifications program.Body -> { program with Body = body }
            for i, block in List.indexed program.Blocks do
                for body in Architectures.simplifications block.Body ->
                    { program with Blocks = List.updateAt i { block with Body = body } program.Blocks }
        }
        |> Seq.filter isWellTyped

    let arbitrary: Arbitrary<Program> = Arb.fromGenShrink (generate, shrink)

/// The default arbitraries: register with `arbitrary = [ typeof<Arbitraries> ]`.
type Arbitraries =
    static member ActExpr() : Arbitrary<ActExpr> = Arb.fromGenShrink (ActExprs.generate, ActExprs.shrink)

    static member Architecture() : Arbitrary<Architecture> = Architectures.arbitrary

    static member Program() : Arbitrary<Program> = Programs.arbitrary
