/// What a training run is asked to do: where its weights start, the optimiser, the learning-rate schedule,
/// the device and the seed.
namespace Receptor.Core.Training

open System
open Receptor.Core.Signal

/// Plain SGD always uses Nesterov momentum 0.9.
type Optimizer =
    | Sgd
    | Adam

/// Constant keeps the learning rate; Cosine anneals it from its initial value to 0 over all the steps.
type Schedule =
    | Constant
    | Cosine

/// Auto picks CUDA when TorchSharp sees a GPU, else the CPU.
type Device =
    | Auto
    | Cpu
    | Cuda

/// Where a run's weights start (Trainer.start).
type Start =
    /// Drawn by an initialisation on the training images (their per-position moments, a batch for LSUV, all of
    /// them for GradInit), seeded by the run's seed.
    | Initialise of InitSpec
    /// The weights (and buffers) of a checkpoint of the same architecture: an initialisation saved alone
    /// (Checkpoint.saveInitialised) or any checkpoint of a run. Only the weights are taken: the epochs count
    /// from zero and the optimiser starts afresh.
    | From of path: string

type TrainOptions =
    { Start: Start
      Epochs: int
      BatchSize: int
      LearningRate: float
      Optimizer: Optimizer
      Schedule: Schedule
      Seed: int
      Device: Device
      /// L2 penalty added to the gradient by the optimiser (PyTorch's weight_decay).
      WeightDecay: float
      /// λ of the complexity penalty, λ·Network.ComplexityPenalty() (DynOPool: Σ r_h·r_w over its layers),
      /// added to the loss that is minimised (0: none; the reported loss stays the cross-entropy).
      Complexity: float
      /// Steps over which the learning rate rises linearly from lr/Warmup to the schedule's value (Goyal et
      /// al. 2017); 0: none.
      Warmup: int }

module Optimizer =
    let name optimizer =
        match optimizer with
        | Sgd -> "sgd"
        | Adam -> "adam"

    let parse (text: string) =
        match text.ToLowerInvariant() with
        | "sgd" -> Some Sgd
        | "adam" -> Some Adam
        | _ -> None

    /// The learning rate each optimiser trains with unless told otherwise.
    let defaultLearningRate optimizer =
        match optimizer with
        | Sgd -> 0.1
        | Adam -> 0.002

module Schedule =
    let name schedule =
        match schedule with
        | Constant -> "constant"
        | Cosine -> "cosine"

    let parse (text: string) =
        match text.ToLowerInvariant() with
        | "constant" -> Some Constant
        | "cosine" -> Some Cosine
        | _ -> None

    /// The learning rate at a step (0-based) of a run of totalSteps: cosine annealing without restarts,
    /// lr·(1 + cos(π·step/total))/2, as PyTorch's CosineAnnealingLR with η_min = 0 and T_max = total.
    let learningRate schedule initial step totalSteps =
        match schedule with
        | Constant -> initial
        | Cosine -> initial * 0.5 * (1.0 + Math.Cos(Math.PI * float step / float (max 1 totalSteps)))

    /// The schedule's rate scaled by (step + 1)/warmup during the first `warmup` steps.
    let warmedUp warmup (rate: float) step =
        if step < warmup then rate * float (step + 1) / float warmup else rate

module Device =
    let name device =
        match device with
        | Auto -> "auto"
        | Cpu -> "cpu"
        | Cuda -> "cuda"

    let parse (text: string) =
        match text.ToLowerInvariant() with
        | "auto" -> Some Auto
        | "cpu" -> Some Cpu
        | "cuda" -> Some Cuda
        | _ -> None

module TrainOptions =
    /// The defaults of `receptor train`, chosen on a split of the MNIST training set (see README, Training).
    let defaults =
        { Start = Initialise InitSpec.defaults
          Epochs = 10
          BatchSize = 64
          LearningRate = Optimizer.defaultLearningRate Sgd
          Optimizer = Sgd
          Schedule = Cosine
          Seed = 1
          Device = Auto
          WeightDecay = 5e-4
          Complexity = 0.0
          Warmup = 0 }

    /// The first option that cannot work, named as the command line names it.
    let validate options =
        let finite (x: float) = not (Double.IsNaN x || Double.IsInfinity x)
        if options.Epochs < 1 then Error $"--epochs must be at least 1, got {options.Epochs}"
        elif options.BatchSize < 1 then Error $"--batch must be at least 1, got {options.BatchSize}"
        elif not (finite options.LearningRate) || options.LearningRate <= 0.0 then
            Error $"--lr must be a positive number, got {options.LearningRate}"
        elif not (finite options.WeightDecay) || options.WeightDecay < 0.0 then
            Error $"weight decay must be zero or positive, got {options.WeightDecay}"
        elif not (finite options.Complexity) || options.Complexity < 0.0 then
            Error $"--complexity must be zero or positive, got {options.Complexity}"
        else Ok options
