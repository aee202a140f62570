/// What a study and its trials are: the records the strategies, the evaluator and the trial store share.
namespace Receptor.Search

open System

/// Where a trial is in its life. Waiting → Running → one of the ends; a reaper returns an orphaned Running
/// trial to Waiting. Rejected trials never run: the analysis refused them before training.
type TrialState =
    | Waiting
    | Running
    | Finished
    | Diverged
    | Failed
    | TimedOut
    | Rejected

/// What one evaluation measured at the end of one epoch (on the validation hold-out).
type EpochMetrics =
    { Epoch: int
      ValidationAccuracy: float
      ValidationLoss: float
      TrainingLoss: float }

/// A candidate as the strategy proposes it: an ordinary architecture in canonical text, its fingerprint
/// (the same network is never trained twice in a study), the decisions that produced it (JSON, for
/// mutation), and the facts the analysis gave before training.
type Candidate =
    { Architecture: string
      Fingerprint: string
      Decisions: string
      Epochs: int
      Parameters: int64
      Macs: int64
      ReceptiveField: int
      /// Set when a constraint refused it before training; the trial is recorded as Rejected with this reason.
      Rejection: string option }

/// How an evaluation ended.
type Outcome =
    | Completed of EpochMetrics list
    /// The loss became NaN or infinite: recorded, never retried.
    | Divergence of EpochMetrics list * reason: string
    /// An exception: retried up to the study's cap, then recorded as failed.
    | Failure of message: string
    | OutOfTime of EpochMetrics list

/// What a worker does with a claimed trial.
type Objective =
    /// Nothing: the trial finishes at once with no metrics. Measures the store and the workers (tests, benchmarks).
    | Empty
    /// Sleeps this long, beating its heartbeat: a stand-in for a long evaluation in tests of the workers.
    | Sleep of milliseconds: int
    /// Initialises the candidate (Method of InitSpec.methods), trains it on a data source's training set less a
    /// validation hold-out for the candidate's epochs, and scores it on the hold-out.
    | Train of TrainObjective

and TrainObjective =
    { Data: string
      Init: string
      /// Images of the training set held out for validation (the last ones of a seeded shuffle).
      Validation: int
      BatchSize: int
      /// None: the optimiser's default.
      LearningRate: float option
      /// Seeds each candidate trains with; its metrics are their means, so that selection sees the network
      /// more than the seed (1: one run).
      Repeats: int }

/// A study: a space, how to search it, what evaluating a trial means, and its budgets.
type Study =
    { Name: string
      /// The search space's text (a space file), or "" for a study whose trials are enqueued from outside.
      Space: string
      /// The strategy's name and settings (JSON), read by Strategies.
      Strategy: string
      Objective: Objective
      /// Trials to evaluate; rejected candidates do not count (see TrialStore.Propose).
      Budget: int
      /// Claims of one trial before a failing one is recorded as Failed.
      MaxAttempts: int
      /// A trial running longer is ended as TimedOut (None: no limit).
      TrialSeconds: float option
      Seed: int
      Created: DateTimeOffset }

/// One trial as the store holds it.
type Trial =
    { Id: int64
      Study: string
      /// 1, 2, … in the order the trials were proposed.
      Number: int
      Candidate: Candidate
      State: TrialState
      /// How many times a worker claimed it.
      Attempt: int
      Worker: string option
      Seed: int
      Epochs: EpochMetrics list
      /// The error of the last failed attempt, or why it was rejected, diverged or timed out.
      Message: string option
      Device: string option
      Started: DateTimeOffset option
      Ended: DateTimeOffset option
      WallSeconds: float option
      CpuSeconds: float option }

/// A worker's hold on a running trial: every write it makes is fenced by (trial, worker, attempt), so a worker
/// that was presumed dead and whose trial was re-queued can no longer change it.
type Claim =
    { Trial: Trial
      Worker: string
      Attempt: int }

module TrialState =
    let name state =
        match state with
        | Waiting -> "waiting"
        | Running -> "running"
        | Finished -> "finished"
        | Diverged -> "diverged"
        | Failed -> "failed"
        | TimedOut -> "timed-out"
        | Rejected -> "rejected"

    let all = [ Waiting; Running; Finished; Diverged; Failed; TimedOut; Rejected ]

    let parse (text: string) = all |> List.tryFind (fun s -> name s = text)

    /// Whether the trial will not change any more (unless rerun).
    let isEnded state =
        match state with
        | Waiting | Running -> false
        | Finished | Diverged | Failed | TimedOut | Rejected -> true
