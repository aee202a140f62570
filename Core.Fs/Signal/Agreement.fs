/// How far a propagation's prediction is from what TorchSharp measures on a network drawn by it: the counts
/// that `receptor init --report` prints under its table and that the zoo's agreement table
/// (`receptor study agreement`) lists per model.
module Receptor.Core.Signal.Agreement

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch

/// One node's prediction beside its measurement.
type Pair = NodeMoments * Measurement.Measured

/// The counts of one network's comparison.
type Verdict =
    { /// Nodes both predicted and measured.
      Nodes: int
      /// Of those, nodes agreeing by Measurement.agreesWithin at Measurement.reportShare.
      Agreeing: int
      /// Weighted layers measured whose output is their node's (OutputPart): a sepconv counts once, by its
      /// pointwise part; the branch, squeeze and select weights inside a selective-kernel unit do not count,
      /// since the unit's output is its normalised mixture, which no weight variance aims.
      Weighted: int
      /// Of those, layers whose measured output variance is within 15 % of the layer's target
      /// (WeightVariance.Target: 1, AutoInit's ReLU-gated readout 0.01).
      OnTarget: int
      /// The median relative error of the weighted layers' measured variance against their targets.
      MedianError: float
      /// The first node in evaluation order that does not agree.
      FirstMiss: Pair option }

/// A weighted layer is on target when its measured output variance is within this share of the target.
let targetShare = 0.15

/// Relative error of a predicted variance against the measured one.
let relativeError predicted measured = abs (predicted - measured) / max measured 1e-12

/// Whether a weighted layer's output is what its node outputs: a single weight tensor, or a sepconv's
/// pointwise half.
let outputPart (layer: WeightedLayer) = layer.Part = "" || layer.Part = "pointwise"

let private byPath (measured: Measurement.Measured list) = measured |> List.map (fun m -> m.Path, m) |> Map.ofList

let private pairsBy (measuredAt: Map<string, Measurement.Measured>) (prediction: Prediction) : Pair list =
    prediction.Nodes |> List.choose (fun p -> measuredAt.TryFind p.Path |> Option.map (fun m -> p, m))

/// Every predicted node that was measured, in the prediction's order.
let pairs (prediction: Prediction) (measured: Measurement.Measured list) : Pair list = pairsBy (byPath measured) prediction

/// The counts of a comparison.
let verdict (prediction: Prediction) (measured: Measurement.Measured list) : Verdict =
    let measuredAt = byPath measured
    let pairs = pairsBy measuredAt prediction
    let agrees (p, m) = Measurement.agreesWithin Measurement.reportShare p m
    let errors =
        prediction.Layers
        |> List.filter (fst >> outputPart)
        |> List.choose (fun (l, v) -> measuredAt.TryFind l.Path |> Option.map (fun m -> relativeError v.Target m.Variance))
        |> List.sort
    { Nodes = pairs.Length
      Agreeing = pairs |> List.filter agrees |> List.length
      Weighted = errors.Length
      OnTarget = errors |> List.filter (fun e -> e <= targetShare) |> List.length
      MedianError = if errors.IsEmpty then 0.0 else errors[errors.Length / 2]
      FirstMiss = pairs |> List.tryFind (agrees >> not) }

/// Draws AutoInit under `rules` once per seed (1…seeds, torch re-seeded each time) on standard-normal input
/// of the program's shape, and measures every node on `batch` fresh samples per seed in training mode,
/// as `receptor init --report` does.
let measureAutoInit (rules: Rules) (seeds: int) (batch: int) (program: Program) : Result<Prediction * Measurement.Measured list, Diagnostic> =
    Network.ofProgram program
    |> Result.bind (fun network ->
        use network = network
        Initialisers.prepare (Initialisers.AutoInit (rules, Initialisers.Normal)) None network
        |> Result.bind (fun prepared ->
            let mutable failure = None
            let prepare seed =
                torch.manual_seed (int64 seed) |> ignore
                match prepared.Draw (Measurement.gaussianBatch network batch) with
                | Ok () -> ()
                | Error d -> failure <- Some d
                Measurement.gaussianBatch network batch
            let measured = Measurement.measure network (List.init seeds (fun i -> i + 1)) prepare
            match failure with
            | Some d -> Error d
            | None -> Ok (prepared.Plan, measured)))
