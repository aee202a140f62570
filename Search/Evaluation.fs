/// The Train objective: a candidate initialised by the study's method, trained on the training images less a
/// validation hold-out, and scored on that hold-out after every epoch. The test images are never looked at.
module Receptor.Search.Evaluation

open System
open System.Threading
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Signal
open Receptor.Core.Training

/// Training and validation images.
type Split = { Train: Dataset; Validation: Dataset }

/// The images at the given indices, in that order.
let private gather (data: Dataset) (indices: int[]) =
    let size = Dataset.imageSize data
    let images = Array.zeroCreate<float32> (indices.Length * size)
    indices |> Array.iteri (fun k i -> Array.blit data.Images (i * size) images (k * size) size)
    { data with Images = images; Labels = indices |> Array.map (fun i -> data.Labels[i]); Count = indices.Length }

/// Holds out `validation` images of a seeded shuffle of the training set; the same seed gives the same split.
let holdOut (seed: int) (validation: int) (data: Dataset) : Result<Split, string> =
    if validation < 1 || validation >= data.Count then
        Error $"the validation hold-out must take between 1 and {data.Count - 1} of the {data.Count} training images, got {validation}"
    else
        let order = Array.init data.Count id
        Rng(seed).Shuffle order
        let cut = data.Count - validation
        Ok { Train = gather data order[.. cut - 1]; Validation = gather data order[cut ..] }

/// A labelled data source's training and test images for a network input, or why there are none.
let load (data: string) (input: Shape) : Result<DataSources.Splits, string> =
    DataSources.parse "--data" DataSources.labelled "labelled images" data
    |> Result.bind (fun images ->
        images.Load input |> Result.mapError (function DataSources.Unavailable m | DataSources.Unsuitable m -> m))

/// The split a study's trials share: the data source's training images, fitted as the space's networks take
/// them, with the hold-out drawn by seed 0 so that every trial and worker sees the same one.
let split (objective: TrainObjective) (input: Shape) : Result<Split, string> =
    load objective.Data input |> Result.bind (fun splits -> holdOut 0 objective.Validation splits.Train)

/// How one seed's run ended: its epochs' metrics, and why it stopped early if it did.
type private Run =
    | Ran of EpochMetrics list
    | Stopped of EpochMetrics list * Outcome

/// The training recipe of `receptor train` with the objective's batch and learning rate, from `spec`'s
/// initialisation, for `epochs` from `seed`.
let trainOptions (objective: TrainObjective) (spec: InitSpec) epochs seed =
    { TrainOptions.defaults with
        Start = Initialise spec
        Epochs = epochs
        BatchSize = objective.BatchSize
        LearningRate = objective.LearningRate |> Option.defaultValue (Optimizer.defaultLearningRate TrainOptions.defaults.Optimizer)
        Seed = seed }

/// Trains the program once from `seed`, calling `epochDone` with each epoch's validation metrics.
let private runOnce (objective: TrainObjective) (split: Split) program spec seed epochs (token: CancellationToken) epochDone =
    let metrics = Collections.Generic.List<EpochMetrics>()
    let options = trainOptions objective spec epochs seed
    match Trainer.start options program split.Train with
    | Error diagnostic -> Stopped ([], Failure (Diagnostic.format diagnostic))
    | Ok network ->
        use network = network
        let progress event =
            match event with
            | Trainer.StepDone _ -> token.ThrowIfCancellationRequested()
            | Trainer.EpochDone e ->
                match Trainer.evaluate network split.Validation with
                | Ok evaluation ->
                    let m = { Epoch = e.Epoch; ValidationAccuracy = evaluation.Accuracy; ValidationLoss = evaluation.Loss; TrainingLoss = e.Loss }
                    metrics.Add m
                    epochDone m
                | Error message -> failwith message
            | _ -> ()
        match Trainer.train options None network split.Train progress with
        | Error message -> Stopped (List.ofSeq metrics, Failure message)
        | Ok outcome ->
            match outcome.Status with
            | Trainer.Completed -> Ran (List.ofSeq metrics)
            | Trainer.Diverged (epoch, step) ->
                let reason = $"the loss was not finite at epoch {epoch}, step {step} (seed {seed})"
                Stopped (List.ofSeq metrics, Divergence (List.ofSeq metrics, reason))

/// Each epoch's metrics averaged over the runs.
let private mean (runs: EpochMetrics list list) =
    runs
    |> List.concat
    |> List.groupBy (fun m -> m.Epoch)
    |> List.sortBy fst
    |> List.map (fun (epoch, ms) ->
        { Epoch = epoch
          ValidationAccuracy = ms |> List.averageBy (fun m -> m.ValidationAccuracy)
          ValidationLoss = ms |> List.averageBy (fun m -> m.ValidationLoss)
          TrainingLoss = ms |> List.averageBy (fun m -> m.TrainingLoss) })

/// Trains one claimed trial, from the trial's seed and, with Repeats > 1, from further seeds (seed + 1000·k),
/// reporting each epoch's validation metrics (their mean over the seeds, once all have run). A run that
/// diverges or fails ends the trial so; a cancelled token (the trial's time is up, or its claim was lost)
/// stops it after the current step.
let train (objective: TrainObjective) (split: Split) (claim: Claim) (token: CancellationToken) (report: EpochMetrics -> unit) : Outcome =
    let trial = claim.Trial
    let prepared =
        Parser.parseProgram $"trial {trial.Number}" trial.Candidate.Architecture
        |> Result.mapError Diagnostic.format
        |> Result.bind (fun program ->
            InitSpec.parse objective.Init "exact" "normal" None
            |> Result.map (fun spec -> program, spec))
    match prepared with
    | Error message -> Failure message
    | Ok (program, spec) ->
        let repeats = max 1 objective.Repeats
        // One run reports as it goes; several report their means at the end.
        let epochDone = if repeats = 1 then report else ignore
        let rec runs k completed =
            if k = repeats then
                let metrics = mean (List.rev completed)
                if repeats > 1 then metrics |> List.iter report
                Completed metrics
            else
                match runOnce objective split program spec (trial.Seed + 1000 * k) trial.Candidate.Epochs token epochDone with
                | Ran metrics -> runs (k + 1) (metrics :: completed)
                | Stopped (_, outcome) -> outcome
        runs 0 []

/// The Train objective's evaluation for a study: its data are loaded and split once, for the input the space's
/// networks take, before any trial is claimed (so that unknown data or an unknown initialisation fail at once).
let evaluator (study: Study) (objective: TrainObjective) : Result<Objectives.Evaluate, string> =
    Space.parse study.Name study.Space
    |> Result.mapError Diagnostic.format
    |> Result.bind (fun space ->
        InitSpec.parse objective.Init "exact" "normal" None
        |> Result.bind (fun _ -> split objective space.Program.Input))
    |> Result.map (fun split -> train objective split)
