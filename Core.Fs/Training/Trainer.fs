/// The training loop: mini-batch SGD or Adam on the objective the network's output calls for (Objective),
/// one dispose scope per mini-batch (the network and the optimiser live outside every scope), a seeded data
/// order, divergence detection, checkpoints with resume, and progress reported through a callback so that
/// the loop knows nothing of any display.
module Receptor.Core.Training.Trainer

open System
open System.Diagnostics
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Signal

/// How a run ended. Diverged: the loss of that step (1-based within the epoch) was NaN or infinite; the
/// step was not applied, and the last checkpoint on disk is the last good one.
type Status =
    | Completed
    | Diverged of epoch: int * step: int

type StepReport =
    { Epoch: int
      Epochs: int
      /// 1-based within the epoch.
      Step: int
      Steps: int
      /// Mean loss and accuracy over the epoch's batches so far.
      Loss: float
      Accuracy: float
      ImagesPerSecond: float
      LearningRate: float }

type EpochReport =
    { Epoch: int
      Epochs: int
      Loss: float
      Accuracy: float
      Images: int
      Seconds: float
      ImagesPerSecond: float }

type Progress =
    /// Continuing from a checkpoint taken after this many epochs and optimiser steps.
    | Resumed of epoch: int * step: int
    | StepDone of StepReport
    | EpochDone of EpochReport
    | Saved of path: string * epoch: int

/// Where to keep checkpoints, and whether to continue from the one already there.
type Checkpointing = { Path: string; Resume: bool }

type Outcome =
    { Status: Status
      /// Epochs completed, counting those before a resume.
      Epochs: int
      Steps: int
      /// The last checkpoint written or resumed from: its path and epoch.
      LastCheckpoint: (string * int) option
      /// Images trained on and seconds spent in this run (a resume counts only its own).
      Images: int
      Seconds: float }

type Evaluation =
    { Loss: float
      /// Over images for classification, over ink pixels for segmentation.
      Accuracy: float
      Count: int
      /// Segmentation only: the intersection over union averaged over the classes that occur (background
      /// included) in the labels or the predictions.
      MeanIoU: float option }

/// Seeds TorchSharp's generator, then compiles: the same seed gives the same initial weights, TorchSharp's
/// defaults. `start` gives the weights the options' Start names.
let compile (seed: int) (program: Program) : Result<Network, Diagnostic> =
    torch.manual_seed (int64 seed) |> ignore
    Network.ofProgram program

/// The network a run starts from, as options.Start says: initialised on the training data (seeded by
/// options.Seed), or the weights of a checkpoint, compiled from the tree its initialisation's residual
/// policy made (a `restore` policy planned on other data makes another tree, which is refused).
let start (options: TrainOptions) (program: Program) (data: Dataset) : Result<Network, Diagnostic> =
    let failure = Result.mapError (Diagnostic.at Nowhere)
    match options.Start with
    | Initialise spec -> Initialisation.initialise spec options.Seed (Images data) program |> Result.map fst
    | From path ->
        Checkpoint.read path
        |> Result.bind (fun saved ->
            match saved.Init with
            | Some record -> Checkpoint.specOf record |> Result.mapError (fun e -> $"{path}: {e}")
            | None -> Ok InitSpec.defaults)
        |> failure
        |> Result.bind (fun spec -> Initialisation.compile spec (Images data) program)
        |> Result.bind (fun network ->
            let loaded =
                Checkpoint.readFor path (Checkpoint.fingerprint network.Input network.Tree)
                |> Result.bind (fun _ -> Checkpoint.load path network None)
            match loaded with
            | Ok () -> Ok network
            | Error e ->
                network.Dispose ()
                Error (Diagnostic.at Nowhere e))

let resolveDevice device : Result<torch.Device, string> =
    match device with
    | Cpu -> Ok torch.CPU
    | Auto -> Ok (if torch.cuda.is_available () then torch.CUDA else torch.CPU)
    | Cuda when torch.cuda.is_available () -> Ok torch.CUDA
    | Cuda ->
        Error "--device cuda: TorchSharp sees no CUDA device (this build uses TorchSharp-cpu unless built with -p:TorchBackend=cuda)"

/// What the network's output is trained against on this data (Objective.taskOf).
let taskOf (network: Network) (data: Dataset) =
    Objective.taskOf (Checked.output network.Input network.Tree) data

let private makeOptimizer (options: TrainOptions) (network: Network) : torch.optim.Optimizer =
    let parameters = network.parameters ()
    match options.Optimizer with
    | Sgd -> torch.optim.SGD (parameters, options.LearningRate, momentum = 0.9, weight_decay = options.WeightDecay, nesterov = true)
    | Adam -> torch.optim.Adam (parameters, options.LearningRate, weight_decay = options.WeightDecay)

let private setLearningRate (optimizer: torch.optim.Optimizer) lr =
    for group in optimizer.ParamGroups do
        group.LearningRate <- lr

let private deviceOf (network: Network) =
    match Seq.tryHead (network.parameters ()) with
    | Some p -> p.device
    | None -> torch.CPU

