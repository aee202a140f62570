/// The embedded F# form of the language. Every combinator builds the tree that the text syntax parses to,
/// and is documented by what it equals (≡): an equal tree, or, where the trees differ (`residual`,
/// `repeat`), the same network: the same output shape, parameters, MACs, FLOPs and receptive field, as
/// Properties' combinator equivalences check.
///
///   a --> b                ≡ Seq [a; b], flattened, so (a --> b) --> c ≡ a --> (b --> c)  text `a >> b`
///   conv 3 64              ≡ layer "conv" [ "kernel", Int 3; "out", Int 64 ]              text `conv(3, 64)`
///   conv 3 64 |> stride 2  ≡ withArg "stride" (Int 2) (conv 3 64)                         text `conv(3, 64, stride=2)`
///   branches [a; b] |> add ≡ add [a; b] ≡ Branches (Add, [a; b])                          text `add(a, b)`
///   residual f             ≡ add [identity; f]                                            text `residual(f)`
///   repeat n f             ≡ f --> f --> … --> f (n times)                                text `repeat(n, f)`
///
/// ```fsharp
/// open Receptor.Dsl.Combinators
/// let block c = residual ((conv 3 c |> padding 1) --> bn --> relu --> (conv 3 c |> padding 1) --> bn) --> relu
/// let net = (conv 3 16 |> padding 1) --> repeat 3 (block 16) --> gavgpool --> flatten --> dense 10
/// ```
module Receptor.Dsl.Combinators

open Receptor.Dsl

// ------------------------------------------------------------------------------------------- composition

/// Sequential composition (DiffSharp's arrow): `a --> b` ≡ `Seq [a; b]`, with sequences on either side
/// flattened into the result, so that `(a --> b) --> c` ≡ `a --> (b --> c)` ≡ `Seq [a; b; c]`. Text `a >> b`.
val (-->): first: Node -> second: Node -> Node

// ------------------------------------------------------------------------------------------------ layers

/// `layer kind args` ≡ `Op { Kind = name; Args = args }` with the arguments ordered as the kind's signature
/// orders them (names outside it last: act's scalars, or mistakes that checking rejects) and `name` the kind's
/// canonical name, an alias resolved: text `kind(args)`. An unknown kind is a programming error (`ArgumentException`).
val layer: kind: string -> args: (string * Value) list -> Node

/// `withArg name v (layer kind args)` ≡ `layer kind ((name, v) :: args without name)`: sets, or replaces, one
/// argument of a layer, as `name=v` in the text syntax. Applied to anything but a layer it is a programming
/// error (`ArgumentException`).
val withArg: name: string -> value: Value -> node: Node -> Node

/// `conv k n` ≡ `layer "conv" [ "kernel", Int k; "out", Int n ]`, text `conv(k, n)`: a k×k convolution to
/// n channels.
val conv: kernel: int -> out: int -> Node

/// `convRect (h, w) n` ≡ `layer "conv" [ "kernel", Pair (h, w); "out", Int n ]`, text `conv(hxw, n)`: an h×w
/// convolution to n channels.
val convRect: height: int * width: int -> out: int -> Node

/// `dwconv k` ≡ `layer "dwconv" [ "kernel", Int k ]`, text `dwconv(k)`: a k×k depthwise convolution.
val dwconv: kernel: int -> Node

/// `sepconv k n` ≡ `layer "sepconv" [ "kernel", Int k; "out", Int n ]`, text `sepconv(k, n)`: a k×k
/// depthwise-separable convolution to n channels.
val sepconv: kernel: int -> out: int -> Node

/// `dense n` ≡ `layer "dense" [ "out", Int n ]`, text `dense(n)`: a fully connected layer to n features.
val dense: out: int -> Node

/// `flatten` ≡ `layer "flatten" []`, text `flatten`: C×H×W to C·H·W features.
val flatten: Node

/// `maxpool k` ≡ `layer "maxpool" [ "kernel", Int k ]`, text `maxpool(k)`: k×k max pooling (stride k).
val maxpool: kernel: int -> Node

/// `avgpool k` ≡ `layer "avgpool" [ "kernel", Int k ]`, text `avgpool(k)`: k×k average pooling (stride k).
val avgpool: kernel: int -> Node

/// `gavgpool` ≡ `layer "gavgpool" []`, text `gavgpool`: global average pooling to C×1×1.
val gavgpool: Node

/// `gmaxpool` ≡ `layer "gmaxpool" []`, text `gmaxpool`: global max pooling to C×1×1.
val gmaxpool: Node

/// `adaptiveavgpool s` ≡ `layer "adaptiveavgpool" [ "size", Int s ]`, text `adaptiveavgpool(s)`: average
/// pooling to C×s×s.
val adaptiveavgpool: size: int -> Node

/// `zeropad p` ≡ `layer "zeropad" [ "padding", Int p ]`, text `zeropad(p)`: p zeros on each side.
val zeropad: padding: int -> Node

/// `upsample f` ≡ `layer "upsample" [ "factor", Int f ]`, text `upsample(f)`: H and W enlarged f times.
val upsample: factor: int -> Node

/// `dropout p` ≡ `layer "dropout" [ "p", Float p ]`, text `dropout(p)`.
val dropout: p: float -> Node

/// `scale f` ≡ `layer "scale" [ "factor", Float f ]`, text `scale(f)`: multiplies by the constant f.
val scale: factor: float -> Node

/// `identity` ≡ `layer "identity" []`, text `identity`.
val identity: Node

/// `bn` ≡ `layer "batchnorm" []`, text `batchnorm`.
val bn: Node

