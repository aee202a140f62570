/// How far a propagation's prediction is from what TorchSharp measures on a network drawn by it: the counts
/// that `receptor init --report` prints under its table and that the zoo's agreement table
/// (`receptor study agreement`) lists per model.
module Receptor.Core.Signal.Agreement

open System
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch

/// One node's prediction beside its measurement.
type Pair = NodeMoments * Measurement.Measured

/// The counts of one network's comparison.
type Verdict =
    { /// Nodes both predicted and measured.
      Nodes: int
      /// Of those, nodes agreeing by Measurement.agreesWithin at Measurement.reportShare.
      Agreeing: int
      /// Weighted layers measured whose output is their node's (WeightedLayer.Output): a sepconv counts once,
      /// by its pointwise part; the weights inside a selective-kernel unit do not count.
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
        |> List.filter (fun (l, _) -> l.Output)
        |> List.choose (fun (l, v) -> measuredAt.TryFind l.Path |> Option.map (fun m -> relativeError v.Target m.Variance))
        |> List.sort
    { Nodes = pairs.Length
      Agreeing = pairs |> List.filter agrees |> List.length
      Weighted = errors.Length
      OnTarget = errors |> List.filter (fun e -> e <= targetShare) |> List.length
      MedianError = if errors.IsEmpty then 0.0 else errors[errors.Length / 2]
      FirstMiss = pairs |> List.tryFind (agrees >> not) }

/// Draws `prepared` once per seed (torch re-seeded with it; LSUV rescales on a batch of its own, drawn before
/// the measured one) and, when `measure`, measures every node on `batchOf seed` in training mode. Returns the
/// measurements (none when not measuring) and each draw's realised weight variances, in seed order.
let drawAndMeasure (prepared: Initialisers.Prepared) (network: Network) (seeds: int list) (batchOf: int -> torch.Tensor) (measure: bool) =
    let draws = ResizeArray<(WeightedLayer * WeightVariance) list>()
    let mutable failure = None
    let prepare seed =
        torch.manual_seed (int64 seed) |> ignore
        match prepared.Draw (batchOf seed) |> Result.bind (fun () -> Initialisers.realised network (prepared.Plan.Layers |> List.map fst)) with
        | Ok realised -> draws.Add realised
        | Error d -> failure <- Some d
        batchOf seed
    let measured =
        if measure then Measurement.measure network seeds prepare
        else
            use _ = torch.NewDisposeScope ()
            for seed in seeds do
                prepare seed |> ignore
            []
    match failure with
    | Some d -> Error d
    | None -> Ok (measured, List.ofSeq draws)

/// Where a comparison's input batches come from (`Batch seed`, `Size` samples), their moments for the
/// prediction, and the labelled images GradInit learns on (none for Gaussian input).
type Source =
    { Batch: int -> torch.Tensor
      Size: int
      Moments: InputMoments option
      Labelled: Dataset option
      Name: string }

module Source =
    /// Standard-normal samples of the input's shape.
    let gaussian (input: Shape) size =
        { Batch = (fun _ -> Measurement.gaussianOfShape input size); Size = size; Moments = None; Labelled = None; Name = "Gaussian N(0, 1)" }

    /// Labelled images fitted to the network's input as training fits them; batches drawn from all of them,
    /// moments per pixel over all of them.
    let labelled (input: Shape) size name (data: Dataset) : Result<Source, string> =
        Batches.fit input data
        |> Result.map (fun (fitted: Batches.Fitted) ->
            let all: torch.Tensor = torch.tensor (fitted.Data.Images, ReadOnlySpan (Array.append [| int64 data.Count |] fitted.Dims))
            { Batch = (fun _ -> all.index_select (0L, torch.randint (int64 data.Count, [| int64 size |])))
              Size = size
              Moments = Some (Measurement.pixelMoments fitted)
              Labelled = Some data
              Name = match fitted.Note with Some note -> $"{name}; {note}" | None -> name })

/// Draws `method` once per seed (1…seeds) and measures every node on a batch of `source` per seed in training
/// mode, as `receptor init --report` does. The prediction is the plan's variances propagated with batch
/// norm's statistics over the batch; LSUV's and GradInit's propagate the variances their draws realised (they
/// rescale after the plan).
let measureMethod (method: Initialisers.Method) (seeds: int) (source: Source) (program: Program) : Result<Prediction * Measurement.Measured list, Diagnostic> =
    Network.ofProgram program
    |> Result.bind (fun network ->
        use network = network
        Initialisers.prepare method source.Moments network
        |> Result.bind (fun prepared ->
            drawAndMeasure prepared network (List.init seeds (fun i -> i + 1)) source.Batch true
            |> Result.bind (fun (measured, draws) ->
                match method with
                | Initialisers.Lsuv
                | Initialisers.GradInit _ -> Initialisers.predictRealised prepared draws network source.Moments
                | _ -> Initialisers.predictInBatches prepared source.Size network source.Moments
                |> Result.map (fun prediction -> prediction, measured))))

/// `measureMethod` for AutoInit under `rules` with normal weights on standard-normal input: the zoo table's
/// comparison.
let measureAutoInit (rules: Rules) (seeds: int) (batch: int) (program: Program) : Result<Prediction * Measurement.Measured list, Diagnostic> =
    measureMethod (Initialisers.AutoInit (rules, Initialisers.Normal)) seeds (Source.gaussian program.Input batch) program
