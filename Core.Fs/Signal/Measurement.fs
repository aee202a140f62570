/// Measuring what the propagation predicts: every node's output moments in training mode, pooled over
/// seeds (each seed re-initialises the network and draws a fresh batch), on the same footing as the
/// prediction: the mean over all elements and the variance around it.
module Receptor.Core.Signal.Measurement

open System.Collections.Generic
open TorchSharp
open Receptor.Core.Torch

type Measured =
    { Path: string
      Mean: float
      Variance: float
      /// Standard errors of the pooled mean and variance, from their spread over the seeds (0 for one seed).
      MeanError: float
      VarianceError: float }

/// Runs `prepare seed` (which seeds, initialises and returns the batch) and one observed forward pass per
/// seed, and pools each node's mean and second moment over the seeds.
let measure (network: Network) (seeds: int list) (prepare: int -> torch.Tensor) =
    let order = ResizeArray<string>()
    let perSeed = Dictionary<string, ResizeArray<float * float>>()
    network.train ()
    for seed in seeds do
        use _ = torch.NewDisposeScope ()
        let batch = prepare seed
        use _ = torch.no_grad ()
        network.Observe (batch, fun path y ->
            let y = y.to_type torch.ScalarType.Float64
            let mean = y.mean().item<float> ()
            let second = y.square().mean().item<float> ()
            match perSeed.TryGetValue path with
            | true, values -> values.Add (mean, second)
            | _ ->
                order.Add path
                perSeed[path] <- ResizeArray [ mean, second ])
        |> ignore
    let standardError (xs: float list) =
        let n = float xs.Length
        if xs.Length < 2 then 0.0
        else
            let m = List.average xs
            sqrt ((xs |> List.sumBy (fun x -> (x - m) ** 2.0)) / (n - 1.0) / n)
    [ for path in order ->
          let means, seconds = perSeed[path] |> List.ofSeq |> List.unzip
          let mean = List.average means
          { Path = path
            Mean = mean
            Variance = List.average seconds - mean * mean
            MeanError = standardError means
            // The variance's error is dominated by that of the second moment.
            VarianceError = standardError seconds } ]

/// When a prediction agrees with a measurement: the variances differ by at most `share` of the measured
/// one and the means by at most half that share of the measured standard deviation (or 2 % of the mean,
/// which global pooling leaves large beside the deviation), or, either way, by at most four standard errors
/// of the measurement. The tests and `receptor init --report` judge by this one rule.
let agreesWithin (share: float) (predicted: NodeMoments) (measured: Measured) =
    abs (predicted.Variance - measured.Variance) <= max (share * measured.Variance) (4.0 * measured.VarianceError)
    && abs (predicted.Mean - measured.Mean)
       <= List.max [ 0.5 * share * sqrt measured.Variance; 0.02 * abs measured.Mean; 4.0 * measured.MeanError ]

/// The share `receptor init --report` and the zoo table judge nodes by.
let reportShare = 0.15

/// A standard-normal batch of the given input shape.
let gaussianOfShape (input: Receptor.Dsl.Shape) (size: int) =
    let dims =
        match input with
        | Receptor.Dsl.Spatial (c, h, w) -> [| int64 size; int64 c; int64 h; int64 w |]
        | Receptor.Dsl.Flat n -> [| int64 size; int64 n |]
    torch.randn dims

/// A standard-normal batch of the network's input shape.
let gaussianBatch (network: Network) (size: int) = gaussianOfShape network.Input size
/// Per-position mean and variance over all the images and channels of a dataset fitted to a network's
/// input, the input moments of a propagation on real data. The propagation gives every channel of a position
/// the same moments, so the channels are pooled (grey images repeated on three channels keep their pixels'
/// moments); a flat input is one position whose channels are its features.
let pixelMoments (fitted: Receptor.Core.Data.Batches.Fitted) : InputMoments =
    let data = fitted.Data
    let size = Receptor.Core.Data.Dataset.imageSize data
    let positions =
        match fitted.Dims with
        | [| _; h; w |] -> int (h * w)
        | _ -> 1
    let channels = size / positions
    let samples = float (data.Count * channels)
    let pooled (f: float -> float) =
        Array.init positions (fun p ->
            let mutable sum = 0.0
            for n in 0 .. data.Count - 1 do
                for c in 0 .. channels - 1 do
                    sum <- sum + f (float data.Images[n * size + c * positions + p])
            sum / samples)
    let mean = pooled id
    let second = pooled (fun x -> x * x)
    { Mean = mean; Variance = Array.map2 (fun m s -> max 0.0 (s - m * m)) mean second }