/// `layernorm` ≡ `layer "layernorm" []`, text `layernorm`.
val layernorm: Node

/// `groupnorm g` ≡ `layer "groupnorm" [ "groups", Int g ]`, text `groupnorm(g)`.
val groupnorm: groups: int -> Node

/// `relu` ≡ `layer "relu" []`, text `relu`.
val relu: Node

/// `leaky a` ≡ `layer "leaky" [ "alpha", Float a ]`, text `leaky(alpha=a)`: max(x, a·x).
val leaky: alpha: float -> Node

/// `prelu` ≡ `layer "prelu" []`, text `prelu`.
val prelu: Node

/// `elu` ≡ `layer "elu" []`, text `elu`.
val elu: Node

/// `selu` ≡ `layer "selu" []`, text `selu`.
val selu: Node

/// `gelu` ≡ `layer "gelu" []`, text `gelu`.
val gelu: Node

/// `silu` ≡ `layer "silu" []`, text `silu`: x·σ(x).
val silu: Node

/// `swish b` ≡ `layer "silu" [ "beta", Float b ]`, text `silu(beta=b)`: x·σ(b·x).
val swish: beta: float -> Node

/// `mish` ≡ `layer "mish" []`, text `mish`.
val mish: Node

/// `tanh` ≡ `layer "tanh" []`, text `tanh`.
val tanh: Node

/// `sigmoid` ≡ `layer "sigmoid" []`, text `sigmoid`.
val sigmoid: Node

/// `softplus` ≡ `layer "softplus" []`, text `softplus`.
val softplus: Node

/// `hardswish` ≡ `layer "hardswish" []`, text `hardswish`.
val hardswish: Node

/// `hardsigmoid` ≡ `layer "hardsigmoid" []`, text `hardsigmoid`.
val hardsigmoid: Node

/// `arcsine` ≡ `layer "arcsine" []`, text `arcsine`.
val arcsine: Node

/// `act e [ name, v; … ]` ≡ `layer "act" (("f", Expr e) :: [ name, Float v; … ])`, text `act(e, name=v, …)`:
/// the activation given by an expression of x, with each learnable scalar's initial value.
val act: expression: ActExpr -> scalars: (string * float) list -> Node

// ------------------------------------------------------------------------------------- layer arguments

/// `stride s` ≡ `withArg "stride" (Int s)`, text `stride=s`.
val stride: s: int -> node: Node -> Node

/// `padding p` ≡ `withArg "padding" (Int p)`, text `padding=p`.
val padding: p: int -> node: Node -> Node

/// `same` ≡ `withArg "padding" (Word "same")`, text `padding=same`: the output keeps the input's size
/// (at stride 1).
val same: node: Node -> Node

/// `valid` ≡ `withArg "padding" (Word "valid")`, text `padding=valid`: no padding.
val valid: node: Node -> Node

/// `dilation d` ≡ `withArg "dilation" (Int d)`, text `dilation=d`.
val dilation: d: int -> node: Node -> Node

/// `groups g` ≡ `withArg "groups" (Int g)`, text `groups=g`.
val groups: g: int -> node: Node -> Node

/// `noBias` ≡ `withArg "bias" (Bool false)`, text `bias=false`.
val noBias: node: Node -> Node

/// `gamma g` ≡ `withArg "gamma" (Float g)`, text `gamma=g`: a normalisation's initial scale γ.
val gamma: g: float -> node: Node -> Node

/// `ceilMode` ≡ `withArg "ceil" (Bool true)`, text `ceil=true`: a pooling's output size rounds up.
val ceilMode: node: Node -> Node

// ------------------------------------------------------------------------------------------------ merges

/// `branches nodes` ≡ `nodes`: reads `branches [a; b] |> concat` as the text `concat(a, b)` reads.
val branches: nodes: Node list -> Node list

/// `add [a; b]` ≡ `Branches (Add, [a; b])`, text `add(a, b)`: the element-wise sum of the branches.
val add: nodes: Node list -> Node

/// `concat [a; b]` ≡ `Branches (Concat, [a; b])`, text `concat(a, b)`: the branches' channels side by side.
val concat: nodes: Node list -> Node

/// `multiply [a; b]` ≡ `Branches (Multiply, [a; b])`, text `multiply(a, b)`: the element-wise product.
val multiply: nodes: Node list -> Node

/// `mean [a; b]` ≡ `Branches (Mean, [a; b])`, text `mean(a, b)`: (a + b) / 2, element-wise.
val mean: nodes: Node list -> Node

/// `maxOf [a; b]` ≡ `Branches (Max, [a; b])`, text `max(a, b)`: the element-wise maximum.
val maxOf: nodes: Node list -> Node

/// `residual f` ≡ `add [identity; f]`: x + f(x); text `residual(f)`, the tree `Residual (f, None, None)`.
val residual: body: Node -> Node

/// `residualWith g f` ≡ `add [g; f]`: g(x) + f(x); text `residual(f, shortcut=g)`.
val residualWith: shortcut: Node -> body: Node -> Node

/// `scaledResidual s f` computes x + s·f(x), the scaled residual of norm-free networks: `residual f` with the
/// body's branch weighted by s (it analyses as `add [identity; f]`); text `residual(f, scale=s)`.
val scaledResidual: s: float -> body: Node -> Node

// ----------------------------------------------------------------------------------------- repetition

/// `repeat n f` ≡ `f --> f --> … --> f` (n times); text `repeat(n, f)`. The copies' paths are `1`, `2`, ….
val repeat: n: int -> body: Node -> Node

/// `named name f` ≡ `f` under the path segment `name`; text `name: f`.
val named: name: string -> body: Node -> Node
