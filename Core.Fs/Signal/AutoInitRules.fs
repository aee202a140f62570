/// AutoInit's own rules (Bingham & Miikkulainen 2023; cognizant-ai-labs/autoinit, estimators/*.py), kept
/// to compare with the exact ones on the same trees: one (mean, variance) per node, and the simplifications
/// REFERENCE §6 lists — dropout's variance σ²/(1 − p), zero padding as dropout, pooling of iid Gaussians,
/// PReLU as ReLU, normalisation as N(0, 1), independent merge inputs, TensorFlow's depthwise fan-in.
module internal Receptor.Core.Signal.AutoInitRules

open Receptor.Dsl
open Receptor.Core.Signal.Moments

type Scalar = { Mean: float; Variance: float; Shape: Shape }

let layer (context: Context) (layer: CheckedLayer) (input: Scalar) : Result<Scalar, string> =
    let args = layer.Args
    let output (mean, variance) = Ok { Mean = mean; Variance = variance; Shape = layer.Facts.Output }
    let second = input.Variance + input.Mean * input.Mean
    let weighted part fanIn fanOut bias =
        // Var(W) = target / (fan_in · E[x²]); padding and the bias are ignored, the output is (0, target).
        let described =
            { Path = layer.Path; Part = part; Kind = layer.Kind.Name; FanIn = fanIn; FanOut = fanOut; Energy = float fanIn * second; Gain = 1.0; HasBias = bias }
        let chosen = Context.choose context described
        0.0, chosen.Weight * described.Energy
    let area () = let kh, kw = args.Pair "kernel" in kh * kw
    let cin = Shape.channels input.Shape
    let cout = Shape.channels layer.Facts.Output
    let activationOf (a: Activation) =
        let m = ofActivation a input.Mean input.Variance
        output (m.Mean, m.Variance)
    match layer.Kind.Name with
    | "conv" ->
        let groups = args.Int "groups"
        output (weighted "" (cin / groups * area ()) (cout / groups * area ()) (args.Bool "bias"))
    // TensorFlow's DepthwiseConv2D kernel is (k, k, in, multiplier): VarianceScaling counts fan-in k²·in.
    | "dwconv" -> output (weighted "" (cin * area ()) (args.Int "multiplier" * area ()) (args.Bool "bias"))
    | "sepconv" ->
        let _, variance = weighted "depthwise" (cin * area ()) (area ()) false
        let second = variance
        let described =
            { Path = layer.Path; Part = "pointwise"; Kind = layer.Kind.Name; FanIn = cin; FanOut = cout; Energy = float cin * second; Gain = 1.0; HasBias = args.Bool "bias" }
        let chosen = Context.choose context described
        output (0.0, chosen.Weight * described.Energy)
    | "dense" -> output (weighted "" cin cout (args.Bool "bias"))
    // PReLU is taken for ReLU whatever its initial slope.
    | "prelu" -> activationOf Activation.relu
    | kind when (Activation.ofLayer kind args).IsSome -> activationOf (Activation.ofLayer kind args).Value
    | "dropout" -> output (input.Mean, input.Variance / (1.0 - args.Float "p"))
    | "batchnorm" | "layernorm" | "groupnorm" -> output (0.0, 1.0)
    | "zeropad" ->
        let rate = 1.0 - float (Shape.elements layer.Input) / float (Shape.elements layer.Facts.Output)
        output (input.Mean * (1.0 - rate), input.Variance * (1.0 - rate))
    | "avgpool" -> output (input.Mean, input.Variance / float (area ()))
    | "adaptiveavgpool" ->
        // The average window: input positions per output position.
        let window = float (Shape.elements input.Shape) / float (Shape.elements layer.Facts.Output)
        output (input.Mean, input.Variance / window)
    | "gavgpool" -> output (input.Mean, input.Variance / float (Shape.elements input.Shape / int64 cin))
    | "maxpool" | "gmaxpool" ->
        let k = if layer.Kind.Name = "maxpool" then area () else int (Shape.elements input.Shape / int64 cin)
        let m = maxOfIid k Fn.identity input.Mean input.Variance
        output (m.Mean, m.Variance)
    | "scale" -> let f = args.Float "factor" in output (f * input.Mean, f * f * input.Variance)
    // Pass-through: identity, flatten, upsample (and, in AutoInit, any layer it does not know).
    | _ -> output (input.Mean, input.Variance)

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


