/// Signal propagation: activation moments against known values, moment propagation against measurement,
/// and initialisers against their targets.
module Receptor.Properties.SignalTests

open System
open Expecto
open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Signal.Special
open Receptor.Core.Signal.Moments

let private close tolerance expected actual message =
    Expect.isLessThanOrEqual (abs (actual - expected)) tolerance $"{message}: expected {expected}, got {actual}"

let private activation text =
    match Parser.parseActivation text with
    | Ok e -> e
    | Error d -> failtest (Diagnostic.format d)

let specialTests =
    testList "special functions" [
        test "erf and erfc match tabulated values in the body and both tails" {
            for x, e in [ 0.5, 0.5204998778130465; 1.0, 0.8427007929497149; 1.9, 0.9927904292352575; 2.5, 0.9995930479825550 ] do
                close 1e-15 e (erf x) $"erf {x}"
                close 1e-15 -e (erf -x) $"erf {-x}"
            for x, e in [ 2.0, 0.004677734981047266; 3.0, 2.209049699858544e-05; 5.0, 1.5374597944280349e-12; 10.0, 2.088487583762545e-45 ] do
                close (1e-14 * e) e (erfc x) $"erfc {x}"
        }
        test "Gauss–Hermite: two and three nodes are the textbook ones" {
            let nodes, weights = gaussHermite 2
            close 1e-14 (1.0 / sqrt 2.0) nodes[0] "node"
            close 1e-14 (sqrt Math.PI / 2.0) weights[0] "weight"
            let nodes, weights = gaussHermite 3
            close 1e-14 (sqrt 1.5) nodes[0] "outer node"
            close 1e-14 0.0 nodes[1] "middle node"
            close 1e-14 (sqrt Math.PI / 6.0) weights[0] "outer weight"
            close 1e-14 (2.0 * sqrt Math.PI / 3.0) weights[1] "middle weight"
        }
        test "Gauss–Hermite with 128 nodes integrates normal moments up to degree 20 exactly" {
            let rule = fine.Value
            close 1e-13 1.0 (Array.sum rule.Weights) "total weight"
            let mutable doubleFactorial = 1.0
            for k in 1 .. 10 do
                doubleFactorial <- doubleFactorial * float (2 * k - 1)
                close (1e-12 * doubleFactorial) doubleFactorial (NormalRule.expect rule (fun z -> z ** float (2 * k))) $"E[Z^{2 * k}]"
        }
        test "Gauss–Legendre with 5 nodes integrates degree 9 exactly" {
            let nodes, weights = gaussLegendre 5
            close 1e-13 2.0 (Array.sum weights) "∫ 1"
            close 1e-13 (2.0 / 9.0) (Array.map2 (fun x w -> w * x ** 8.0) nodes weights |> Array.sum) "∫ x⁸"
            close 1e-13 0.0 (Array.map2 (fun x w -> w * x ** 9.0) nodes weights |> Array.sum) "∫ x⁹"
        }
    ]

/// REFERENCE §6: (E[f], E[f²]) on N(0, 1).
let private referenceValues =
    [ Activation.relu, 0.398942, 0.5
      Activation.elu 1.0, 0.160521, 0.644945
      Activation.selu, 0.0, 1.0
      Activation.gelu, 0.282095, 0.425221
      Activation.silu 1.0, 0.206621, 0.355776
      Activation.tanh', 0.0, 0.394294
      Activation.sigmoid, 0.5, 0.293379
      Activation.softplus, 0.806059, 0.921246
      Activation.mish, 0.240404, 0.452342 ]

