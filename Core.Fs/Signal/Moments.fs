/// Moments of activations of Gaussian inputs. For z ~ N(μ, σ²): E[f(z)], E[f(z)²] and E[f′(z)²], in closed
/// form for the ReLU family and by deterministic quadrature for every other activation, including any `act`
/// expression (evaluated with the same total semantics as the TorchSharp modules); and the moments of the
/// largest of k iid draws, for max pooling.
module Receptor.Core.Signal.Moments

open System
open Receptor.Dsl
open Receptor.Core.Signal.Special

/// A real function with what quadrature needs to know about it.
type Fn =
    { Apply: float -> float
      /// Points where the function or one of its derivatives jumps (relu at 0); None when unknown, in which
      /// case Gauss–Hermite is used and a kink costs about 1e-3 relative accuracy.
      Kinks: float list option
      /// (a, b) when the function is a·x + b.
      Affine: (float * float) option
      /// The inverse of a strictly monotone function, so that the kinks of an outer function can be pulled back.
      Inverse: (float -> float) option }

module Fn =
    let smooth f = { Apply = f; Kinks = Some []; Affine = None; Inverse = None }

    let kinked kinks f = { Apply = f; Kinks = Some kinks; Affine = None; Inverse = None }

    let affine a b =
        { Apply = (fun x -> a * x + b)
          Kinks = Some []
          Affine = Some (a, b)
          Inverse = if a <> 0.0 then Some (fun y -> (y - b) / a) else None }

    /// A smooth, strictly increasing function with its inverse.
    let monotone f inverse = { Apply = f; Kinks = Some []; Affine = None; Inverse = Some inverse }

    let identity = affine 1.0 0.0

    let zero = affine 0.0 0.0

    /// g applied to f's values: f's kinks, none of its other structure (squares, derivatives).
    let derived (g: float -> float) (f: Fn) = { Apply = g; Kinks = f.Kinks; Affine = None; Inverse = None }

    /// outer ∘ inner. Kinks stay known when the outer function is smooth or the inner one invertible.
    let compose (outer: Fn) (inner: Fn) =
        let kinks =
            match outer.Kinks, inner.Kinks, inner.Affine, inner.Inverse with
            | Some [], k, _, _ -> k
            | Some _, Some innerKinks, Some (0.0, _), _ -> Some innerKinks
            | Some outerKinks, Some innerKinks, _, Some inverse -> Some (innerKinks @ List.map inverse outerKinks)
            | _ -> None
        let affine =
            match outer.Affine, inner.Affine with
            | Some (a, b), Some (c, d) -> Some (a * c, a * d + b)
            | _ -> None
        let inverse =
            match outer.Inverse, inner.Inverse with
            | Some o, Some i -> Some (o >> i)
            | _ -> None
        { Apply = (fun x -> outer.Apply (inner.Apply x)); Kinks = kinks; Affine = affine; Inverse = inverse }

    /// Pointwise combination of two functions of the same input.
    let combine (op: float -> float -> float) (f: Fn) (g: Fn) =
        let kinks =
            match f.Kinks, g.Kinks with
            | Some a, Some b -> Some (a @ b)
            | _ -> None
        { Apply = (fun x -> op (f.Apply x) (g.Apply x)); Kinks = kinks; Affine = None; Inverse = None }

/// E[g(X)] for X ~ N(mean, variance): piecewise Gauss–Legendre between known kinks, Gauss–Hermite (128
/// nodes) for smooth functions and those whose kinks are unknown.
let expect (g: Fn) mean variance =
    if variance <= 0.0 then g.Apply mean
    else
        let s = sqrt variance
        let standard t = g.Apply (mean + s * t)
        match g.Kinks with
        | Some [] | None -> NormalRule.expect fine.Value standard
        | Some kinks -> expectPiecewise (kinks |> List.map (fun k -> (k - mean) / s)) standard

/// The first two moments of a random variable.
type Moments =
    { Mean: float
      /// E[x²].
      Second: float }

    member m.Variance = max 0.0 (m.Second - m.Mean * m.Mean)

module Moments =
    let ofFn (f: Fn) mean variance =
        { Mean = expect f mean variance
          Second = expect (Fn.derived (fun x -> let y = f.Apply x in y * y) f) mean variance }

/// An activation: its function and, for the ReLU family max(x, 0) − α·max(−x, 0), its negative slope α.
type Activation =
    { Name: string
      Fn: Fn
      NegativeSlope: float option }