/// One optimiser step in its own dispose scope: the batch's loss and (correct, counted) score, or None
/// when the loss is not finite (the step is then not applied).
let private trainStep (network: Network) (optimizer: torch.optim.Optimizer) complexity task fitted (indices: int[]) device =
    use _ = torch.NewDisposeScope ()
    let input, labels = Batches.tensors fitted indices device
    let target = Objective.targets task input labels
    optimizer.zero_grad ()
    let logits = network.forward input
    let loss = Objective.loss task logits target
    let value = float (loss.item<float32> ())
    if Double.IsFinite value then
        let objective = if complexity > 0.0 then loss + complexity * network.ComplexityPenalty () else loss
        objective.backward ()
        optimizer.step () |> ignore
        Some (value, Objective.score task (logits.argmax 1L) target)
    else None

/// Images per evaluation batch: up to 500, fewer where the activations of all the network's nodes for a
/// batch would pass 1 GiB (a 256×256 segmentation net holds tens of MB per image).
let private evaluationBatch (network: Network) =
    let perImage = (Receptor.Core.Analysis.ofChecked "" network.Input network.Tree).Totals.Memory
    int (max 1L (min 500L ((1L <<< 30) / max 1L perImage)))

/// Mean loss per image and accuracy over a dataset (and the mean IoU of a segmentation), in evaluation
/// mode, one dispose scope per batch.
let evaluate (network: Network) (data: Dataset) : Result<Evaluation, string> =
    taskOf network data
    |> Result.bind (fun task -> Batches.fit network.Input data |> Result.map (fun fitted -> task, fitted))
    |> Result.map (fun (task, fitted) ->
        let device = deviceOf network
        network.eval ()
        use _ = torch.no_grad ()
        let mutable loss = 0.0
        let mutable correct, counted = 0L, 0L
        let mutable overlaps = [||]
        for start, size in Batches.slices data.Count (evaluationBatch network) false do
            use _ = torch.NewDisposeScope ()
            let input, labels = Batches.tensors fitted (Array.init size ((+) start)) device
            let target = Objective.targets task input labels
            let logits = network.forward input
            loss <- loss + float size * float ((Objective.loss task logits target).item<float32> ())
            let predicted = logits.argmax 1L
            let right, total = Objective.score task predicted target
            correct <- correct + right
            counted <- counted + total
            let batch = Objective.overlaps task predicted target
            overlaps <- if overlaps.Length = 0 then batch else Array.map2 (fun (i, u) (i', u') -> i + i', u + u') overlaps batch
        { Loss = loss / float (max 1 data.Count)
          Accuracy = float correct / float (max 1L counted)
          Count = data.Count
          MeanIoU = Objective.meanIoU overlaps })

/// How a run's weights began, as its checkpoints record it.
type private Origin = { Init: Checkpoint.InitRecord option; From: string option }

let private sidecar (options: TrainOptions) (origin: Origin) architecture epoch step : Checkpoint.Sidecar =
    { Format = Checkpoint.format
      Architecture = architecture
      Init = origin.Init
      From = origin.From
      Run =
        Some
            { Epoch = epoch
              Step = step
              Epochs = options.Epochs
              Optimizer = Optimizer.name options.Optimizer
              LearningRate = options.LearningRate
              Schedule = Schedule.name options.Schedule
              BatchSize = options.BatchSize
              WeightDecay = options.WeightDecay
              Seed = options.Seed } }

/// Loads the checkpoint to resume from, refusing one taken from another architecture or optimiser, or one
/// that no run wrote.
let private resume (path: string) architecture (options: TrainOptions) network optimizer =
    Checkpoint.readFor path architecture
    |> Result.bind (fun saved ->
        match saved.Run with
        | None -> Error $"{path} holds an initialisation, not a run to resume: start from it (TrainOptions.Start = From)"
        | Some run when run.Optimizer <> Optimizer.name options.Optimizer ->
            Error $"{path} was trained with {run.Optimizer}; resume it with --optimizer {run.Optimizer}"
        | Some run ->
            Checkpoint.load path network (Some optimizer)
            |> Result.map (fun () -> run, { Init = saved.Init; From = saved.From }))

/// The mutable state of a run, advanced batch by batch.
type private Run =
    { mutable Epochs: int
      mutable Steps: int
      mutable Images: int
      mutable LastCheckpoint: (string * int) option
      mutable Status: Status
      /// What the checkpoints record as the weights' origin.
      mutable Origin: Origin }

/// Where a fresh run's weights came from, as its checkpoints record it: the initialisation drawn, or the
/// checkpoint started from with the initialisation that one records (so that a chain of runs keeps the
/// residual policy its tree was made by). A run starts from options.Start or resumes a checkpoint, not both.
let private originOf (options: TrainOptions) (checkpointing: Checkpointing option) : Result<Origin, string> =
    match options.Start, checkpointing with
    | From path, Some c when c.Resume ->
        Error $"starting from {path} and resuming {c.Path} both say where the weights come from: give one"
    | From path, _ -> Checkpoint.read path |> Result.map (fun saved -> { Init = saved.Init; From = Some (System.IO.Path.GetFullPath path) })
    | Initialise spec, _ -> Ok { Init = Some (Checkpoint.initRecord spec options.Seed); From = None }