let momentTests =
    testList "activation moments" [
        for a, first, second in referenceValues do
            test $"{a.Name} on N(0, 1) has the reference moments to 1e-5" {
                let m = ofActivation a 0.0 1.0
                close 1e-5 first m.Mean "E[f]"
                close 1e-5 second m.Second "E[f²]"
            }
        test "the ReLU closed form agrees with quadrature off the origin" {
            for mean, variance in [ 0.7, 2.3; -1.2, 0.4; 3.0, 1.0 ] do
                let closed = ofActivation Activation.relu mean variance
                let quadrature = Moments.ofFn Activation.relu.Fn mean variance
                close 1e-10 closed.Mean quadrature.Mean $"E at N({mean}, {variance})"
                close 1e-10 closed.Second quadrature.Second $"E² at N({mean}, {variance})"
        }
        test "leaky ReLU with slope α on N(0, 1): E = (1 − α)/√(2π), E[f²] = (1 + α²)/2" {
            for alpha in [ 0.01; 0.2; 0.25 ] do
                let m = ofActivation (Activation.leaky "leaky" alpha) 0.0 1.0
                close 1e-12 ((1.0 - alpha) / sqrt (2.0 * Math.PI)) m.Mean $"α = {alpha}"
                close 1e-12 ((1.0 + alpha * alpha) / 2.0) m.Second $"α = {alpha}"
        }
        test "act expressions have the moments of the activations they spell" {
            let pairs =
                [ Activation.expression (activation "x * sigmoid(b * x)") [ "b", 1.0 ], Activation.silu 1.0
                  Activation.expression (activation "max(x, 0.2 * x)") [], Activation.leaky "leaky" 0.2
                  Activation.expression (activation "relu(x)") [], Activation.relu
                  Activation.expression (activation "x * (1 + erf(x / sqrt(2))) / 2") [], Activation.gelu ]
            for spelled, named in pairs do
                for mean, variance in [ 0.0, 1.0; 0.5, 2.0; -0.3, 0.5 ] do
                    let a, b = Moments.ofFn spelled.Fn mean variance, ofActivation named mean variance
                    close 1e-6 b.Mean a.Mean $"{named.Name} mean at N({mean}, {variance})"
                    close 1e-6 b.Second a.Second $"{named.Name} second moment at N({mean}, {variance})"
        }
        test "kinks of act expressions are found where the structure shows them" {
            Expect.equal (Activation.expression (activation "max(x, 0.2 * x)") []).Fn.Kinks (Some [ 0.0 ]) "max(x, 0.2x)"
            Expect.equal (Activation.expression (activation "abs(x - 1)") []).Fn.Kinks (Some [ 1.0 ]) "|x − 1|"
            Expect.equal (Activation.expression (activation "tanh(x) * x") []).Fn.Kinks (Some []) "smooth"
            Expect.equal (Activation.expression (activation "relu(sin(x))") []).Fn.Kinks None "not affine inside"
        }
        test "E[f′²]: ½ for ReLU, E[σ²] for softplus, (1 + α²)/2 for leaky ReLU" {
            close 1e-12 0.5 (slopeSquare Activation.relu 0.0 1.0) "relu"
            close 1e-8 0.293379 (slopeSquare Activation.softplus 0.0 1.0 |> fun x -> Math.Round (x, 6)) "softplus"
            close 1e-12 ((1.0 + 0.04) / 2.0) (slopeSquare (Activation.leaky "leaky" 0.2) 0.0 1.0) "leaky"
            let spelled = Activation.expression (activation "max(x, 0.2 * x)") []
            close 1e-6 ((1.0 + 0.04) / 2.0) (slopeSquare spelled 0.0 1.0) "leaky spelled as act"
        }
        for k, mean, variance in [ 2, 0.5642, 0.6817; 4, 1.0294, 0.4917; 9, 1.4850, 0.3573 ] do
            test $"the largest of {k} iid N(0, 1) has mean {mean} and variance {variance} (to the reference's 4 digits)" {
                let m = maxOfIid k Fn.identity 0.0 1.0
                close 1e-4 mean m.Mean "mean"
                close 1e-4 variance m.Variance "variance"
            }
        test "the maximum of a non-monotone function (discretised law) matches its exact integral" {
            // max(|Z₁|, |Z₂|) has density 4φ(x)(2Φ(x) − 1) on x > 0.
            let exact = expectPiecewise [ 0.0 ] (fun z -> abs z * 2.0 * (2.0 * normalCdf (abs z) - 1.0))
            let m = maxOfIid 2 (Fn.kinked [ 0.0 ] abs) 0.0 1.0
            close 2e-3 exact m.Mean "E[max |Zᵢ|]"
        }
    ]

let tests = testList "signal" [ specialTests; momentTests ]
