/// Signal propagation: activation moments against known values, moment propagation against measurement,
/// and initialisers against their targets.
module Receptor.Properties.SignalTests

open System
open Expecto
open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Signal.Special
open Receptor.Core.Signal.Moments

let close tolerance expected actual message =
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

let check (input: Shape) text =
    let node = match Parser.parseNode text with Ok n -> n | Error d -> failtest (Diagnostic.format d)
    Shapes.checkNode input node |> Repository.unwrap

open Receptor.Core.Signal.Propagation

let private autoinit (layer: WeightedLayer) = WeightVariance.centred (1.0 / layer.Energy) 0.0

let predict rules input text =
    Propagation.run rules autoinit input None (check input text) |> Repository.unwrap

let node (prediction: Prediction) path =
    match prediction.Nodes |> List.tryFind (fun n -> n.Path = path) with
    | Some n -> n
    | None -> failtest $"no node {path}"

let propagationTests =
    testList "moment propagation" [
        test "every layer kind of the language has its phases in Core.Fs/Kinds, and every bundle names a kind of the language" {
            let withoutPhases, unknownToTheLanguage = Receptor.Core.Kinds.Registry.unregistered
            Expect.isEmpty withoutPhases "kinds of the language without phases"
            Expect.isEmpty unknownToTheLanguage "phases of kinds the language does not know"
        }
        test "exactly the kinds declared weighted ask for weight variances, in every example model" {
            for file in Repository.examples () do
                let tree = Repository.checkedProgram file
                let prediction =
                    match Propagation.run Exact autoinit tree.Input None tree.Tree with
                    | Ok p -> p
                    | Error d -> failtest (Diagnostic.format d)
                let asked = prediction.Layers |> List.map (fun (l, _) -> l.Path) |> Set.ofList
                for layer in Checked.layers tree.Tree do
                    Expect.equal (asked.Contains layer.Path) (Receptor.Core.Kinds.Registry.isWeighted layer.Kind.Name)
                        $"{file}: {layer.Path} ({layer.Kind.Name}) asks for weights exactly when its kind is weighted"
        }
        test "a kind without a rule is an error at its path, never passed through" {
            let tree = check (Spatial (2, 4, 4)) "conv(3, 2, padding=1) >> stage: (conv(1, 2) >> identity)"
            let rec rename node =
                match node with
                | CheckedOp l when l.Kind.Name = "identity" -> CheckedOp { l with Kind = { l.Kind with Name = "mystery" } }
                | CheckedOp _ -> node
                | CheckedSeq nodes -> CheckedSeq (List.map rename nodes)
                | CheckedBranches m -> CheckedBranches { m with Branches = List.map rename m.Branches }
            match Propagation.run Exact autoinit (Spatial (2, 4, 4)) None (rename tree) with
            | Error d ->
                Expect.equal d.Place (LayerPath "stage/identity") "the layer's path"
                Expect.stringContains d.Message "mystery" "names the kind"
            | Ok _ -> failtest "an unknown kind was passed through"
        }
        test "dropout after a non-zero mean: variance (σ² + pμ²)/(1 − p), mean kept" {
            let p = predict Exact (Spatial (8, 6, 6)) "conv(1, 8) >> relu >> dropout(0.3)"
            let before, after = node p "relu", node p "dropout"
            close 1e-12 before.Mean after.Mean "mean"
            close 1e-12 ((before.Variance + 0.3 * before.Mean * before.Mean) / 0.7) after.Variance "variance"
        }
        test "zero padding scales the first two moments by the share of real pixels" {
            let p = predict Exact (Spatial (8, 6, 6)) "conv(1, 8) >> relu >> zeropad(1)"
            let before, after = node p "relu", node p "zeropad"
            let share = 36.0 / 64.0
            close 1e-12 (share * before.Mean) after.Mean "mean"
            let second = share * (before.Variance + before.Mean * before.Mean)
            close 1e-12 (second - after.Mean * after.Mean) after.Variance "variance"
        }
        test "border outputs of a padded convolution see fewer inputs: exact average over positions" {
            // 3×3, padding 1 on 6×6: per axis (2 + 4·3 + 2)/6 valid taps on average.
            let p = predict Exact (Spatial (4, 6, 6)) "conv(3, 8, padding=1)"
            let layer, _ = p.Layers.Head
            close 1e-12 (4.0 * (16.0 / 6.0) ** 2.0) layer.Energy "Σ E[x²] over the valid fan-in"
            Expect.equal layer.FanIn 36 "fan-in"
        }
        test "grouped and depthwise convolutions count their fan-in per group" {
            let p = predict Exact (Spatial (8, 6, 6)) "conv(3, 16, groups=4) >> dwconv(3, multiplier=2) >> sepconv(1, 8)"
            Expect.equal (p.Layers |> List.map (fun (l, _) -> l.FanIn, l.FanOut)) [ 18, 36; 9, 18; 1, 1; 32, 8 ] "fans"
        }
        test "x + s·f(x) with a pointwise body is exact: the covariance of x and f(x) is kept" {
            // Input N(0, 1): the output is z + ½·tanh(z), whose variance needs Cov(z, tanh z).
            let p = predict Exact (Spatial (4, 5, 5)) "identity >> residual(tanh, scale=0.5)"
            let exact = Moments.ofFn (Fn.smooth (fun z -> z + 0.5 * tanh z)) 0.0 1.0
            close 1e-9 exact.Variance (node p "residual").Variance "Var(z + ½ tanh z)"
            let independent = 1.0 + 0.25 * (Moments.ofFn Activation.tanh'.Fn 0.0 1.0).Variance
            Expect.isGreaterThan (abs (independent - exact.Variance)) 0.3 "independence would be far off"
        }
        test "a per-channel offset survives average pooling; fluctuations are divided by the window" {
            let p = predict Exact (Spatial (16, 8, 8)) "conv(1, 16) >> relu >> conv(1, 16) >> gavgpool"
            let conv, pooled = node p "conv2", node p "gavgpool"
            Expect.isGreaterThan conv.Offset 0.3 "μ·ΣW offset after a conv of a positive-mean input"
            close 1e-9 (conv.Offset + (conv.Variance - conv.Offset) / 64.0) pooled.Variance "pooled variance"
            close 1e-9 conv.Offset pooled.Offset "offset kept"
        }
        test "Mehler's expansion of ReLU gives its arc-cosine kernel" {
            let relu = Mehler.expand Activation.relu.Fn 0.0 1.0
            for rho in [ -0.9; -0.5; 0.0; 0.3; 0.7; 0.95; 1.0 ] do
                // E[relu(x)·relu(y)] = (√(1 − ρ²) + (π − arccos ρ)·ρ)/2π for unit variances, less E[relu]² = 1/2π.
                let exact = (sqrt (1.0 - rho * rho) + (Math.PI - acos rho) * rho) / (2.0 * Math.PI) - 1.0 / (2.0 * Math.PI)
                close 2e-3 exact (Mehler.covariance relu relu rho) $"ρ = {rho}"
        }
        test "average pooling of white noise: neighbours covary by the window's autocorrelation" {
            let p = predict Exact (Spatial (4, 8, 8)) "avgpool(3, stride=1) >> gavgpool"
            // 6×6 outputs; two share (3 − |dy|)(3 − |dx|) of their 9 inputs.
            let shared a b = let dy, dx = abs (a / 6 - b / 6), abs (a % 6 - b % 6) in float (max 0 (3 - dy) * max 0 (3 - dx)) / 81.0
            let exact = Seq.sum (seq { for a in 0 .. 35 do for b in 0 .. 35 -> shared a b }) / 1296.0
            close 1e-12 exact (node p "gavgpool").Variance "Σ of the pooled covariance over the map"
            Expect.isGreaterThan exact (3.0 * (1.0 / 9.0) / 36.0) "taking neighbours for independent would be far off"
        }
        test "nearest upsampling copies values: their average is the original map's" {
            let p = predict Exact (Spatial (4, 4, 4)) "upsample(2) >> gavgpool"
            close 1e-12 (1.0 / 16.0) (node p "gavgpool").Variance "16 values, each copied four times"
        }
        test "a maximum over correlated values: as drawn, and below that over independent ones" {
            // Nine N(0, 1) values averaged over the four overlapping 2×2 windows and doubled: unit variances,
            // correlation ½ between neighbours and ¼ across the diagonal.
            let independent = predict Exact (Spatial (4, 2, 2)) "scale(1.0) >> gmaxpool"
            let correlated = predict Exact (Spatial (4, 3, 3)) "avgpool(2, stride=1) >> scale(2.0) >> gmaxpool"
            let rng = Random 7
            let normal () = sqrt (-2.0 * log (1.0 - rng.NextDouble ())) * cos (2.0 * Math.PI * rng.NextDouble ())
            let draws = 200000
            let drawn =
                Seq.averageBy (fun _ ->
                    let x = Array.init 9 (fun _ -> normal ())
                    let window y x0 = (x[y * 3 + x0] + x[y * 3 + x0 + 1] + x[(y + 1) * 3 + x0] + x[(y + 1) * 3 + x0 + 1]) / 2.0
                    max (max (window 0 0) (window 0 1)) (max (window 1 0) (window 1 1))) (seq { 1 .. draws })
            close 0.015 drawn (node correlated "gmaxpool").Mean "E[max] of the correlated four"
            close 0.01 1.0294 (node independent "gmaxpool").Mean "E[max of 4 iid N(0, 1)]"
            Expect.isLessThan drawn 0.9 "correlation lowers the maximum"
        }
        test "normalisation layers output their real γ and β" {
            let p = predict Exact (Spatial (8, 6, 6)) "conv(3, 8) >> relu >> bn(gamma=0.5, beta=0.3) >> groupnorm(2, gamma=2.0, beta=-1.0)"
            close 1e-9 0.3 (node p "batchnorm").Mean "bn mean"
            close 1e-4 0.25 (node p "batchnorm").Variance "bn variance"
            close 1e-9 -1.0 (node p "groupnorm").Mean "gn mean"
            close 1e-3 4.0 (node p "groupnorm").Variance "gn variance"
        }
        test "AutoInit 2023 keeps its simplifications: dropout, padding, BN, PReLU, depthwise fan-in, pooling" {
            let text = "conv(1, 8) >> relu >> dropout(0.5) >> zeropad(1) >> bn(gamma=3.0) >> prelu(0.25) >> dwconv(3) >> gavgpool"
            let p = predict AutoInit2023 (Spatial (8, 6, 6)) text
            let relu = node p "relu"
            close 1e-12 (relu.Variance / 0.5) (node p "dropout").Variance "σ²/(1 − p)"
            close 1e-12 1.0 (node p "batchnorm").Variance "BN output taken for N(0, 1)"
            let prelu = node p "prelu"
            close 1e-9 (1.0 / sqrt (2.0 * Math.PI)) prelu.Mean "PReLU taken for ReLU"
            let dw, _ = p.Layers |> List.find (fun (l, _) -> l.Kind = "dwconv")
            Expect.equal dw.FanIn 72 "TensorFlow counts k²·channels for a depthwise kernel"
            close 1e-12 ((node p "dwconv").Variance / 36.0) (node p "gavgpool").Variance "pooling divides everything"
            let exact = predict Exact (Spatial (8, 6, 6)) text
            Expect.isGreaterThan (node exact "gavgpool").Variance (3.0 * (node p "gavgpool").Variance) "the offset survives pooling"
        }
    ]

open TorchSharp
open Receptor.Core.Torch

/// Measures a network's nodes in training mode after a method's draws, one seed per draw. Small tensors
/// and many operations: one torch thread avoids OpenMP spinning on shared machines.
let measured (method: Initialisers.Method) (input: Shape) (tree: Checked) seeds batch =
    let threads = torch.get_num_threads ()
    torch.set_num_threads 1
    try
        use network = Network.Compile ("t", tree, input) |> Repository.unwrap
        let prepared = Initialisers.prepare method None network |> Repository.unwrap
        let prepare seed =
            torch.manual_seed (int64 seed) |> ignore
            prepared.Draw (Measurement.gaussianBatch network batch) |> Repository.unwrap
            Measurement.gaussianBatch network batch
        let measured = Measurement.measure network [ 1 .. seeds ] prepare
        List.zip prepared.Plan.Nodes measured
    finally
        torch.set_num_threads threads

/// The rule `receptor init --report` also judges by (Measurement.agreesWithin).
let agreesWithin share (p: NodeMoments, m: Measurement.Measured) = Measurement.agreesWithin share p m

let describe (p: NodeMoments, m: Measurement.Measured) =
    sprintf "%s: predicted %.4f/%.4f, measured %.4f/%.4f ± %.4f" p.Path p.Mean p.Variance m.Mean m.Variance m.VarianceError

let private measuredCases =
    [ "x + f(x) with pointwise bodies", "conv(3, 32, padding=1) >> relu >> residual(relu) >> residual(tanh, scale=0.5) >> conv(3, 32, padding=1) >> elu"
      "dropout before activations and inside a residual", "conv(3, 32, padding=1) >> relu >> dropout(0.3) >> tanh >> conv(3, 32, padding=1) >> sigmoid >> dropout(0.5) >> residual(dropout(0.2) >> gelu)"
      "max pooling of activations with channel offsets", "conv(3, 32, padding=1) >> relu >> conv(3, 32, padding=1) >> relu >> maxpool(2) >> conv(3, 32, padding=1) >> gelu"
      "average pooling keeps channel offsets", "conv(3, 32, padding=1) >> relu >> conv(3, 32, padding=1) >> relu >> avgpool(2) >> conv(3, 32, padding=1) >> softplus >> avgpool(3, stride=1, padding=1, countpad=false)"
      "zero padding of non-zero means", "conv(3, 32, padding=1) >> relu >> zeropad(2) >> conv(3, 32) >> sigmoid >> zeropad(1) >> conv(3, 32, padding=1) >> mish"
      "normalisation with its γ and β", "conv(3, 32, padding=1) >> bn >> relu >> conv(3, 32, padding=1, bias=false) >> bn(gamma=0.5, beta=0.3) >> silu >> layernorm >> mish >> groupnorm(4, gamma=2.0, beta=-0.5) >> tanh"
      "concat of dependent and independent branches", "conv(3, 32, padding=1) >> relu >> concat(conv(1, 16) >> relu, identity, tanh) >> conv(3, 32, groups=4, padding=1) >> selu"
      "a squeeze-and-excitation gate scales every position", "conv(3, 32, padding=1) >> relu >> multiply(identity, gavgpool >> conv(1, 8) >> relu >> conv(1, 32) >> sigmoid) >> conv(3, 32, padding=1) >> hardswish >> multiply(identity, gavgpool >> conv(1, 8) >> relu >> conv(1, 32) >> hardsigmoid)"
      "overlapping pooling and upsampling on small maps", "conv(3, 32, padding=1) >> relu >> maxpool(3, stride=2) >> conv(3, 32, padding=1) >> relu >> maxpool(3, stride=2, padding=1) >> conv(3, 32, padding=1) >> relu >> upsample(2) >> avgpool(3, stride=1, padding=1) >> conv(1, 32) >> relu >> gmaxpool"
      "global pooling, dense layers and dropout", "conv(3, 32, padding=1) >> leaky(0.2) >> conv(3, 32, padding=1) >> act(x * sigmoid(b * x), b=1.5) >> gavgpool >> flatten >> dense(64) >> relu >> dropout(0.5) >> dense(10)" ]

let measuredTests =
    testSequenced
    <| testList "predicted against measured" [
        for name, text in measuredCases do
            test $"{name}: every node within 10 %% or four standard errors" {
                let input = Spatial (32, 8, 8)
                let pairs = measured (Initialisers.AutoInit (Exact, Initialisers.Normal)) input (check input text) 24 4
                let off = pairs |> List.filter (agreesWithin 0.1 >> not) |> List.map describe
                Expect.isEmpty off "nodes off"
            }
        test "batch norm over a batch of 4 removes a quarter of the spatially constant fluctuation" {
            // On 4×4 maps the pooled variance is mostly the per-sample spatial mean, which the batch's mean
            // takes a quarter of; the ensemble's rule overestimates it by a third.
            let input = Spatial (16, 4, 4)
            let tree = check input "conv(3, 32, padding=1) >> relu >> conv(3, 32, padding=1, bias=false) >> bn >> relu >> gavgpool"
            let threads = torch.get_num_threads ()
            torch.set_num_threads 1
            try
                use network = Network.Compile ("t", tree, input) |> Repository.unwrap
                let prepared = Initialisers.prepare (Initialisers.AutoInit (Exact, Initialisers.Normal)) None network |> Repository.unwrap
                let measured, _ =
                    Agreement.drawAndMeasure prepared network [ 1 .. 200 ] (fun _ -> Measurement.gaussianBatch network 4) true |> Repository.unwrap
                let pooled = measured |> List.find (fun m -> m.Path = "gavgpool")
                let batched = Initialisers.predictInBatches prepared 4 network None |> Repository.unwrap
                let inBatches = batched.Nodes |> List.find (fun n -> n.Path = "gavgpool")
                let ensemble = prepared.Plan.Nodes |> List.find (fun n -> n.Path = "gavgpool")
                Expect.isTrue (agreesWithin 0.1 (inBatches, pooled)) (describe (inBatches, pooled))
                Expect.isGreaterThan (ensemble.Variance / pooled.Variance) 1.2 "the ensemble's rule, for contrast"
            finally
                torch.set_num_threads threads
        }
    ]

let planned method input text =
    let tree = check input text
    (Initialisers.plan method input None tree |> Repository.unwrap).Layers
    |> List.map (fun (l, v) -> (if l.Part = "" then l.Path else l.Path + "/" + l.Part), v)
    |> Map.ofList

let initialiserTests =
    testList "initialisers" [
        test "He: 2/((1 + α²)·fan-in) with α of the ReLU-family activation that follows, groups counted" {
            let input = Spatial (8, 6, 6)
            let v = planned (Initialisers.He (Initialisers.FanIn, Initialisers.Normal)) input "conv(3, 16) >> leaky(0.2) >> conv(3, 16, groups=4) >> bn >> prelu(0.25) >> conv(1, 8) >> tanh"
            close 1e-15 (2.0 / (1.04 * 72.0)) v["conv1"].Weight "leaky 0.2"
            close 1e-15 (2.0 / (1.0625 * 36.0)) v["conv2"].Weight "prelu 0.25 after bn, fan-in 16/4·9"
            close 1e-15 (2.0 / 16.0) v["conv3"].Weight "tanh is no ReLU: plain He"
            let out = planned (Initialisers.He (Initialisers.FanOut, Initialisers.Normal)) input "conv(3, 16, groups=4) >> relu"
            close 1e-15 (2.0 / 36.0) out["conv"].Weight "fan-out (16/4)·9"
        }
        test "Glorot and PyTorch's default count fans the same way" {
            let input = Spatial (8, 6, 6)
            let glorot = planned (Initialisers.Glorot Initialisers.Uniform) input "conv(3, 16, groups=2) >> relu >> flatten >> dense(10)"
            close 1e-15 (2.0 / (36.0 + 72.0)) glorot["conv"].Weight "conv"
            close 1e-15 (2.0 / (256.0 + 10.0)) glorot["dense"].Weight "dense"
            let torchDefault = planned Initialisers.TorchDefault input "conv(3, 16, groups=2) >> relu"
            close 1e-15 (1.0 / 108.0) torchDefault["conv"].Weight "weights U(±1/√fan-in)"
            close 1e-15 (1.0 / 108.0) torchDefault["conv"].Bias "biases U(±1/√fan-in)"
        }
        testSequenced <| test "every weight law draws its planned variance, zero-mean" {
            use _ = torch.NewDisposeScope ()
            torch.manual_seed 7L |> ignore
            let input = Spatial (64, 6, 6)
            let tree = check input "conv(3, 96) >> relu >> conv(1, 48)"
            use network = Network.Compile ("t", tree, input) |> Repository.unwrap
            for law in [ Initialisers.Normal; Initialisers.TruncatedNormal; Initialisers.Uniform; Initialisers.Orthogonal ] do
                let plan = (Initialisers.plan (Initialisers.AutoInit (Exact, law)) input None tree |> Repository.unwrap).Layers
                Initialisers.applyPlan law plan network |> Repository.unwrap
                let realised = Initialisers.realised network (List.map fst plan) |> Repository.unwrap
                for (layer, planned), (_, drawn) in List.zip plan realised do
                    let weight, _ = Initialisers.tensorsOf network layer |> Repository.unwrap
                    // Four standard errors of a mean square of n normal draws; an orthogonal draw is exact.
                    let tolerance = if law = Initialisers.Orthogonal then 1e-5 else 4.0 * sqrt (2.0 / float (weight.numel ()))
                    close (tolerance * planned.Weight) planned.Weight drawn.Weight $"{law} {layer.Path}"
                    close (4.0 * sqrt (planned.Weight / float (weight.numel ()))) 0.0 (weight.mean().item<float32> () |> float) $"{law} {layer.Path} mean"
        }
        testSequenced <| test "LSUV leaves every weighted layer's output standard deviation within 0.1 of 1 on its batch" {
            use _ = torch.NewDisposeScope ()
            torch.manual_seed 3L |> ignore
            let input = Spatial (3, 12, 12)
            let tree = check input "conv(3, 16, padding=1) >> relu >> conv(3, 16, padding=1) >> tanh >> maxpool(2) >> conv(3, 32) >> elu >> flatten >> dense(10)"
            use network = Network.Compile ("t", tree, input) |> Repository.unwrap
            let prepared = Initialisers.prepare Initialisers.Lsuv None network |> Repository.unwrap
            let batch = Measurement.gaussianBatch network 32
            prepared.Draw batch |> Repository.unwrap
            use _ = torch.no_grad ()
            let stds = System.Collections.Generic.Dictionary<string, float>()
            network.Observe (batch, fun path y -> stds[path] <- y.std().item<float32> () |> float) |> ignore
            for layer, _ in prepared.Plan.Layers do
                close 0.1 1.0 stds[layer.Path] layer.Path
        }
        test "methods, laws and rules parse as the command line writes them, and reject the rest" {
            Expect.isOk (Initialisers.parseMethod "autoinit" Exact Initialisers.Normal) "autoinit"
            Expect.isOk (Initialisers.parseMethod "torch-default" Exact Initialisers.Normal) "torch-default"
            Expect.isError (Initialisers.parseMethod "xavier-ish" Exact Initialisers.Normal) "unknown method"
            Expect.equal (Initialisers.parseRules "autoinit-2023") (Ok AutoInit2023) "rules"
            Expect.isError (Initialisers.parseLaw "cauchy") "unknown law"
        }
    ]

open Receptor.Cli.Commands

/// A small seeded generator of architectures for the initialisation properties: plain deep chains of
/// convolution and activation (every activation, a few act expressions, random act expressions) pooled down to
/// 2×2 maps, residual stacks, concat blocks, parallel branches (sums, maxima, gates σ(conv)·conv and
/// squeeze-and-excitation), dropout, pooling and zero padding of non-zero means.
module Architectures =
    open Receptor.Core.Data

    let activations =
        [ "relu"; "leaky(0.1)"; "prelu(0.25)"; "elu"; "selu"; "gelu"; "silu"; "mish"; "tanh"; "sigmoid"; "softplus"
          "relu6"; "hardswish"; "act(x * sigmoid(b * x), b=1.5)"; "act(max(x, 0.3 * x))"; "act(x * tanh(softplus(x)))"
          "act(tanh(x) + 0.1 * x)" ]

    type Case = { Name: string; Input: Shape; Text: string }

    let private pick (rng: Rng) (items: 'a list) = items[rng.NextInt items.Length]

    /// One convolution: padded, or zero padding then a valid convolution, sometimes after dropout.
    let private conv (rng: Rng) width =
        let dropout = if rng.NextFloat () < 0.2 then sprintf "dropout(%.1f) >> " (pick rng [ 0.1; 0.3; 0.5 ]) else ""
        let body = if rng.NextFloat () < 0.25 then sprintf "zeropad(1) >> conv(3, %d)" width else sprintf "conv(3, %d, padding=1)" width
        dropout + body

    /// Activations whose output mean is zero on a centred input: channel offsets do not build up through them.
    let centred = [ "tanh"; "selu"; "act(tanh(x) + 0.1 * x)" ]

    let chainOf (rng: Rng) (choices: string list) pools depth width =
        let act = pick rng choices
        let layers = [ for i in 1 .. depth -> conv rng width + " >> " + (if rng.NextFloat () < 0.3 then pick rng choices else act) ]
        let pooling () = pick rng [ "avgpool(2)"; "maxpool(2)" ]
        // 8×8 → 4×4 halfway; with two poolings → 2×2 at three quarters.
        let layers =
            if pools = 1 then layers |> List.insertAt (depth / 2) (pooling ())
            else layers |> List.insertAt (depth / 2) (pooling ()) |> List.insertAt (3 * depth / 4 + 1) (pooling ())
        let maps = if pools = 1 then "" else ", down to 2×2"
        { Name = $"chain of {depth} ({act}{maps})"; Input = Spatial (width, 8, 8); Text = String.concat " >> " layers + " >> gavgpool >> flatten >> dense(10)" }

    let chain rng depth width = chainOf rng activations 1 depth width

    let chain2 rng depth width = chainOf rng activations 2 depth width

    let residual (rng: Rng) blocks width norm =
        let act = pick rng activations
        let bn = if norm then " >> bn" else ""
        let block () =
            let scale = pick rng [ "1.0"; "0.5" ]
            sprintf "residual(conv(3, %d, padding=1)%s >> %s >> conv(3, %d, padding=1)%s, scale=%s) >> %s" width bn act width bn scale act
        let body = [ for _ in 1 .. blocks -> block () ]
        { Name = $"""residual, {blocks} blocks ({act}{if norm then ", bn" else ""})"""
          Input = Spatial (width, 8, 8)
          Text = sprintf "conv(3, %d, padding=1) >> %s >> %s >> gavgpool >> flatten >> dense(10)" width act (String.concat " >> " body) }

    let concat (rng: Rng) blocks width =
        let act () = pick rng activations
        let block () =
            sprintf "concat(conv(1, %d) >> %s, %s >> %s, identity) >> conv(1, %d) >> %s" (width / 2) (act ()) (conv rng (width / 2)) (act ()) width (act ())
        { Name = $"concat, {blocks} blocks"
          Input = Spatial (width, 8, 8)
          Text = String.concat " >> " [ for _ in 1 .. blocks -> block () ] + " >> dropout(0.5) >> avgpool(2) >> conv(3, 16, padding=1) >> relu >> gavgpool" }

    /// A random activation expression that an initialiser can work with: it depends on `x`, is built from
    /// functions of at most linear growth (so its moments exist and stay moderate), and is never constant.
    let randomActivation (rng: Rng) =
        let unary = [ Tanh; Sigmoid; Relu; Softplus; Sin; Atan; Erf; Asinh; Gauss; Abs ]
        let scaled () = Binary (BinaryFn.Mul, Const (pick rng [ 0.5; 1.0; 1.5; 2.0 ]), X)
        let term () =
            match rng.NextInt 3 with
            | 0 -> Unary (pick rng unary, X)
            | 1 -> Unary (pick rng unary, scaled ())
            | _ -> Binary (BinaryFn.Mul, X, Unary (pick rng [ Sigmoid; Tanh; Erf; Gauss ], scaled ()))
        let expression =
            match rng.NextInt 3 with
            | 0 -> term ()
            | 1 -> Binary (pick rng [ BinaryFn.Add; BinaryFn.Sub; BinaryFn.Max; BinaryFn.Min ], term (), Binary (BinaryFn.Mul, Const (pick rng [ 0.1; 0.5; 1.0 ]), term ()))
            | _ -> Unary (pick rng unary, term ())
        // Gauss and Abs of an even term, or Max/Min of equal terms, can still be even in x: that is allowed,
        // only an expression without x is degenerate, and every term above contains x.
        "act(" + Printer.expression expression + ")"

    /// Blocks of parallel paths from one input: sums of several kernel sizes and maxima.
    let branches (rng: Rng) blocks width =
        let act () = pick rng activations
        let block () =
            let merge =
                match rng.NextInt 2 with
                | 0 -> sprintf "add(conv(3, %d, padding=1) >> %s, conv(5, %d, padding=2) >> %s, conv(1, %d) >> %s)" width (act ()) width (act ()) width (act ())
                | _ -> sprintf "max(conv(3, %d, padding=1), conv(1, %d))" width width
            sprintf "%s >> conv(1, %d) >> %s" merge width (act ())
        { Name = $"branches, {blocks} blocks"
          Input = Spatial (width, 8, 8)
          Text = String.concat " >> " [ for _ in 1 .. blocks -> block () ] + " >> maxpool(2) >> gavgpool >> flatten >> dense(10)" }

    /// Blocks of gates, σ(conv(x))·conv(x) and squeeze-and-excitation, in turn, pooled down to 2×2.
    let gates (rng: Rng) blocks width =
        let act () = pick rng activations
        let block kind =
            let gate =
                if kind % 2 = 0 then sprintf "multiply(conv(3, %d, padding=1), conv(3, %d, padding=1) >> sigmoid)" width width
                else sprintf "conv(3, %d, padding=1) >> %s >> multiply(identity, gavgpool >> conv(1, %d) >> relu >> conv(1, %d) >> sigmoid)" width (act ()) (width / 4) width
            sprintf "%s >> conv(1, %d) >> %s" gate width (act ())
        let blocks = [ for kind in 0 .. blocks - 1 -> block kind ]
        let pooled = blocks |> List.insertAt (3 * blocks.Length / 4) "maxpool(2)" |> List.insertAt (blocks.Length / 2) "avgpool(2)"
        { Name = $"gates, {blocks.Length} blocks, down to 2×2"
          Input = Spatial (width, 8, 8)
          Text = String.concat " >> " pooled + " >> gavgpool >> flatten >> dense(10)" }

    /// The family: a fixed seed names it. Chains with activations of positive mean stop at depth 30: beyond,
    /// the channel offsets they build up make a single network's variance wander by a factor e^{±1} at width
    /// 64, more than a test's few seeds can average; the depth-60 chain uses centred activations. Residual
    /// stacks without normalisation stop at 6 blocks: deeper, the stream and the bodies grow together from
    /// draw to draw, which the independent-sum rule does not see (docs/initialisation.md, "Stated approximations").
    let family seed =
        let rng = Rng seed
        [ chain rng 10 64; chain rng 20 64; chain rng 30 64; chain rng 30 32; chainOf rng centred 1 60 32
          residual rng 6 32 false; residual rng 10 32 true; concat rng 4 32; concat rng 8 32; branches rng 6 32 ]
        // Random expressions may have a positive mean: width 64, as for the named ones.
        @ [ for _ in 1 .. 3 -> chainOf rng [ randomActivation rng ] 1 20 64 ]
        // Gates and maps down to 2×2 (issue "Initialisation II"), after the cases above so that those stay as drawn;
        // gates keep positive means (σ has mean ½), so width 64 as for the chains of positive mean.
        @ [ gates rng 6 64; gates rng 8 64; chain2 rng 20 64; chainOf rng centred 2 30 32 ]

/// What one family run measured: per case and rules, the weighted layers' measured variance errors against
/// the target, and whether each node's prediction agreed with its measurement.
type private FamilyRun =
    { Case: Architectures.Case
      Rules: Rules
      TargetErrors: float list
      Agreements: (NodeMoments * Measurement.Measured) list }

let private familyRuns =
    lazy (
        [ for case in Architectures.family 2024 do
              let tree = check case.Input case.Text
              // Batch normalisation takes its statistics from the batch: give it enough samples to approach the
              // ensemble the prediction describes.
              let batch = if case.Text.Contains "bn" then 8 else 2
              for rules in [ Exact; AutoInit2023 ] do
                  let pairs = measured (Initialisers.AutoInit (rules, Initialisers.Normal)) case.Input tree 96 batch
                  let layers = (Initialisers.plan (Initialisers.AutoInit (rules, Initialisers.Normal)) case.Input None tree |> Repository.unwrap).Layers
                  // Each weighted layer against its own target (a ReLU-gated readout's is Initialisers.readoutTarget).
                  let targets = layers |> List.filter (fun (l, _) -> l.Output) |> List.map (fun (l, v) -> l.Path, v.Target) |> Map.ofList
                  let errors =
                      pairs
                      |> List.choose (fun (p, m) -> targets.TryFind p.Path |> Option.map (fun t -> abs (m.Variance - t) / t))
                  yield { Case = case; Rules = rules; TargetErrors = errors; Agreements = pairs } ])

let private median (xs: float list) = let s = List.sort xs in s[s.Length / 2]

let private within15 (errors: float list) = float (errors |> List.filter (fun e -> e <= 0.15) |> List.length) / float errors.Length


let private runInit (options: Init.Options) =
    use output = new IO.StringWriter ()
    use error = new IO.StringWriter ()
    let code = Init.run output error options
    code, output.ToString (), error.ToString ()

let private tinyProgram =
    lazy (
        let path = IO.Path.Combine (IO.Path.GetTempPath (), $"receptor-init-{Environment.ProcessId}.rcp")
        IO.File.WriteAllText (
            path,
            "input(3, 8, 8)\nnetwork tiny = conv(3, 8, padding=1) >> relu >> dropout(0.5) >> conv(3, 8) >> gavgpool >> flatten >> dense(4)\n")
        path)

/// The verdict that `receptor init --report` and `receptor study agreement` print, on hand-made pairs.
let verdictTests =
    let node path mean variance = ({ Path = path; Op = "op"; Mean = mean; Variance = variance; Offset = 0.0 }: NodeMoments)
    let measured path mean variance varianceError =
        ({ Path = path; Mean = mean; Variance = variance; MeanError = 0.0; VarianceError = varianceError }: Measurement.Measured)
    let layer path =
        ({ Path = path; Part = ""; Kind = "conv"; FanIn = 9; FanOut = 9; Energy = 1.0; Gain = 1.0; HasBias = true; Kurtosis = 0.0; Output = true }: WeightedLayer),
        WeightVariance.centred 1.0 0.0
    testList "verdict" [
        test "a variance 1.37 against 1.00 measured with a standard error of 0.55 agrees, as in the tests; with 0.01 it does not" {
            Expect.isTrue (Measurement.agreesWithin Measurement.reportShare (node "a" 0.0 1.37) (measured "a" 0.0 1.0 0.55)) "within four standard errors"
            Expect.isFalse (Measurement.agreesWithin Measurement.reportShare (node "a" 0.0 1.37) (measured "a" 0.0 1.0 0.01)) "37 % off, tightly measured"
        }
        test "counts agreeing nodes and weighted layers on target, and names the first miss" {
            let prediction =
                { Nodes = [ node "conv1" 0.0 1.0; node "relu" 0.4 0.34; node "conv2" 0.0 1.0; node "unmeasured" 0.0 1.0 ]
                  Layers = [ layer "conv1"; layer "conv2" ] }
            let measurements = [ measured "conv1" 0.0 1.05 0.01; measured "relu" 0.4 0.5 0.01; measured "conv2" 0.0 1.4 0.01 ]
            let verdict = Agreement.verdict prediction measurements
            Expect.equal (verdict.Nodes, verdict.Agreeing) (3, 1) "nodes measured, agreeing"
            Expect.equal (verdict.Weighted, verdict.OnTarget) (2, 1) "conv1 within 15 % of 1, conv2 not"
            Expect.equal (verdict.FirstMiss |> Option.map (fun (p, _) -> p.Path)) (Some "relu") "the first miss in order"
            Expect.floatClose Accuracy.high verdict.MedianError (0.4 / 1.4) "median of 0.05/1.05 and 0.4/1.4, upper"
        }
    ]

let private flatProgram =
    lazy (
        let path = IO.Path.Combine (IO.Path.GetTempPath (), $"receptor-init-flat-{Environment.ProcessId}.rcp")
        IO.File.WriteAllText (path, "input(100)\nnetwork flat = dense(10)\n")
        path)

let commandTests =
    testSequenced
    <| testList "receptor init" [
        test "--report prints every node's predicted and measured moments and exits 0" {
            let code, output, error = runInit { Init.defaults with File = tinyProgram.Value; Seeds = 2; Batch = 4; Report = true }
            Expect.equal code 0 $"exit code ({error})"
            for path in [ "conv1"; "relu"; "dropout"; "conv2"; "gavgpool"; "flatten"; "dense" ] do
                Expect.stringContains output ("\n" + path + " ") $"a row for {path}"
            Expect.stringContains output "nodes agree" "the summary"
        }
        test "without --report it prints the planned weight standard deviations" {
            let code, output, _ = runInit { Init.defaults with File = tinyProgram.Value; Method = "he" }
            Expect.equal code 0 "exit code"
            Expect.stringContains output "weight sd" "the plan's header"
            Expect.stringContains output "conv1" "a planned layer"
        }
        test "bad input exits 2 with a message, never a stack trace" {
            let d = { Init.defaults with File = tinyProgram.Value }
            for options, expected in
                [ { d with File = "no-such-file.rcp" }, "no such file"
                  { d with Method = "magic" }, "unknown method"
                  { d with Rules = "approximate" }, "unknown rules"
                  { d with Law = "cauchy" }, "unknown weight law"
                  { d with Data = "imagenet" }, "unknown data"
                  { d with Data = "mnist"; File = flatProgram.Value }, "the network takes 100 features"
                  { d with Seeds = 0 }, "--seeds" ] do
                let code, _, error = runInit options
                Expect.equal code 2 $"exit code for {expected}"
                Expect.stringContains error expected "the message"
                Expect.isFalse (error.Contains "   at ") "no stack trace"
        }
    ]

/// The family's stated tolerance: variance within 15 %, mean within 0.075 measured standard deviations (or four
/// standard errors); at a max pooling, and the global pooling and flattening straight after it, the mean within
/// 0.2 standard deviations: on signals made mostly of channel offsets (after positive-mean activations) the
/// measured mean after 2×2 max pooling came out up to 0.15 standard deviations above the prediction, a
/// discrepancy whose cause is not yet identified (docs/initialisation.md, "Stated approximations").
let private familyAgreement (pairs: (NodeMoments * Measurement.Measured) list) =
    pairs |> List.map (fun pair -> pair, agreesWithin 0.15 pair)

let private summarise (runs: FamilyRun list) =
    let errors = runs |> List.collect (fun r -> r.TargetErrors)
    let nodes = runs |> List.collect (fun r -> familyAgreement r.Agreements)
    let agreeing = nodes |> List.filter snd |> List.length
    within15 errors, median errors, errors.Length, float agreeing / float nodes.Length, nodes.Length

let familyTests =
    testSequenced
    <| testList "generated architectures" [
        test "autoinit under exact rules: ≥ 95 % of weighted layers within 15 % of the target, median ≤ 5 %, every node predicted" {
            let runs = familyRuns.Value
            for rules in [ Exact; AutoInit2023 ] do
                let mine = runs |> List.filter (fun r -> r.Rules = rules)
                for r in mine do
                    let w, m, n, a, nodes = summarise [ r ]
                    printfn "  %-14A %-44s layers within 15%%: %5.1f%% of %3d, median error %5.1f%%; nodes agreeing: %5.1f%% of %3d"
                        rules r.Case.Name (100.0 * w) n (100.0 * m) (100.0 * a) nodes
                let w, m, n, a, nodes = summarise mine
                printfn "%-14A all: layers within 15%%: %.1f%% of %d, median error %.1f%%; nodes agreeing: %.1f%% of %d" rules (100.0 * w) n (100.0 * m) (100.0 * a) nodes
            let exact = runs |> List.filter (fun r -> r.Rules = Exact)
            let w, m, _, _, _ = summarise exact
            Expect.isGreaterThanOrEqual w 0.95 "share of weighted layers within 15 % of the target"
            Expect.isLessThanOrEqual m 0.05 "median error"
            let off =
                exact
                |> List.collect (fun r -> familyAgreement r.Agreements |> List.filter (snd >> not) |> List.map (fun (p, _) -> r.Case.Name + " " + describe p))
            Expect.isEmpty off ("nodes whose prediction is off by more than the stated tolerance:\n" + String.concat "\n" off)
        }
    ]

let tests =
    testList "signal" [ specialTests; momentTests; propagationTests; measuredTests; initialiserTests; verdictTests; commandTests; familyTests ]
