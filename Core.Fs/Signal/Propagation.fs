/// Moment propagation: one fold over the checked tree predicting, at every node, the mean and variance of its
/// output over the ensemble of weight draws and inputs (training mode), given the variance of each weighted
/// layer's zero-mean weights. Each layer kind names its rule in its bundle (Core.Fs/Kinds), merges theirs in
/// MergeRules.fs. AutoInit's own rules (AutoInitRules.fs), also named per kind, run through the same fold.
///
/// Approximations, all stated here:
/// - a weighted layer's output is Gaussian given its moments (its fan-in sums many independent terms), and
///   independent of its input over the ensemble (zero-mean weights; exact to O(1/fan-in) — not for 3×3
///   depthwise convolutions, whose per-channel scale varies);
/// - fluctuations are spatially uncorrelated over the ensemble (exact after a convolution of white input;
///   overlapping pooling and upsampling make neighbours correlate, which a later average pooling ignores);
/// - channel offsets carry their covariance across positions on maps up to 32×32 (through activations by
///   the first two terms of its Hermite expansion, exact on the diagonal); larger maps take them to be
///   perfectly correlated, exact away from zero-padded borders;
/// - normalisation statistics are those of the ensemble (batch and map large enough);
/// - max pooling near padded borders uses the window's average moments;
/// - a selective-kernel unit's attention is independent of the branch values it weighs (it comes from a
///   global average), and its output is Gaussian with its exact mean and variance;
/// - a sum, product or maximum of independent branches keeps its exact marginal law but forgets how it
///   depends on what came before; products and maxima treat the branches as independent given the weights.
module Receptor.Core.Signal.Propagation

open System
open Receptor.Dsl
open Receptor.Core.Signal.Signal
open Receptor.Core.Kinds

let private finite (x: float) = not (Double.IsNaN x || Double.IsInfinity x)

type private RuleSet<'S> =
    { Layer: CheckedLayer -> 'S -> Result<'S, string>
      Merge: CheckedMerge -> 'S list -> Result<'S, string>
      Summary: 'S -> float * float * float }

let private fold (rules: RuleSet<'S>) (input: 'S) (tree: Checked) =
    let nodes = ResizeArray<NodeMoments>()
    let record path op state =
        let mean, variance, offset = rules.Summary state
        if finite mean && finite variance then
            nodes.Add { Path = path; Op = op; Mean = mean; Variance = variance; Offset = offset }
            Ok state
        else Error (Diagnostic.atPath path (sprintf "predicted moments are not finite (mean %g, variance %g)" mean variance))
    let rec walk (state: 'S) node : Result<'S, Diagnostic> =
        match node with
        | CheckedOp layer ->
            rules.Layer layer state
            |> Result.mapError (Diagnostic.atPath layer.Path)
            |> Result.bind (record layer.Path (Printer.layer layer.Layer))
        | CheckedSeq children -> children |> List.fold (fun acc child -> acc |> Result.bind (fun s -> walk s child)) (Ok state)
        | CheckedBranches merge ->
            let branches =
                merge.Branches
                |> List.fold (fun acc b -> acc |> Result.bind (fun done' -> walk state b |> Result.map (fun s -> s :: done'))) (Ok [])
                |> Result.map List.rev
            branches
            |> Result.bind (fun outputs -> rules.Merge merge outputs |> Result.mapError (Diagnostic.atPath merge.Path))
            |> Result.bind (record merge.Path (Naming.mergeName merge.Merge))
    walk input tree |> Result.map (fun _ -> List.ofSeq nodes)

let private exactRules (context: Context) =
    { Layer = fun layer input -> Registry.tryPhases layer |> Result.bind (fun phases -> phases.Moments context layer input)
      Merge = MergeRules.merge context
      Summary = Signal.summary }

let private autoInitRules (context: Context) =
    { Layer = fun layer input -> Registry.tryPhases layer |> Result.bind (fun phases -> phases.AutoInit2023 context layer input)
      Merge = AutoInitRules.merge
      Summary = fun (s: AutoInitRules.Scalar) -> s.Mean, s.Variance, 0.0 }

/// Propagates moments through a checked tree. `choose` gives each weighted layer its weight variance, seeing
/// what the layer will receive (AutoInit chooses target/Energy; fixed schemes ignore it).
let run (rules: Rules) (choose: WeightedLayer -> WeightVariance) (input: Shape) (inputMoments: InputMoments option) (tree: Checked) =
    let context = { Ids = Ids(); Choose = choose; Chosen = ResizeArray() }
    let nodes =
        match rules with
        | Exact ->
            let signal =
                match inputMoments with
                | Some m -> Signal.inputOfMaps context.Ids input m.Mean m.Variance
                | None -> Signal.standardInput context.Ids input
            fold (exactRules context) signal tree
        | AutoInit2023 ->
            let mean, variance =
                match inputMoments with
                | Some m ->
                    let mean = Array.average m.Mean
                    mean, (Array.map2 (fun a v -> a * a + v) m.Mean m.Variance |> Array.average) - mean * mean
                | None -> 0.0, 1.0
            fold (autoInitRules context) ({ Mean = mean; Variance = variance; Shape = input }: AutoInitRules.Scalar) tree
    nodes |> Result.map (fun nodes -> { Nodes = nodes; Layers = List.ofSeq context.Chosen })