/// Trains the network in place on the data for options.Epochs epochs (in all, counting a resumed
/// checkpoint's), calling report as it goes. The network's weights are taken as they are: its checkpoints
/// record options.Start as their origin, so a network trained with checkpoints should come from `start`.
/// Errors are about the inputs: options, data, device, checkpoint.
let train (options: TrainOptions) (checkpointing: Checkpointing option) (network: Network) (data: Dataset) (report: Progress -> unit) : Result<Outcome, string> =
    let clock = Stopwatch.StartNew ()
    TrainOptions.validate options
    |> Result.bind (fun _ -> originOf options checkpointing)
    |> Result.bind (fun origin -> resolveDevice options.Device |> Result.map (fun device -> origin, device))
    |> Result.bind (fun (origin, device) -> taskOf network data |> Result.map (fun task -> origin, device, task))
    |> Result.bind (fun (origin, device, task) -> Batches.fit network.Input data |> Result.map (fun fitted -> origin, device, task, fitted))
    |> Result.bind (fun (origin, device, task, fitted) ->
        network.``to`` device |> ignore
        let optimizer = makeOptimizer options network
        try
            let architecture = Checkpoint.fingerprint network.Input network.Tree
            let run = { Epochs = 0; Steps = 0; Images = 0; LastCheckpoint = None; Status = Completed; Origin = origin }
            let save epoch =
                checkpointing |> Option.iter (fun c ->
                    Checkpoint.save c.Path network optimizer (sidecar options run.Origin architecture epoch run.Steps)
                    run.LastCheckpoint <- Some (c.Path, epoch)
                    report (Saved (c.Path, epoch)))
            let started =
                match checkpointing with
                | Some c when c.Resume ->
                    resume c.Path architecture options network optimizer
                    |> Result.map (fun (saved, savedOrigin) ->
                        // A resumed run keeps the origin its first checkpoint recorded.
                        run.Origin <- savedOrigin
                        run.Epochs <- saved.Epoch
                        run.Steps <- saved.Step
                        run.LastCheckpoint <- Some (c.Path, saved.Epoch)
                        report (Resumed (saved.Epoch, saved.Step)))
                | _ ->
                    // Epoch 0: so that even a run diverging in its first epoch leaves a good checkpoint.
                    save 0
                    Ok ()
            started
            |> Result.map (fun () ->
                let slices = Batches.slices data.Count options.BatchSize true
                let totalSteps = options.Epochs * slices.Length
                let mutable epoch = run.Epochs + 1
                while run.Status = Completed && epoch <= options.Epochs do
                    // Seeding per epoch makes a resumed run take the same random draws (dropout) as an
                    // uninterrupted one.
                    torch.manual_seed (int64 (Batches.epochSeed options.Seed epoch)) |> ignore
                    let order = Batches.order options.Seed epoch data.Count
                    let epochClock = Stopwatch.StartNew ()
                    let mutable loss, images, step = 0.0, 0, 0
                    let mutable correct, counted = 0L, 0L
                    network.train ()
                    while run.Status = Completed && step < slices.Length do
                        let start, size = slices[step]
                        let lr =
                            Schedule.warmedUp options.Warmup (Schedule.learningRate options.Schedule options.LearningRate run.Steps totalSteps) run.Steps
                        setLearningRate optimizer lr
                        match trainStep network optimizer options.Complexity task fitted order[start .. start + size - 1] device with
                        | None -> run.Status <- Diverged (epoch, step + 1)
                        | Some (batchLoss, (batchCorrect, batchCounted)) ->
                            step <- step + 1
                            run.Steps <- run.Steps + 1
                            loss <- loss + batchLoss * float size
                            correct <- correct + batchCorrect
                            counted <- counted + batchCounted
                            images <- images + size
                            report (
                                StepDone
                                    { Epoch = epoch
                                      Epochs = options.Epochs
                                      Step = step
                                      Steps = slices.Length
                                      Loss = loss / float images
                                      Accuracy = float correct / float (max 1L counted)
                                      ImagesPerSecond = float images / epochClock.Elapsed.TotalSeconds
                                      LearningRate = lr })
                    run.Images <- run.Images + images
                    if run.Status = Completed then
                        let seconds = epochClock.Elapsed.TotalSeconds
                        report (
                            EpochDone
                                { Epoch = epoch
                                  Epochs = options.Epochs
                                  Loss = loss / float images
                                  Accuracy = float correct / float (max 1L counted)
                                  Images = images
                                  Seconds = seconds
                                  ImagesPerSecond = float images / seconds })
                        run.Epochs <- epoch
                        save epoch
                    epoch <- epoch + 1
                { Status = run.Status
                  Epochs = run.Epochs
                  Steps = run.Steps
                  LastCheckpoint = run.LastCheckpoint
                  Images = run.Images
                  Seconds = clock.Elapsed.TotalSeconds })
        finally
            optimizer.Dispose ())