module Activation =
    let private smooth name f = { Name = name; Fn = Fn.smooth f; NegativeSlope = None }

    let private kinked name kinks f = { Name = name; Fn = Fn.kinked kinks f; NegativeSlope = None }

    /// PyTorch's leaky_relu semantics: x for x ≥ 0, αx otherwise, whatever α.
    let leaky name alpha =
        { Name = name
          Fn = Fn.kinked [ 0.0 ] (fun x -> if x >= 0.0 then x else alpha * x)
          NegativeSlope = Some alpha }

    let relu = leaky "relu" 0.0

    let sigmoidOf x = 1.0 / (1.0 + exp -x)

    /// PyTorch's softplus (β = 1, threshold 20).
    let softplusOf x = if x > 20.0 then x else Math.Log(1.0 + exp x)

    let private eluOf alpha x = if x > 0.0 then x else alpha * (exp x - 1.0)

    let private seluAlpha = 1.6732632423543772848170429916717
    let private seluScale = 1.0507009873554804934193349852946
    let private relu6Of x = min (max x 0.0) 6.0

    let elu alpha = kinked "elu" [ 0.0 ] (eluOf alpha)
    let selu = kinked "selu" [ 0.0 ] (fun x -> seluScale * eluOf seluAlpha x)
    let gelu = smooth "gelu" (fun x -> x * normalCdf x)
    let silu beta = smooth "silu" (fun x -> x * sigmoidOf (beta * x))
    let mish = smooth "mish" (fun x -> x * tanh (softplusOf x))
    let tanh' = smooth "tanh" tanh
    let sigmoid = smooth "sigmoid" sigmoidOf
    let softplus = smooth "softplus" softplusOf
    let relu6 = kinked "relu6" [ 0.0; 6.0 ] relu6Of
    let hardswish = kinked "hardswish" [ -3.0; 3.0 ] (fun x -> x * relu6Of (x + 3.0) / 6.0)
    let hardsigmoid = kinked "hardsigmoid" [ -3.0; 3.0 ] (fun x -> relu6Of (x + 3.0) / 6.0)
    /// Wolinski & Arbel's odd activation for symmetric Weibull(2) weights: the arcsine law's quantile of Φ(x).
    let arcsine = smooth "arcsine" (fun x -> sqrt 2.0 * sin (Math.PI / 2.0 * erf (x / sqrt 2.0)))

    /// The activation-expression language on floats, with the total semantics of the TorchSharp evaluator:
    /// sqrt and log take |x| (log adds ε), division adds ε to the denominator.
    module Expression =
        let epsilon = 1e-7

        let unary fn (a: float) =
            match fn with
            | Neg -> -a
            | Abs -> abs a
            | Square -> a * a
            | Cube -> a * a * a
            | Sqrt -> sqrt (abs a)
            | Exp -> exp a
            | Log -> log (abs a + epsilon)
            | Sin -> sin a
            | Cos -> cos a
            | Sinh -> sinh a
            | Cosh -> cosh a
            | Tanh -> tanh a
            | Asinh -> Math.Asinh a
            | Atan -> atan a
            | Sinc -> if a = 0.0 then 1.0 else sin a / a
            | Relu -> max a 0.0
            | Sigmoid -> sigmoidOf a
            | Softplus -> softplusOf a
            | Gauss -> exp (-(a * a))
            | Erf -> erf a

        let binary fn (a: float) (b: float) =
            match fn with
            | BinaryFn.Add -> a + b
            | Sub -> a - b
            | Mul -> a * b
            | Div -> a / (b + epsilon)
            | BinaryFn.Max -> max a b
            | Min -> min a b

        let rec evaluate (scalars: Map<string, float>) expression (x: float) =
            match expression with
            | X -> x
            | Const c -> c
            | Scalar name -> scalars[name]
            | Unary (fn, a) -> unary fn (evaluate scalars a x)
            | Binary (fn, a, b) -> binary fn (evaluate scalars a x) (evaluate scalars b x)

        /// (a, b) when the expression is a·x + b.
        let rec affine (scalars: Map<string, float>) expression =
            let recurse = affine scalars
            match expression with
            | X -> Some (1.0, 0.0)
            | Const c -> Some (0.0, c)
            | Scalar name -> Some (0.0, scalars[name])
            | Unary (Neg, e) -> recurse e |> Option.map (fun (a, b) -> -a, -b)
            | Binary (BinaryFn.Add, e1, e2) ->
                Option.map2 (fun (a, b) (c, d) -> a + c, b + d) (recurse e1) (recurse e2)
            | Binary (Sub, e1, e2) -> Option.map2 (fun (a, b) (c, d) -> a - c, b - d) (recurse e1) (recurse e2)
            | Binary (Mul, e1, e2) ->
                match recurse e1, recurse e2 with
                | Some (0.0, c), Some (a, b) | Some (a, b), Some (0.0, c) -> Some (a * c, b * c)
                | _ -> None
            | Binary (Div, e1, e2) ->
                match recurse e1, recurse e2 with
                | Some (a, b), Some (0.0, c) -> Some (a / (c + epsilon), b / (c + epsilon))
                | _ -> None
            | _ -> None

        /// Where an affine expression a·x + b crosses zero: no kink when it is constant, unknown if not affine.
        let private root scalars expression =
            match affine scalars expression with
            | Some (0.0, _) -> Some []
            | Some (a, b) -> Some [ -b / a ]
            | None -> None

        /// The points where the expression is not smooth, when they can be read off its structure.
        let rec kinks scalars expression : float list option =
            let both a b = Option.map2 (@) a b
            match expression with
            | X | Const _ | Scalar _ -> Some []
            | Unary ((Abs | Relu | Sqrt | Log), e) -> both (kinks scalars e) (root scalars e)
            | Unary (_, e) -> kinks scalars e
            | Binary ((BinaryFn.Max | Min), a, b) ->
                both (both (kinks scalars a) (kinks scalars b)) (root scalars (Binary (Sub, a, b)))
            | Binary (Div, a, b) ->
                both (both (kinks scalars a) (kinks scalars b)) (root scalars (Binary (BinaryFn.Add, b, Const epsilon)))
            | Binary (_, a, b) -> both (kinks scalars a) (kinks scalars b)

    /// `act(EXPR, s=init, …)` with its learnable scalars at their initial values.
    let expression (expr: ActExpr) (scalars: (string * float) list) =
        let values = Map.ofList scalars
        { Name = "act"
          Fn =
            { Apply = Expression.evaluate values expr
              Kinks = Expression.kinks values expr
              Affine = Expression.affine values expr
              Inverse = Expression.affine values expr |> Option.filter (fun (a, _) -> a <> 0.0) |> Option.map (fun (a, b) -> fun y -> (y - b) / a) }
          NegativeSlope = None }

