/// AutoInit's own rules (Bingham & Miikkulainen 2023; cognizant-ai-labs/autoinit, estimators/*.py), kept
/// to compare with the exact ones on the same trees: one (mean, variance) per node, and the simplifications
/// REFERENCE §6 lists — dropout's variance σ²/(1 − p), zero padding as dropout, pooling of iid Gaussians,
/// PReLU as ReLU, normalisation as N(0, 1), independent merge inputs, TensorFlow's depthwise fan-in.
/// Each kind names its rule in its bundle (Core.Fs/Kinds); a kind AutoInit has no estimator for says so with
/// `unknown`, which passes the moments through and sets no weights, as AutoInit's Keras code does.
module internal Receptor.Core.Signal.AutoInitRules

open Receptor.Dsl
open Receptor.Dsl.Layers
open Receptor.Core.Signal.Moments

type Scalar = { Mean: float; Variance: float; Shape: Shape }

type Rule = Context -> CheckedLayer -> Scalar -> Result<Scalar, string>

let private output (layer: CheckedLayer) (mean, variance) = Ok { Mean = mean; Variance = variance; Shape = layer.Facts.Output }

/// Var(W) = target / (fan_in · E[x²]); padding and the bias's variance are ignored, the output is
/// (bias mean, target).
let private weighted (context: Context) (layer: CheckedLayer) part output fanIn fanOut bias second =
    let described =
        { Path = layer.Path; Part = part; Kind = layer.Kind.Name; FanIn = fanIn; FanOut = fanOut; Energy = float fanIn * second; Gain = 1.0; HasBias = bias
          // AutoInit's rules know no input law beyond its variance: taken as Gaussian.
          Kurtosis = 6.0 / float fanIn
          Output = output }
    let chosen = Context.choose context described
    (if bias then chosen.BiasMean else 0.0), chosen.Weight * described.Energy

let private second (input: Scalar) = input.Variance + input.Mean * input.Mean

let private area (layer: CheckedLayer) = let kh, kw = layer.Window.Kernel in kh * kw

/// A (grouped) convolution: fan-in (input channels / groups) · kernel area.
let convolution: Rule =
    fun context layer input ->
        let groups, bias = layer.Window.Groups, Convolution.hasBias layer.Args
        let cin, cout = Shape.channels input.Shape, Shape.channels layer.Facts.Output
        output layer (weighted context layer "" true (cin / groups * area layer) (cout / groups * area layer) bias (second input))

/// TensorFlow's DepthwiseConv2D kernel is (k, k, in, multiplier): VarianceScaling counts fan-in k²·in.
let depthwise: Rule =
    fun context layer input ->
        let cin, cout = Shape.channels input.Shape, Shape.channels layer.Facts.Output
        output layer (weighted context layer "" true (cin * area layer) (cout / cin * area layer) (Convolution.hasBias layer.Args) (second input))

let separable: Rule =
    fun context layer input ->
        let bias = Convolution.hasBias layer.Args
        let cin, cout = Shape.channels input.Shape, Shape.channels layer.Facts.Output
        let _, variance = weighted context layer "depthwise" false (cin * area layer) (area layer) false (second input)
        output layer (weighted context layer "pointwise" true cin cout bias variance)

let dense: Rule =
    fun context layer input ->
        let bias = Convolution.hasBias layer.Args
        output layer (weighted context layer "" true (Shape.channels input.Shape) (Shape.channels layer.Facts.Output) bias (second input))

let activation (a: Activation) : Rule =
    fun _ layer input ->
        let m = ofActivation a input.Mean input.Variance
        output layer (m.Mean, m.Variance)

let dropout: Rule = fun _ layer input -> output layer (input.Mean, input.Variance / (1.0 - Structural.dropProbability layer.Args))

let normalisation: Rule = fun _ layer _ -> output layer (0.0, 1.0)

let zeropad: Rule =
    fun _ layer input ->
        let rate = 1.0 - float (Shape.elements layer.Input) / float (Shape.elements layer.Facts.Output)
        output layer (input.Mean * (1.0 - rate), input.Variance * (1.0 - rate))

/// Average pooling over `window` positions.
let average (window: CheckedLayer -> float) : Rule =
    fun _ layer input -> output layer (input.Mean, input.Variance / window layer)

/// The maximum of `window` iid values.
let maximum (window: CheckedLayer -> int) : Rule =
    fun _ layer input ->
        let m = maxOfIid (window layer) Fn.identity input.Mean input.Variance
        output layer (m.Mean, m.Variance)

/// Positions per channel of the layer's input: the window of global pooling.
let wholeMap (layer: CheckedLayer) = int (Shape.elements layer.Input / int64 (Shape.channels layer.Input))

/// The kernel area: the window of windowed pooling.
let kernelArea (layer: CheckedLayer) = area layer

let scale: Rule =
    fun _ layer input ->
        let factor = Structural.scaleFactor layer.Args
        output layer (factor * input.Mean, factor * factor * input.Variance)

/// Identity, flatten, upsampling: the moments pass through.
let passThrough: Rule = fun _ layer input -> output layer (input.Mean, input.Variance)

/// A kind AutoInit has no estimator for: passed through, its weights (if any) left as they are.
let unknown: Rule = passThrough

let merge (merge: CheckedMerge) (branches: Scalar list) : Result<Scalar, string> =
    let output (mean, variance) = Ok { Mean = mean; Variance = variance; Shape = merge.Output }
    match merge.Merge with
    // Inputs taken to be independent.
    | Add -> output (List.map2 (fun w b -> w * b.Mean) merge.Weights branches |> List.sum, List.map2 (fun w b -> w * w * b.Variance) merge.Weights branches |> List.sum)
    | Mean ->
        let n = float branches.Length
        output ((branches |> List.sumBy (fun b -> b.Mean)) / n, (branches |> List.sumBy (fun b -> b.Variance)) / (n * n))
    | Multiply ->
        let mean = branches |> List.fold (fun p b -> p * b.Mean) 1.0
        output (mean, (branches |> List.fold (fun p b -> p * (b.Variance + b.Mean * b.Mean)) 1.0) - mean * mean)
    | Concat ->
        let sizes = branches |> List.map (fun b -> float (Shape.elements b.Shape))
        let total = List.sum sizes
        let mean = List.map2 (fun s b -> s * b.Mean) sizes branches |> List.sum |> fun x -> x / total
        let second = List.map2 (fun s b -> s * (b.Variance + b.Mean * b.Mean)) sizes branches |> List.sum |> fun x -> x / total
        output (mean, second - mean * mean)
    // Keras' Maximum layer has no estimator: AutoInit passes its first input through.
    | Max -> output (branches.Head.Mean, branches.Head.Variance)
