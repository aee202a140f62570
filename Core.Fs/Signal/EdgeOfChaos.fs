/// The edge of chaos of a deep, wide fully connected network (Poole et al. 2016; Schoenholz et al. 2017):
/// the pre-activation variance follows q' = σ_w² E[φ(√q z)²] + σ_b², settles at a fixed point q*, and
/// χ₁ = σ_w² E[φ′(√q* z)²] says whether nearby inputs converge (χ₁ < 1, order) or diverge (χ₁ > 1, chaos).
/// Expectations come from Moments.fs: closed forms for the ReLU family, quadrature otherwise.
module Receptor.Core.Signal.EdgeOfChaos

open Receptor.Dsl
open Receptor.Core.Signal.Moments

/// Where the variance map goes from small variances.
type FixedPoint =
    | Converges of q: float
    /// q grows past 1e12: no finite fixed point.
    | Diverges

/// The map at one weight scale.
type Point =
    { WeightSd: float
      FixedPoint: FixedPoint
      /// χ₁ at the fixed point; None when the map diverges.
      Chi: float option }

/// Where χ₁ = 1, or why no weight scale gives it.
type Critical =
    | Critical of weightSd: float * q: float
    | NoCritical of reason: string

/// σ_w is bracketed by bisection to this width. For smooth activations the central differences behind E[φ′²]
/// (Moments.slopeSquare) limit the accuracy to about 1e-5.
let tolerance = 1e-9

/// The variances searched for a fixed point: 1e-12 to 1e12, four points a decade.
let private varianceGrid = [| for k in -48 .. 48 -> 10.0 ** (float k / 4.0) |]

/// The weight scales scanned for χ₁ = 1 and plotted: 0.025 to 10 in steps of 0.025.
let weightGrid = [| for k in 1 .. 400 -> 0.025 * float k |]

/// q' = σ_w² E[φ(√q z)²] + σ_b²; closed form for the ReLU family, quadrature resolved at unit scale
/// (Moments.resolvedFor) for wide variances otherwise.
let next (activation: Activation) weightSd biasSd q =
    let moments =
        match activation.NegativeSlope with
        | Some _ -> ofActivation activation 0.0 q
        | None -> Moments.ofFn (resolvedFor q activation.Fn) 0.0 q
    weightSd * weightSd * moments.Second + biasSd * biasSd

/// Bisection between a and b, where `test a` ≠ `test b`, until they are `width` apart (relative when
/// `geometric`); returns the two ends with test a's value first.
let private bisect (test: float -> bool) geometric width a b =
    let mutable inside, outside = a, b
    let side = test a
    let mutable steps = 0
    let wide () = if geometric then abs (outside / inside - 1.0) > width else abs (outside - inside) > width
    while wide () && steps < 200 do
        let middle = if geometric && inside > 0.0 then sqrt (inside * outside) else 0.5 * (inside + outside)
        if test middle = side then inside <- middle else outside <- middle
        steps <- steps + 1
    inside, outside

/// The fixed point the map reaches from small variances: the first q where it stops growing, to relative
/// precision 1e-14 (0 when φ(0) = 0, σ_b = 0 and the map shrinks small variances).
let fixedPoint (activation: Activation) weightSd biasSd =
    let gap q = next activation weightSd biasSd q - q
    let atZero = next activation weightSd biasSd 0.0
    match varianceGrid |> Array.tryFindIndex (fun q -> gap q <= 0.0) with
    | None -> Diverges
    | Some 0 when atZero = 0.0 -> Converges 0.0
    | Some 0 ->
        let below, _ = bisect (fun q -> gap q > 0.0) false (1e-14 * varianceGrid[0]) 0.0 varianceGrid[0]
        Converges below
    | Some i ->
        let below, above = bisect (fun q -> gap q > 0.0) true 1e-14 varianceGrid[i - 1] varianceGrid[i]
        Converges (0.5 * (below + above))

/// χ₁ = σ_w² E[φ′(√q z)²]; at q = 0 its limit from above (the ReLU family's kink counts as in its closed form).
let chi (activation: Activation) weightSd q =
    weightSd * weightSd * slopeSquare activation 0.0 (max q 1e-24)

let point (activation: Activation) biasSd weightSd =
    let fixedPoint = fixedPoint activation weightSd biasSd
    { WeightSd = weightSd
      FixedPoint = fixedPoint
      Chi =
        match fixedPoint with
        | Converges q -> Some (chi activation weightSd q)
        | Diverges -> None }

let curve (activation: Activation) biasSd = weightGrid |> Array.map (point activation biasSd)

/// Ordered: a finite fixed point with χ₁ < 1.
let private ordered (p: Point) =
    match p.Chi with
    | Some c -> c < 1.0
    | None -> false

