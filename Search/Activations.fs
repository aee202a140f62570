/// Activation expressions as the search draws and mutates them: the operator set of Ramachandran, Zoph & Le
/// (2017), whose core unit is b(u₁(x), u₂(x)) with unary u and binary b, and their four mutations: change an
/// operator, insert one, remove one, perturb a constant.
module Receptor.Search.Activations

open Receptor.Dsl
open Receptor.Core.Data

let unaries =
    [ Neg; Abs; Square; Cube; Sqrt; Exp; Log; Sin; Cos; Sinh; Cosh; Tanh; Asinh; Atan; Sinc; Relu; Sigmoid
      Softplus; Gauss; Erf ]

let binaries = [ BinaryFn.Add; Sub; Mul; Div; BinaryFn.Max; Min ]

let private pick (rng: Rng) (items: 'a list) = items[rng.NextInt items.Length]

/// A leaf: x most often, else a constant of moderate size.
let private leaf (rng: Rng) =
    if rng.NextInt 4 = 0 then Const (float (rng.NextInt 5 + 1) / 2.0) else X

/// One core unit drawn uniformly: u(x), or b(u₁(x), u₂(x)) with u possibly the identity.
let random (rng: Rng) : ActExpr =
    let unit () =
        match rng.NextInt (unaries.Length + 1) with
        | 0 -> X
        | i -> Unary (unaries[i - 1], X)
    if rng.NextInt 3 = 0 then Unary (pick rng unaries, X)
    else Binary (pick rng binaries, unit (), unit ())

/// The sub-expressions in pre-order, each with the function that rebuilds the whole with it replaced.
let rec private sites (expression: ActExpr) : (ActExpr * (ActExpr -> ActExpr)) list =
    (expression, id)
    :: match expression with
       | Unary (fn, a) -> sites a |> List.map (fun (s, rebuild) -> s, (fun r -> Unary (fn, rebuild r)))
       | Binary (fn, a, b) ->
           (sites a |> List.map (fun (s, rebuild) -> s, (fun r -> Binary (fn, rebuild r, b))))
           @ (sites b |> List.map (fun (s, rebuild) -> s, (fun r -> Binary (fn, a, rebuild r))))
       | X | Const _ | Scalar _ -> []

let rec private size expression =
    match expression with
    | Unary (_, a) -> 1 + size a
    | Binary (_, a, b) -> 1 + size a + size b
    | X | Const _ | Scalar _ -> 1

/// Expressions grow no larger than this many nodes: bigger ones are slow and rarely better.
let maxSize = 15

/// One mutation at a random site: change an operator (for one of the same arity), insert one (a unary above
/// the site, or a binary joining it with a leaf), remove one (a node replaced by a child), or perturb a
/// constant (multiplied by e^N(0, 0.5²)). Tries again, up to 20 times, while the result is unchanged or too large.
let mutate (rng: Rng) (expression: ActExpr) : ActExpr =
    let once () =
        let all = sites expression
        let site, rebuild = all[rng.NextInt all.Length]
        match rng.NextInt 4, site with
        | 0, Unary (_, a) -> rebuild (Unary (pick rng unaries, a))
        | 0, Binary (_, a, b) -> rebuild (Binary (pick rng binaries, a, b))
        | 1, _ when rng.NextInt 2 = 0 -> rebuild (Unary (pick rng unaries, site))
        | 1, _ -> rebuild (if rng.NextInt 2 = 0 then Binary (pick rng binaries, site, leaf rng) else Binary (pick rng binaries, leaf rng, site))
        | 2, Unary (_, a) -> rebuild a
        | 2, Binary (_, a, b) -> rebuild (if rng.NextInt 2 = 0 then a else b)
        | _, Const c -> rebuild (Const (c * exp (0.5 * rng.NextGaussian ())))
        | _ ->
            // No constant there: perturb one elsewhere if any, else change the root's operator.
            match all |> List.filter (fst >> function Const _ -> true | _ -> false) with
            | [] -> rebuild (Unary (pick rng unaries, site))
            | constants ->
                let c, rebuildConstant = constants[rng.NextInt constants.Length]
                match c with
                | Const v -> rebuildConstant (Const (v * exp (0.5 * rng.NextGaussian ())))
                | other -> rebuildConstant other
    let rec attempt tries =
        let candidate = once ()
        if tries > 0 && (candidate = expression || size candidate > maxSize) then attempt (tries - 1) else candidate
    attempt 20