/// E[relu(z)] and E[relu(z)²] for z ~ N(μ, σ²) (REFERENCE §6): with a = μ/σ,
/// E = μΦ(a) + σφ(a) and E[f²] = (μ² + σ²)Φ(a) + μσφ(a).
let private reluMoments mean sd =
    let a = mean / sd
    mean * normalCdf a + sd * normalPdf a, (mean * mean + sd * sd) * normalCdf a + mean * sd * normalPdf a

/// The moments of f(z) for z ~ N(mean, variance); closed form for the ReLU family
/// f = relu(z) − α·relu(−z), whose square has no cross term.
let ofActivation (activation: Activation) mean variance =
    match activation.NegativeSlope with
    | Some alpha when variance > 0.0 ->
        let sd = sqrt variance
        let positive, positiveSecond = reluMoments mean sd
        let negative, negativeSecond = reluMoments -mean sd
        { Mean = positive - alpha * negative; Second = positiveSecond + alpha * alpha * negativeSecond }
    | _ -> Moments.ofFn activation.Fn mean variance

/// Activations vary on a unit scale near 0 (tanh′² is a bump of width ~1), which a Gaussian wider than 1
/// sees as a spike of width 1/σ that Gauss–Hermite misses: for such variances the quadrature panels are cut
/// every 0.25 over |x| ≤ 16.
let resolvedFor variance (f: Fn) =
    if variance > 1.0 then { f with Kinks = Some ([ for k in -64 .. 64 -> 0.25 * float k ] @ Option.defaultValue [] f.Kinks) }
    else f

/// E[f′(z)²] for z ~ N(mean, variance), the slope factor χ₁ of edge-of-chaos analyses (Poole et al. 2016):
/// closed form Φ(a) + α²Φ(−a) for the ReLU family, central differences under quadrature otherwise.
let slopeSquare (activation: Activation) mean variance =
    match activation.NegativeSlope with
    | Some alpha when variance > 0.0 ->
        let a = mean / sqrt variance
        normalCdf a + alpha * alpha * normalCdf -a
    | _ ->
        let f = activation.Fn.Apply
        let derivative x =
            let h = 1e-5 * max 1.0 (abs x)
            let d = (f (x + h) - f (x - h)) / (2.0 * h)
            d * d
        expect (resolvedFor variance (Fn.derived derivative activation.Fn)) mean variance

