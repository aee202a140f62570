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

/// The study's evaluation, with `train` for a Train objective.
let evaluator (train: TrainObjective -> Evaluate) (study: Study) : Evaluate =
    match study.Objective with
    | Empty -> empty
    | Sleep ms -> sleep ms
    | Train objective -> train objective
