/// Activation functions: the named ones and any expression of x with learnable scalars.
module Receptor.Dsl.Layers.Activations

open Receptor.Dsl

let private fixedActivation name aliases doc signature =
    { Name = name
      Aliases = aliases
      Doc = doc
      Signature = signature
      AcceptsScalars = false
      Facts = fun _ input -> Ok (Facts.pointwise 1L 0L input) }

let relu = fixedActivation "relu" [] "max(x, 0)" []
let relu6 = fixedActivation "relu6" [] "min(max(x, 0), 6)" []
let leaky = fixedActivation "leaky" [ "leakyrelu" ] "max(x, αx)" [ Param.optional "alpha" Number (Float 0.01) "negative slope α" ]
let elu = fixedActivation "elu" [] "x if x > 0 else α(eˣ − 1)" [ Param.optional "alpha" Number (Float 1.0) "α" ]
let selu = fixedActivation "selu" [] "scaled ELU (Klambauer et al.)" []
let gelu = fixedActivation "gelu" [] "x·Φ(x), the exact (erf) form" []
let silu = fixedActivation "silu" [ "swish" ] "x·σ(βx)" [ Param.optional "beta" Number (Float 1.0) "β" ]
let mish = fixedActivation "mish" [] "x·tanh(softplus(x))" []
let tanh = fixedActivation "tanh" [] "tanh(x)" []
let sigmoid = fixedActivation "sigmoid" [] "1 / (1 + e⁻ˣ)" []
let softplus = fixedActivation "softplus" [] "log(1 + eˣ)" []
let hardswish = fixedActivation "hardswish" [] "x·relu6(x + 3)/6" []
let hardsigmoid = fixedActivation "hardsigmoid" [] "relu6(x + 3)/6, MobileNetV3's gate" []
let arcsine =
    fixedActivation "arcsine" [] "√2·sin(π/2·erf(x/√2)): N(0, 1) to the arcsine law; with weibull weights, Gaussian pre-activations at any width" []

let prelu =
    { Name = "prelu"
      Aliases = []
      Doc = "max(x, αx) with a learnable α per channel (He et al. 2015)"
      Signature =
        [ Param.optional "init" Number (Float 0.25) "initial α"
          Param.optional "shared" Flag (Bool false) "one α for all channels" ]
      AcceptsScalars = false
      Facts =
        fun args input ->
            let parameters = if args.Bool "shared" then 1L else int64 (Shape.channels input)
            Ok (Facts.pointwise 1L parameters input) }

let rec private operations expression =
    match expression with
    | X | Const _ | Scalar _ -> 0L
    | Unary (_, e) -> 1L + operations e
    | Binary (_, a, b) -> 1L + operations a + operations b

let rec private scalarsOf expression =
    match expression with
    | X | Const _ -> Set.empty
    | Scalar name -> Set.singleton name
    | Unary (_, e) -> scalarsOf e
    | Binary (_, a, b) -> Set.union (scalarsOf a) (scalarsOf b)

let rec private constants expression =
    match expression with
    | Const c -> [ c ]
    | X | Scalar _ -> []
    | Unary (_, e) -> constants e
    | Binary (_, a, b) -> constants a @ constants b

let act =
    { Name = "act"
      Aliases = []
      Doc = "any activation written as an expression of x; other named arguments are learnable scalars"
      Signature = [ Param.required "f" Activation "the expression, e.g. x * sigmoid(b * x)" ]
      AcceptsScalars = true
      Facts =
        fun args input ->
            let expression = args.Expr "f"
            let given = args.Scalars |> List.map fst |> Set.ofList
            match Set.difference (scalarsOf expression) given |> Set.toList with
            | missing :: _ -> Error (sprintf "act: scalar '%s' has no initial value; add %s=1.0" missing missing)
            | [] when constants expression |> List.exists (fun c -> abs c > float System.Single.MaxValue) ->
                Error "act: constants must fit in 32-bit floating point (|x| ≤ 3.4e38)"
            | [] -> Ok (Facts.pointwise (max 1L (operations expression)) (int64 args.Scalars.Length) input) }

let kinds = [ relu; relu6; leaky; prelu; elu; selu; gelu; silu; mish; tanh; sigmoid; softplus; hardswish; hardsigmoid; arcsine; act ]

/// leaky's negative slope α.
let leakySlope (args: Args) = args.Float "alpha"

/// prelu's initial slope and whether one slope serves every channel.
let preluSettings (args: Args) = args.Float "init", args.Bool "shared"

/// elu's α.
let eluAlpha (args: Args) = args.Float "alpha"

/// silu's β.
let siluBeta (args: Args) = args.Float "beta"

/// act's expression and its learnable scalars with their initial values.
let expression (args: Args) = args.Expr "f", args.Scalars
