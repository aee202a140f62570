module Receptor.Dsl.Combinators

open Receptor.Dsl

let (-->) (first: Node) (second: Node) =
    match first, second with
    | Seq xs, Seq ys -> Seq (xs @ ys)
    | Seq xs, y -> Seq (xs @ [ y ])
    | x, Seq ys -> Seq (x :: ys)
    | x, y -> Seq [ x; y ]

let layer kind (args: (string * Value) list) =
    match Registry.tryFind kind with
    | Some k ->
        let index name =
            k.Signature |> List.tryFindIndex (fun p -> p.Name = name) |> Option.defaultValue System.Int32.MaxValue
        Op { Kind = k.Name; Args = args |> List.sortBy (fst >> index) }
    | None -> invalidArg (nameof kind) (sprintf "unknown layer kind '%s'" kind)

let withArg name (value: Value) (node: Node) =
    match node with
    | Op l -> layer l.Kind ((name, value) :: (l.Args |> List.filter (fun (n, _) -> n <> name)))
    | other -> invalidArg (nameof node) (sprintf "%s applies to a layer, not to %A" name other)

let conv (kernel: int) (out: int) = layer "conv" [ "kernel", Int kernel; "out", Int out ]
let convRect (height: int, width: int) (out: int) = layer "conv" [ "kernel", Pair (height, width); "out", Int out ]
let dwconv (kernel: int) = layer "dwconv" [ "kernel", Int kernel ]
let sepconv (kernel: int) (out: int) = layer "sepconv" [ "kernel", Int kernel; "out", Int out ]
let dense (out: int) = layer "dense" [ "out", Int out ]
let flatten = layer "flatten" []
let maxpool (kernel: int) = layer "maxpool" [ "kernel", Int kernel ]
let avgpool (kernel: int) = layer "avgpool" [ "kernel", Int kernel ]
let gavgpool = layer "gavgpool" []
let gmaxpool = layer "gmaxpool" []
let adaptiveavgpool (size: int) = layer "adaptiveavgpool" [ "size", Int size ]
let zeropad (padding: int) = layer "zeropad" [ "padding", Int padding ]
let upsample (factor: int) = layer "upsample" [ "factor", Int factor ]
let dropout (p: float) = layer "dropout" [ "p", Float p ]
let scale (factor: float) = layer "scale" [ "factor", Float factor ]
let identity = layer "identity" []
let bn = layer "batchnorm" []
let layernorm = layer "layernorm" []
let groupnorm (groups: int) = layer "groupnorm" [ "groups", Int groups ]
let relu = layer "relu" []
let leaky (alpha: float) = layer "leaky" [ "alpha", Float alpha ]
let prelu = layer "prelu" []
let elu = layer "elu" []
let selu = layer "selu" []
let gelu = layer "gelu" []
let silu = layer "silu" []
let swish (beta: float) = layer "silu" [ "beta", Float beta ]
let mish = layer "mish" []
let tanh = layer "tanh" []
let sigmoid = layer "sigmoid" []
let softplus = layer "softplus" []
let hardswish = layer "hardswish" []
let hardsigmoid = layer "hardsigmoid" []
let arcsine = layer "arcsine" []

let act (expression: ActExpr) (scalars: (string * float) list) =
    layer "act" (("f", Expr expression) :: (scalars |> List.map (fun (n, v) -> n, Float v)))

let stride (s: int) node = withArg "stride" (Int s) node
let padding (p: int) node = withArg "padding" (Int p) node
let same node = withArg "padding" (Word "same") node
let valid node = withArg "padding" (Word "valid") node
let dilation (d: int) node = withArg "dilation" (Int d) node
let groups (g: int) node = withArg "groups" (Int g) node
let noBias node = withArg "bias" (Bool false) node
let gamma (g: float) node = withArg "gamma" (Float g) node
let ceilMode node = withArg "ceil" (Bool true) node

let branches (nodes: Node list) = nodes
let add (nodes: Node list) = Branches (Add, nodes)
let concat (nodes: Node list) = Branches (Concat, nodes)
let multiply (nodes: Node list) = Branches (Multiply, nodes)
let mean (nodes: Node list) = Branches (Mean, nodes)
let maxOf (nodes: Node list) = Branches (Max, nodes)

let residual body = Residual (body, None, None)
let residualWith shortcut body = Residual (body, Some shortcut, None)

let scaledResidual (s: float) body = Residual (body, None, Some (Float s))
let repeat (n: int) body = Repeat (Int n, body)
let named name body = Named (name, body)