/// A transition between grid points a and b refined by bisection: an edge of chaos, or why it is not one.
/// When the variance diverges on the far side, it is an edge of chaos only if χ₁ → 1 with q* bounded (ReLU
/// with σ_b = 0: every q is a fixed point at σ_w = √(2/(1 + α²))); not when q* grows without bound (ReLU with
/// σ_b > 0) or the fixed point vanishes with χ₁ < 1 (a saddle-node, as for unbounded smooth activations).
let private refine (activation: Activation) biasSd (a: Point) (b: Point) =
    let at = point activation biasSd
    let inside, outside = bisect (at >> ordered) false tolerance a.WeightSd b.WeightSd
    let lower, upper = min inside outside, max inside outside
    match (at upper).FixedPoint, (at lower).FixedPoint with
    | Converges q, _ -> Critical (0.5 * (lower + upper), q)
    | Diverges, Converges q ->
        let chiBelow = chi activation lower q
        match (at (lower - 1e-4)).FixedPoint with
        | Converges q' when q > 10.0 * q' + 1e-12 ->
            NoCritical (
                sprintf "q* grows without bound as σ_w → %.6f, where χ₁ → %.4f: χ₁ = 1 is never reached at a finite fixed point"
                    upper chiBelow)
        | _ when abs (chiBelow - 1.0) > 1e-6 ->
            NoCritical (sprintf "the fixed point reached from small variances vanishes at σ_w ≈ %.6f with χ₁ = %.4f there; beyond it the variance diverges" upper chiBelow)
        | _ -> Critical (0.5 * (lower + upper), q)
    | Diverges, Diverges -> NoCritical "the variance map diverges on both sides of the transition"

/// The first σ_w on the grid (0.025 … 10) where χ₁ = 1 at a finite fixed point: every transition between the
/// ordered phase and the others is refined in turn.
let critical (activation: Activation) biasSd =
    let points = curve activation biasSd
    let transitions = points |> Array.pairwise |> Array.filter (fun (a, b) -> ordered a <> ordered b) |> List.ofArray
    let refined = transitions |> List.map (fun (a, b) -> refine activation biasSd a b)
    match refined |> List.tryFind (function Critical _ -> true | NoCritical _ -> false), refined with
    | Some found, _ -> found
    | None, first :: _ -> first
    | None, [] ->
        let last = weightGrid[weightGrid.Length - 1]
        if ordered points[0] then NoCritical (sprintf "χ₁ < 1 for every σ_w up to %g" last)
        else NoCritical (sprintf "no σ_w in (0, %g] gives χ₁ < 1 at a finite fixed point" last)

let private source = "<activation>"

/// An activation layer, its arguments checked as the network checker does (act's scalars need values).
let private ofLayer (layer: Layer) =
    let place = Text (source, 1, 1)
    LayerCheck.check layer
    |> Result.mapError (fun (message, hint) -> { Place = place; Message = message; Hint = hint })
    |> Result.bind (fun (kind, args) ->
        if not (Layers.Activations.kinds |> List.exists (fun k -> k.Name = kind.Name)) then
            Error (Diagnostic.at place (sprintf "'%s' is a layer kind but not an activation" kind.Name)
                   |> Diagnostic.withHint "give an activation such as tanh, prelu(0.25) or act(x * sigmoid(x))")
        else
            Receptor.Core.Kinds.Registry.activationOfLayer layer
            |> Result.mapError (fun d -> Diagnostic.at place d.Message)
            |> Result.bind (function
                | Some activation -> Ok activation
                | None -> Error (Diagnostic.at place (sprintf "no moments for the activation '%s'" kind.Name))))

/// Reads an activation as the language writes it: a layer (`tanh`, `prelu(0.25)`, `act(x * sigmoid(b * x),
/// b=1.5)`) or a bare expression of x (`x * sigmoid(x)`).
let parseActivation (text: string) : Result<Activation, Diagnostic> =
    match Parser.parseNode text with
    | Ok (Op layer) -> ofLayer layer
    | Ok (Call (name, _)) ->
        let unknown = Diagnostic.at (Text (source, 1, 1)) (sprintf "unknown layer '%s'" name)
        match Registry.nearest Registry.names name with
        | Some near -> Error (Diagnostic.withHint (sprintf "did you mean '%s'?" near) unknown)
        | None -> Error unknown
    | Ok _ -> Error (Diagnostic.at (Text (source, 1, 1)) "expected one activation, not a network")
    | Error layerError ->
        match Parser.parseActivation text with
        | Ok expression -> ofLayer { Kind = "act"; Args = [ "f", Expr expression ] }
        | Error _ -> Error layerError
