/// The worker loop: reap stale trials, claim a waiting trial or propose one, evaluate it while a background
/// heartbeat shows the claim alive, record its end; wait while other workers' trials run (they may come back
/// to the queue), and stop when every trial has ended.
module Receptor.Search.Worker

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open Receptor.Search.Objectives

type Options =
    { /// Unique among the study's workers: the claims are fenced by it.
      Name: string
      Heartbeat: TimeSpan
      /// A running trial whose heartbeat is older is presumed orphaned and re-queued by any worker.
      Stale: TimeSpan
      /// How long to wait before looking again while other workers' trials run.
      Poll: TimeSpan
      /// Stops the worker (SIGTERM, Ctrl-C): the trial under way is cancelled and handed back to the queue,
      /// unless it ends first, and no other is claimed.
      Stop: CancellationToken
      /// Where this worker's trials run ("cpu", "cuda"), recorded with each.
      Device: string option
      Log: string -> unit }

/// host:pid:random, so that two workers never share a name, even on two machines sharing a database.
let defaultName () =
    let suffix = Guid.NewGuid().ToString("N").Substring(0, 6)
    $"{Environment.MachineName}:{Environment.ProcessId}:{suffix}"

let defaults () =
    { Name = defaultName ()
      Heartbeat = TimeSpan.FromSeconds 5.0
      Stale = TimeSpan.FromSeconds 60.0
      Poll = TimeSpan.FromMilliseconds 500.0
      Stop = CancellationToken.None
      Device = None
      Log = ignore }

/// What one worker did.
type Summary =
    { /// Trials whose end this worker recorded.
      Recorded: int
      /// Trials whose result was dropped: the claim was lost (reaped, deleted or rerun meanwhile).
      Dropped: int
      /// Trials handed back to the queue unfinished because the worker was stopped.
      Released: int }

type private Ending =
    | EndRecorded
    | ResultDropped
    | HandedBack

let private processCpu () =
    use p = Process.GetCurrentProcess()
    p.TotalProcessorTime.TotalSeconds

/// Evaluates a claimed trial and records its end; or drops the result when the claim was lost meanwhile, or
/// hands the trial back when the worker is stopped before it ends.
let private execute (store: TrialStore) (options: Options) (evaluate: Evaluate) (claim: Claim) =
    let watch = Stopwatch.StartNew()
    let cpu = processCpu ()
    use cancel = CancellationTokenSource.CreateLinkedTokenSource options.Stop
    use beating = new CancellationTokenSource()
    let lost = ref false
    let loseClaim () =
        lost.Value <- true
        cancel.Cancel()
    store.Study.TrialSeconds |> Option.iter (fun s -> cancel.CancelAfter(TimeSpan.FromSeconds s))
    let heartbeat =
        Task.Run(fun () ->
            while not (beating.Token.WaitHandle.WaitOne options.Heartbeat) do
                try
                    if not (store.Heartbeat claim) then loseClaim ()
                with e ->
                    // A failed beat is not a lost claim: the next one may pass, and the reaper decides.
                    options.Log $"trial {claim.Trial.Number}: heartbeat failed: {e.Message}")
    let epochs = ResizeArray()
    let report (metrics: EpochMetrics) =
        // Between epochs is where an evaluation that ignores the token still stops in time.
        cancel.Token.ThrowIfCancellationRequested()
        if store.RecordEpoch(claim, metrics) then lock epochs (fun () -> epochs.Add metrics)
        else loseClaim ()
        cancel.Token.ThrowIfCancellationRequested()
    let outcome =
        try
            Some (evaluate claim cancel.Token report)
        with
        | :? OperationCanceledException when options.Stop.IsCancellationRequested -> None
        | :? OperationCanceledException when cancel.IsCancellationRequested -> Some (OutOfTime (lock epochs (fun () -> List.ofSeq epochs)))
        | e -> Some (Failure $"{e.GetType().Name}: {e.Message}")
    beating.Cancel()
    heartbeat.Wait()
    if lost.Value then
        options.Log $"trial {claim.Trial.Number}: claim lost (re-queued elsewhere); result dropped"
        ResultDropped
    else
        match outcome with
        | None ->
            if store.Release(claim, "released: its worker was stopped") then
                options.Log $"trial {claim.Trial.Number}: released to the queue (worker stopping)"
                HandedBack
            else
                options.Log $"trial {claim.Trial.Number}: claim lost before it could be released"
                ResultDropped
        | Some outcome ->
            let usage = { WallSeconds = watch.Elapsed.TotalSeconds; CpuSeconds = processCpu () - cpu; Device = options.Device }
            if store.Finish(claim, outcome, usage) then EndRecorded
            else
                options.Log $"trial {claim.Trial.Number}: claim lost before its end was recorded; result dropped"
                ResultDropped

type private Step =
    | Evaluate of Claim
    /// Something changed (a rejected candidate recorded): look again at once.
    | Again
    /// Nothing to claim or propose now.
    | Idle

/// Runs trials of the store's study until every trial has ended (or the stop token fires).
let run (store: TrialStore) (options: Options) (propose: Trial list -> Candidate option) (evaluate: Evaluate) : Summary =
    store.RegisterWorker(options.Name, Environment.MachineName, Environment.ProcessId, options.Device)
    let study = store.Study
    let next () =
        match store.Claim options.Name with
        | Some claim -> Evaluate claim
        | None ->
            let evaluated = store.Counts() |> List.filter (fun (state, _) -> state <> Rejected) |> List.sumBy snd
            if evaluated >= study.Budget then Idle
            else
                match propose (store.Trials()) with
                | None -> Idle
                | Some candidate ->
                    match store.Propose(options.Name, candidate) with
                    | Claimed claim -> Evaluate claim
                    | Recorded trial ->
                        options.Log $"trial {trial.Number}: rejected: {trial.Message |> Option.defaultValue String.Empty}"
                        Again
                    // Another worker proposed the same network meanwhile: propose again, seeing it.
                    | Duplicate _ -> Again
                    | BudgetSpent -> Idle
    let mutable recorded, dropped, released, finished = 0, 0, 0, false
    while not finished && not options.Stop.IsCancellationRequested do
        let reaped = store.Reap options.Stale
        if reaped > 0 then options.Log $"re-queued {reaped} stale trial(s)"
        match next () with
        | Evaluate claim ->
            match execute store options evaluate claim with
            | EndRecorded -> recorded <- recorded + 1
            | ResultDropped -> dropped <- dropped + 1
            | HandedBack -> released <- released + 1
        | Again -> ()
        | Idle ->
            let counts = store.Counts() |> Map.ofList
            if counts[Waiting] = 0 && counts[Running] = 0 then finished <- true
            // Others' trials run: they may end, or come back to the queue when their worker dies.
            else options.Stop.WaitHandle.WaitOne options.Poll |> ignore
    { Recorded = recorded; Dropped = dropped; Released = released }
