/// What evaluating a claimed trial means for each objective. Training is supplied from outside (it needs the
/// trainer, which this library does not reference); Empty and Sleep measure the store and the workers.
module Receptor.Search.Objectives

open System
open System.Threading

/// An evaluation: the claim, a token cancelled when the trial's time is up or its claim is lost, and a report
/// for each epoch's metrics (which may throw OperationCanceledException at such a cancellation).
type Evaluate = Claim -> CancellationToken -> (EpochMetrics -> unit) -> Outcome

let empty: Evaluate = fun _ _ _ -> Completed []

/// Waits `milliseconds`, or until cancelled.
let sleep (milliseconds: int) : Evaluate =
    fun _ token _ ->
        token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(float milliseconds)) |> ignore
        token.ThrowIfCancellationRequested()
        Completed []

/// The study's evaluation, with `train` for a Train objective (which fails when its data or initialiser is
/// unknown, before any trial is claimed).
let evaluator (train: TrainObjective -> Result<Evaluate, string>) (study: Study) : Result<Evaluate, string> =
    match study.Objective with
    | Empty -> Ok empty
    | Sleep ms -> Ok (sleep ms)
    | Train objective -> train objective
