/// The training loop: mini-batch SGD or Adam on the objective the network's output calls for (Objective),
/// one dispose scope per mini-batch (the network and the optimiser live outside every scope), a seeded data
/// order, divergence detection, checkpoints with resume, and progress reported through a callback so that
/// the loop knows nothing of any display.
module Receptor.Core.Training.Trainer

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch

/// How a run ended. Diverged: the loss of that step (1-based within the epoch) was NaN or infinite; the
/// step was not applied, and the last checkpoint on disk is the last good one.
type Status =
    /// Every epoch asked for ran.
    | Completed
    /// The run stopped at this epoch and step, whose loss was not finite.
    | Diverged of epoch: int * step: int

/// Progress after one optimiser step.
type StepReport =
    { /// The current epoch, 1-based.
      Epoch: int
      /// Epochs in the whole run.
      Epochs: int
      /// 1-based within the epoch.
      Step: int
      /// Steps in one epoch.
      Steps: int
      /// Mean loss and accuracy over the epoch's batches so far.
      Loss: float
      Accuracy: float
      /// Over the epoch so far.
      ImagesPerSecond: float
      /// The rate this step was taken with, after the schedule and the warm-up.
      LearningRate: float }

/// The summary of one completed epoch.
type EpochReport =
    { /// The epoch, 1-based.
      Epoch: int
      /// Epochs in the whole run.
      Epochs: int
      /// Mean loss and accuracy over the epoch's batches.
      Loss: float
      Accuracy: float
      /// Images trained on in the epoch.
      Images: int
      /// Wall-clock time of the epoch.
      Seconds: float
      ImagesPerSecond: float }

/// What `train` reports as it goes, in order.
type Progress =
    /// Continuing from a checkpoint taken after this many epochs and optimiser steps.
    | Resumed of epoch: int * step: int
    /// One optimiser step was applied.
    | StepDone of StepReport
    /// One epoch completed.
    | EpochDone of EpochReport
    /// A checkpoint was written at this path after this many epochs (0: before the first step).
    | Saved of path: string * epoch: int

/// Where to keep checkpoints, and whether to continue from the one already there.
type Checkpointing = { Path: string; Resume: bool }

/// What a run did.
type Outcome =
    { /// Completed, or where it diverged.
      Status: Status
      /// Epochs completed, counting those before a resume.
      Epochs: int
      /// Optimiser steps taken, counting those before a resume.
      Steps: int
      /// The last checkpoint written or resumed from: its path and epoch.
      LastCheckpoint: (string * int) option
      /// Images trained on and seconds spent in this run (a resume counts only its own).
      Images: int
      Seconds: float }

/// A network's score on a dataset.
type Evaluation =
    { /// Mean loss per image.
      Loss: float
      /// Over images for classification, over ink pixels for segmentation.
      Accuracy: float
      /// Images evaluated.
      Count: int
      /// Segmentation only: the intersection over union averaged over the classes that occur (background
      /// included) in the labels or the predictions.
      MeanIoU: float option }

/// Seeds TorchSharp's generator, then compiles: the same seed gives the same initial weights, TorchSharp's
/// defaults. `start` gives the weights the options' Start names.
val compile: seed: int -> program: Program -> Result<Network, Diagnostic>

/// The network a run starts from, as options.Start says: initialised on the training data (seeded by
/// options.Seed), or the weights of a checkpoint, compiled from the tree its initialisation's residual
/// policy made (a `restore` policy planned on other data makes another tree, which is refused).
val start: options: TrainOptions -> program: Program -> data: Dataset -> Result<Network, Diagnostic>

/// The torch device a Device option names: Auto picks CUDA when TorchSharp sees one, else the CPU; Cuda
/// without a visible GPU is an error (a TorchSharp-cpu build sees none).
val resolveDevice: device: Device -> Result<torch.Device, string>

/// What the network's output is trained against on this data (Objective.taskOf).
val taskOf: network: Network -> data: Dataset -> Result<Objective.Task, string>

/// Mean loss per image and accuracy over a dataset (and the mean IoU of a segmentation), in evaluation
/// mode, one dispose scope per batch; batches are sized so that the activations stay under about 1 GiB.
/// Errors: the data does not fit the network's input or output.
val evaluate: network: Network -> data: Dataset -> Result<Evaluation, string>

/// Trains the network in place on the data for options.Epochs epochs (in all, counting a resumed
/// checkpoint's), calling report as it goes. The network's weights are taken as they are: its checkpoints
/// record options.Start as their origin, so a network trained with checkpoints should come from `start`.
/// With checkpointing, a run that does not resume writes a checkpoint before its first step (epoch 0) and
/// after every epoch, so that a diverged run leaves its last good weights. Errors are about the inputs: options, data, device,
/// checkpoint.
val train:
    options: TrainOptions ->
    checkpointing: Checkpointing option ->
    network: Network ->
    data: Dataset ->
    report: (Progress -> unit) ->
        Result<Outcome, string>
