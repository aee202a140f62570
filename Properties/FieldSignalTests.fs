/// The field layers' moment rules and initialisation (deformable, DCLS, selective kernel) and PReLU's, each
/// against closed forms written here from the layer's definition and against TorchSharp measurement.
module Receptor.Properties.FieldSignalTests

open System
open Expecto
open Receptor
open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Signal.Moments
open Receptor.Properties.SignalTests

let private he = Initialisers.He (Initialisers.FanIn, Initialisers.Normal)

/// DCLS's initial element positions along an axis, from the paper's evenly spaced grid.
let private grid count size = [ for i in 0 .. count - 1 -> float i * float (size - 1) / float (count - 1) ]

/// Σ of the squared bilinear shares of a position along one axis: (1 − f)² + f².
let private spread (p: float) = let f = p - floor p in (1.0 - f) ** 2.0 + f ** 2.0

let private reluVariance = 0.5 - 1.0 / (2.0 * Math.PI)

let planTests =
    testList "plans" [
        test "He divides by the sampling gain: ¼ for modulated deformable taps, the bilinear spread of DCLS elements" {
            let input = Spatial (8, 12, 12)
            let v = planned he input "deform(3, 16, modulated=true) >> relu >> deform(3, 16) >> prelu(0.25) >> dcls(3, 16, 6) >> tanh"
            close 1e-15 (2.0 / (72.0 * 0.25)) v["deform1"].Weight "v2: masks σ(0) = ½ scale the variance by ¼"
            close 1e-15 (2.0 / (1.0625 * 144.0)) v["deform2"].Weight "v1 is the plain convolution, PReLU's α counted"
            let gain = List.average [ for r in grid 3 6 do for c in grid 3 6 -> spread r * spread c ]
            close 1e-12 (2.0 / (144.0 * gain)) v["dcls"].Weight "positions 0, 2.5, 5: the middle ones spread over two taps"
            let integer = planned he input "identity >> dcls(3, 16, 7)"
            close 1e-15 (2.0 / 72.0) integer["dcls"].Weight "integer spacing is the dilated convolution"
        }
        test "a selective-kernel unit plans each branch, the squeeze and the select fc, and its output variance is S·Var(relu)" {
            let input = Spatial (16, 6, 6)
            let p = predict Exact input "identity >> sk(32, groups=8, minimum=8)"
            Expect.equal (p.Layers |> List.map (fun (l, _) -> l.Part, l.FanIn)) [ "branch1", 18; "branch2", 18; "squeeze", 32; "select", 8 ] "weighted parts"
            // AutoInit gives the select fc unit logit variance; two logits' softmax is σ(l₁ − l₂), l₁ − l₂ ~ N(0, 2).
            let square = (Moments.ofFn Activation.sigmoid.Fn 0.0 2.0).Second
            let sk = node p "sk"
            close 1e-6 (2.0 * square * reluVariance) sk.Variance "variance"
            close 1e-12 (1.0 / sqrt (2.0 * Math.PI)) sk.Mean "mean E[relu(Z)]"
            close 1e-12 0.0 sk.Offset "no channel offset: the weights sum to 1"
        }
    ]

let private fieldCases =
    [ "deformable convolutions at init", "conv(3, 32, padding=1) >> relu >> deform(3, 32, padding=1) >> relu >> deform(3, 32, padding=1, modulated=true) >> tanh >> deform(3, 32, stride=2, padding=2, dilation=2, groups=4, modulated=true) >> gelu"
      "DCLS at fractional and integer spacings", "conv(3, 32, padding=1) >> relu >> dcls(3, 32, 6, padding=same) >> relu >> dcls(3, 32, 5, padding=2) >> tanh >> dcls(2, 32, 4, padding=same, groups=4) >> elu"
      "selective-kernel units", "conv(3, 32, padding=1) >> relu >> sk(32, groups=8) >> conv(3, 32, padding=1) >> relu >> sk(32, branches=3, groups=4, minimum=8) >> conv(1, 32) >> tanh"
      "PReLU per channel at its initial slope", "conv(3, 32, padding=1) >> prelu(0.1) >> conv(3, 32, padding=1) >> prelu(0.4, shared=true) >> avgpool(2) >> conv(3, 32, padding=1) >> prelu >> gavgpool" ]

let measuredTests =
    testSequenced
    <| testList "predicted against measured" [
        for name, text in fieldCases do
            test $"{name}: every node within 10 %% or four standard errors" {
                let input = Spatial (32, 8, 8)
                let pairs = measured (Initialisers.AutoInit (Exact, Initialisers.Normal)) input (check input text) 24 4
                let off = pairs |> List.filter (agreesWithin 0.1 >> not) |> List.map describe
                Expect.isEmpty off "nodes off"
            }
        test "He through modulated deform, DCLS and PReLU: the variances He's derivation gives, measured within 10 %" {
            // Centred N(0, 1) input and no padding: each weighted layer's output variance is 2·E[x²]/(1 + α²).
            let input = Spatial (16, 12, 12)
            let text = "dcls(3, 16, 6) >> prelu(0.25) >> conv(1, 16) >> deform(3, 16, modulated=true) >> prelu(0.1)"
            let pairs = measured he input (check input text) 24 4 |> List.map (fun (p, m) -> p.Path, (p, m)) |> Map.ofList
            let prelu alpha variance = (1.0 - alpha) * sqrt (variance / (2.0 * Math.PI)), (1.0 + alpha * alpha) / 2.0 * variance
            let dcls = 2.0 / 1.0625
            let mean1, second1 = prelu 0.25 dcls
            let conv = 2.0 * second1
            let deform = 2.0 * conv / 1.01
            let mean2, second2 = prelu 0.1 deform
            let expected =
                [ "dcls", 0.0, dcls; "prelu1", mean1, second1 - mean1 * mean1; "conv", 0.0, conv
                  "deform", 0.0, deform; "prelu2", mean2, second2 - mean2 * mean2 ]
            for path, mean, variance in expected do
                let p, m = pairs[path]
                close (0.1 * variance) variance m.Variance $"{path} measured variance"
                close (0.05 * sqrt variance) mean m.Mean $"{path} measured mean"
                close 1e-9 variance p.Variance $"{path} predicted variance"
        }
    ]

let private config = { FsCheckConfig.defaultConfig with maxTest = 60; arbitrary = [ typeof<Generators.Arbitraries> ] }

let private autoinit (layer: WeightedLayer) = WeightVariance.centred (1.0 / layer.Energy) 0.0

/// Generated trees cover strides, groups, dilation and asymmetric padding of the field layers and the
/// dendritic units. Some trees are beyond the rules by design and say so with a diagnostic at their path
/// (moments that overflow under extreme generated constants, a max of flat vectors flattened from different
/// shapes); a layer kind without a rule, or an exception, fails.
let generatedTests =
    testList "generated" [
        testPropertyWithConfig config "generated architectures: every layer kind has a moment rule, and propagation fails only with diagnostics"
        <| fun (a: Generators.Architecture) ->
            match Shapes.checkNode a.Input a.Node with
            | Error d -> false |> FsCheck.FSharp.Prop.label (Diagnostic.format d)
            | Ok tree ->
                match Propagation.run Exact autoinit a.Input None tree with
                | Ok p -> not p.Nodes.IsEmpty |> FsCheck.FSharp.Prop.label "no nodes"
                | Error d -> not (d.Message.StartsWith "no moment rule for layer kind") |> FsCheck.FSharp.Prop.label (Diagnostic.format d)
    ]

let tests = testList "field signal" [ planTests; generatedTests; measuredTests ]