/// Whether f is monotone (non-decreasing: 1, non-increasing: −1, neither: 0) over μ ± 10σ.
let private monotonicity (f: Fn) mean sd =
    let values = Array.init 161 (fun i -> f.Apply (mean + sd * (float i / 8.0 - tailBound)))
    let steps = Array.pairwise values |> Array.map (fun (a, b) -> b - a)
    let scale = values |> Array.map abs |> Array.max |> max 1e-300
    let slack = 1e-12 * scale
    if steps |> Array.forall (fun d -> d >= -slack) then 1
    elif steps |> Array.forall (fun d -> d <= slack) then -1
    else 0

let private quantileCount = 1000

let private quantiles = lazy (normalQuantilePoints quantileCount)

/// P(the maximum of k draws is the r-th smallest of the quantile points) = (r/m)^k − ((r − 1)/m)^k.
let private maxWeights =
    System.Collections.Concurrent.ConcurrentDictionary<int, float[]>()

/// The moments of max(f(z₁), …, f(z_k)) for iid zᵢ ~ N(mean, variance). Monotone f commutes with the
/// maximum: E[g(max zᵢ)] = E[g(z)·k·Φ(t)^{k−1}] (t the standardised z) by quadrature; otherwise the law
/// of f(z) is discretised at 1,000 normal quantiles and the maximum's law follows from F^k.
let maxOfIid (k: int) (f: Fn) mean variance =
    if k <= 1 || variance <= 0.0 then Moments.ofFn f mean variance
    else
        let sd = sqrt variance
        let weighted (cdf: float -> float) =
            let density (x: float) = float k * Math.Pow(cdf ((x - mean) / sd), float (k - 1))
            let first = Fn.combine (*) f (Fn.smooth density)
            let second = Fn.combine (fun y d -> y * y * d) f (Fn.smooth density)
            { Mean = expect first mean variance; Second = expect second mean variance }
        match monotonicity f mean sd with
        | 1 -> weighted normalCdf
        | -1 -> weighted (fun t -> normalCdf -t)
        | _ ->
            let values = quantiles.Value |> Array.map (fun t -> f.Apply (mean + sd * t))
            Array.sortInPlace values
            let weights =
                maxWeights.GetOrAdd (k, fun k ->
                    let m = float quantileCount
                    Array.init quantileCount (fun r -> Math.Pow(float (r + 1) / m, float k) - Math.Pow(float r / m, float k)))
            let mutable first, second = 0.0, 0.0
            for r in 0 .. values.Length - 1 do
                first <- first + weights[r] * values[r]
                second <- second + weights[r] * values[r] * values[r]
            { Mean = first; Second = second }

/// Cov(f(x), g(y)) for jointly Gaussian x and y by Mehler's expansion: with f's Hermite coefficients
/// cₙ = E[f(x)·Heₙ(u)]/√n! about x's own law (u the standardised x), Cov = Σₙ≥₁ cₙ·dₙ·ρⁿ, ρ the correlation
/// of x and y. Exact for any f of finite variance as the terms grow; the terms left out are bounded by the
/// variance the kept ones do not explain, which is added at the next power of ρ so that ρ = 1 gives the
/// exact variance for f = g.
module Mehler =
    let terms = 16

    type Expansion =
        { /// c₁ … c_terms.
          Coefficients: float[]
          /// Var f(x) less Σ cₙ², the part of the variance in higher terms.
          Rest: float }

    let expand (f: Fn) mean variance =
        if variance <= 0.0 then { Coefficients = Array.zeroCreate terms; Rest = 0.0 }
        else
            let sd = sqrt variance
            let hermite n (x: float) =
                let u = (x - mean) / sd
                let mutable previous, current = 1.0, u
                for m in 1 .. n - 1 do
                    let next = u * current - float m * previous
                    previous <- current
                    current <- next
                current
            let factorialRoot n = sqrt (Seq.fold (fun p m -> p * float m) 1.0 (seq { 1 .. n }))
            let coefficients =
                Array.init terms (fun k ->
                    let n = k + 1
                    expect (Fn.derived (fun x -> f.Apply x * hermite n x) f) mean variance / factorialRoot n)
            let moments = Moments.ofFn f mean variance
            { Coefficients = coefficients; Rest = max 0.0 (moments.Variance - Array.sumBy (fun c -> c * c) coefficients) }

    let covariance (a: Expansion) (b: Expansion) rho =
        let mutable total, power = 0.0, 1.0
        for n in 0 .. terms - 1 do
            power <- power * rho
            total <- total + a.Coefficients[n] * b.Coefficients[n] * power
        total + sqrt (a.Rest * b.Rest) * power * rho
