/// The trial store and its workers: claims are exclusive, fenced writes of a reaped claim are refused, the
/// budget holds under concurrent proposals, and worker processes killed mid-trial lose and duplicate nothing.
module Receptor.Properties.StoreTests

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Threading
open System.Threading.Tasks
open Expecto
open Receptor.Search

let private study name objective budget =
    { Name = name
      Space = ""
      Strategy = "queue"
      Objective = objective
      Budget = budget
      MaxAttempts = 3
      TrialSeconds = None
      Seed = 7
      Created = DateTimeOffset.UtcNow }

let private candidate (i: int) =
    { Architecture = $"conv3x3 {i}"
      Fingerprint = $"fp-{i}"
      Decisions = "{}"
      Epochs = 1
      Parameters = int64 i
      Macs = int64 (1000 - i)
      ReceptiveField = 3
      Rejection = None }

let private tempFile () = Path.Combine(Path.GetTempPath(), $"receptor-store-{Guid.NewGuid():N}.db")

let private ok result =
    match result with
    | Ok value -> value
    | Error (message: string) -> failtest message

let private create s = TrialStore.Create(tempFile (), s) |> ok
let private reopen (store: TrialStore) = TrialStore.Open store.Path |> ok
let private none = { WallSeconds = 0.0; CpuSeconds = 0.0; Device = None }
let private count state (store: TrialStore) = store.Counts() |> List.find (fst >> (=) state) |> snd
let private metrics epoch accuracy = { Epoch = epoch; ValidationAccuracy = accuracy; ValidationLoss = 1.0; TrainingLoss = 1.0 }

let private unitTests =
    testList "library" [
        test "create refuses other settings and open names a missing file" {
            use store = create (study "s" Empty 10)
            match TrialStore.Create(store.Path, { store.Study with Budget = 11 }) with
            | Ok _ -> failtest "a second study with another budget was accepted"
            | Error message -> Expect.stringContains message store.Path "the message names the file"
            use same = TrialStore.Create(store.Path, { store.Study with Created = DateTimeOffset.UtcNow }) |> ok
            Expect.equal same.Study.Budget 10 "the same settings open the study"
            let missing = tempFile ()
            match TrialStore.Open missing with
            | Ok _ -> failtest "opened a missing file"
            | Error message -> Expect.stringContains message missing "the message names the file"
        }
        test "the study's settings read back as written" {
            let s = { study "json" (Sleep 5) 3 with TrialSeconds = Some 1.5; Strategy = """{"name":"queue"}""" }
            use store = create s
            use again = reopen store
            Expect.equal { again.Study with Created = s.Created } s "the study round-trips"
        }
        test "a claim is exclusive across connections" {
            use store = create (study "claims" Empty 100)
            for i in 1 .. 60 do store.Enqueue(candidate i) |> ignore
            let claimsOf name =
                Task.Run(fun () ->
                    use mine = reopen store
                    List.unfold (fun () -> mine.Claim name |> Option.map (fun c -> c.Trial.Id, ())) ())
            let all = [ claimsOf "a"; claimsOf "b"; claimsOf "c" ] |> List.collect (fun t -> t.Result)
            Expect.equal all.Length 60 "every trial claimed"
            Expect.equal (List.distinct all).Length 60 "no trial claimed twice"
            Expect.equal (count Running store) 60 "all running"
        }
        test "writes under a reaped claim are refused" {
            use store = create (study "fence" Empty 10)
            store.Enqueue(candidate 1) |> ignore
            let first = (store.Claim "w1").Value
            Thread.Sleep 20
            Expect.equal (store.Reap TimeSpan.Zero) 1 "the silent trial is re-queued"
            Expect.isFalse (store.Heartbeat first) "heartbeat fenced"
            Expect.isFalse (store.RecordEpoch(first, metrics 1 0.5)) "epoch fenced"
            Expect.isFalse (store.Finish(first, Completed [], none)) "finish fenced"
            let second = (store.Claim "w2").Value
            Expect.equal second.Attempt 2 "the second claim is attempt 2"
            Expect.isFalse (store.Finish(first, Completed [], none)) "the old claim stays fenced while another runs it"
            Expect.isTrue (store.Finish(second, Completed [ metrics 1 0.9 ], none)) "the live claim finishes"
            let trial = (store.Trial second.Trial.Id).Value
            Expect.equal trial.State Finished "finished"
            Expect.equal trial.Epochs [ metrics 1 0.9 ] "only the live claim's epochs"
        }
        test "a duplicate fingerprint is not added again" {
            use store = create (study "dup" Empty 10)
            let first = store.Enqueue(candidate 1)
            let again = store.Enqueue({ candidate 1 with Architecture = "spelt otherwise" })
            Expect.equal again.Id first.Id "the existing trial"
            match store.Propose("w", candidate 1) with
            | Duplicate t -> Expect.equal t.Id first.Id "propose finds it too"
            | other -> failtest $"expected Duplicate, got {other}"
            Expect.equal (store.Trials().Length) 1 "one row"
        }
        test "concurrent proposals never overshoot the budget" {
            use store = create (study "budget" Empty 25)
            let proposer k =
                Task.Run(fun () ->
                    use mine = reopen store
                    Seq.initInfinite (fun i -> mine.Propose($"w{k}", candidate (k * 1000 + i)))
                    |> Seq.takeWhile (fun p -> p <> BudgetSpent)
                    |> Seq.filter (function Claimed _ -> true | _ -> false)
                    |> Seq.length)
            let claimed = [ for k in 1 .. 4 -> proposer k ] |> List.sumBy (fun t -> t.Result)
            Expect.equal claimed 25 "as many claimed as the budget"
            Expect.equal (store.Trials().Length) 25 "as many trials as the budget"
            Expect.equal (store.Trials() |> List.map _.Number) [ 1 .. 25 ] "numbered 1..25 without gaps"
        }
        test "a failing trial is retried up to MaxAttempts, then Failed with its message" {
            use store = create (study "retry" Empty 10)
            let id = (store.Enqueue(candidate 1)).Id
            for attempt in 1 .. 3 do
                let claim = (store.Claim "w").Value
                Expect.equal claim.Attempt attempt "attempts count up"
                Expect.isTrue (store.Finish(claim, Failure $"boom {attempt}", none)) "recorded"
                let expected = if attempt < 3 then Waiting else Failed
                Expect.equal (store.Trial id).Value.State expected $"after attempt {attempt}"
            Expect.equal (store.Trial id).Value.Message (Some "boom 3") "the last error kept"
            Expect.isNone (store.Claim "w") "nothing left to claim"
        }
        test "outcomes map to states, and the leaderboard ranks by accuracy then MACs" {
            use store = create (study "ends" Empty 10)
            for i in 1 .. 5 do store.Enqueue(candidate i) |> ignore
            let finish outcome = store.Finish((store.Claim "w").Value, outcome, none) |> ignore
            finish (Completed [ metrics 1 0.5; metrics 2 0.8 ])
            finish (Divergence ([ metrics 1 0.1 ], "loss is NaN"))
            finish (OutOfTime [ metrics 1 0.99 ])
            finish (Completed [ metrics 1 0.8 ])
            finish (Completed [ metrics 1 0.3 ])
            Expect.equal (store.Trials() |> List.map _.State) [ Finished; Diverged; TimedOut; Finished; Finished ] "states"
            Expect.equal (store.Trial 2L).Value.Message (Some "loss is NaN") "the reason kept"
            // Trials 1 and 4 tie at 0.8; 4 has fewer MACs.
            Expect.equal (store.Leaderboard 10 |> List.map _.Number) [ 4; 1; 5 ] "finished only, ranked"
        }
        test "rerun and delete" {
            use store = create (study "rerun" Empty 10)
            let id = (store.Enqueue(candidate 1)).Id
            Expect.isError (store.Rerun id) "a waiting trial cannot be rerun"
            store.Finish((store.Claim "w").Value, Completed [ metrics 1 0.7 ], { none with WallSeconds = 1.0 }) |> ignore
            let again = store.Rerun id |> ok
            Expect.equal (again.State, again.Attempt, again.Epochs, again.WallSeconds) (Waiting, 0, [], None) "waiting afresh"
            Expect.equal (store.Claim "w").Value.Attempt 1 "claimed as a first attempt"
            Expect.isOk (store.Delete id) "deleted"
            Expect.isNone (store.Trial id) "gone"
            Expect.isError (store.Delete id) "a second delete names the missing trial"
        }
        test "a rejected candidate is stored Rejected with its reason and never runs" {
            use store = create (study "rejected" Empty 10)
            let trial = store.Enqueue({ candidate 1 with Rejection = Some "receptive field 3 < 28" })
            Expect.equal (trial.State, trial.Message) (Rejected, Some "receptive field 3 < 28") "rejected with its reason"
            Expect.isNone (store.Claim "w") "not claimable"
            Expect.isError (store.Rerun trial.Id) "not rerunnable"
        }
        test "the worker: exceptions retried, time budget ends a trial, heartbeat keeps a long trial" {
            let s = { study "worker" Empty 10 with TrialSeconds = Some 0.3; MaxAttempts = 2 }
            use store = create s
            for i in 1 .. 3 do store.Enqueue(candidate i) |> ignore
            let evaluate (claim: Claim) (token: CancellationToken) (report: EpochMetrics -> unit) =
                match claim.Trial.Number with
                | 1 -> failwith "always"
                | 2 ->
                    // Ignores the token: the report between epochs stops it.
                    for e in 1 .. 100 do
                        Thread.Sleep 20
                        report (metrics e 0.1)
                    Completed []
                | _ ->
                    token.WaitHandle.WaitOne 200 |> ignore
                    Completed [ metrics 1 0.6 ]
            let options = { Worker.defaults () with Name = "w"; Heartbeat = TimeSpan.FromMilliseconds 50.0; Stale = TimeSpan.FromMilliseconds 150.0 }
            let summary = Worker.run store options (fun _ -> None) evaluate
            Expect.equal summary.Dropped 0 "the heartbeat kept every claim"
            let trials = store.Trials()
            Expect.equal (trials |> List.map (fun t -> t.State, t.Attempt)) [ Failed, 2; TimedOut, 1; Finished, 1 ] "states and attempts"
            Expect.stringContains (trials[0].Message |> Option.defaultValue "") "always" "the exception's message"
            Expect.isNonEmpty trials[1].Epochs "the epochs before the time ran out"
            Expect.isLessThan trials[1].Epochs.Length 100 "stopped early"
            Expect.isSome trials[2].WallSeconds "wall time recorded"
        }
    ]

/// `dotnet receptor.dll` of the repository's Release build.
let private receptor =
    lazy (
        let dll = Path.Combine(Repository.root.Value, "Cli", "bin", "Release", "net10.0", "receptor.dll")
        if not (File.Exists dll) then failtest $"{dll} is missing: build Cli in Release first"
        let host = if Path.GetFileNameWithoutExtension Environment.ProcessPath = "dotnet" then Environment.ProcessPath else "dotnet"
        host, dll)

/// Starts `receptor ARGS`, collecting its output.
let private start (args: string list) =
    let host, dll = receptor.Value
    let info = ProcessStartInfo(host, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in dll :: args do info.ArgumentList.Add a
    let log = StringBuilder()
    let p = new Process(StartInfo = info)
    let add (e: DataReceivedEventArgs) = if not (isNull e.Data) then lock log (fun () -> log.AppendLine e.Data |> ignore)
    p.OutputDataReceived.Add add
    p.ErrorDataReceived.Add add
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p, log

let private finish (p: Process, log: StringBuilder) =
    if not (p.WaitForExit 60_000) then
        p.Kill true
        failtest $"still running after 60 s:\n{log}"
    p.WaitForExit()
    Expect.equal p.ExitCode 0 $"exit code; output:\n{log}"

let private workerArgs (path: string) = [ "search"; "worker"; path; "--heartbeat"; "0.5"; "--stale"; "2" ]

/// Every trial Finished, each finished exactly once by the audit of ended attempts.
let private allFinishedOnce (store: TrialStore) trials =
    let all = store.Trials()
    Expect.equal all.Length trials "no trial lost or added"
    Expect.all all (fun t -> t.State = Finished) "every trial finished"
    let endings = store.Endings Finished
    Expect.equal endings.Count trials "every trial has a finish"
    Expect.all (Map.toList endings) (fun (_, n) -> n = 1) "no trial finished twice"

let private waitUntil (condition: unit -> bool) what =
    let watch = Stopwatch.StartNew()
    while not (condition ()) do
        if watch.Elapsed > TimeSpan.FromSeconds 45.0 then failtest $"waited 45 s for {what}"
        Thread.Sleep 50

let private processTests =
    testSequenced <| testList "processes" [
        test "4 worker processes finish 200 empty trials, each once" {
            use store = create (study "four" Empty 200)
            for i in 1 .. 200 do store.Enqueue(candidate i) |> ignore
            [ for _ in 1 .. 4 -> start (workerArgs store.Path) ] |> List.iter finish
            allFinishedOnce store 200
            Expect.all (store.Trials()) (fun t -> t.Attempt = 1) "each claimed once"
        }
        test "workers killed mid-trial: the survivors reap, resume re-queues the rest, nothing lost or finished twice" {
            use store = create (study "killed" (Sleep 40) 200)
            for i in 1 .. 200 do store.Enqueue(candidate i) |> ignore
            let random = Random 12
            let workers = [ for _ in 1 .. 4 -> start (workerArgs store.Path) ]
            let kill (p: Process, _) =
                Thread.Sleep(random.Next(0, 300))
                p.Kill()
                p.WaitForExit()
            let finishedSoFar () = count Finished store
            waitUntil (fun () -> finishedSoFar () >= 20) "20 finished trials"
            workers |> List.take 2 |> List.iter kill
            waitUntil (fun () -> finishedSoFar () >= 100) "100 finished trials"
            workers |> List.skip 2 |> List.iter kill
            let finishedBefore = store.Trials() |> List.filter (fun t -> t.State = Finished) |> List.map (fun t -> t.Id, t.Attempt, t.Ended)
            let orphans = count Running store
            finish (start [ "search"; "resume"; store.Path; "--workers"; "2"; "--heartbeat"; "0.5"; "--stale"; "2" ])
            allFinishedOnce store 200
            let after = store.Trials() |> List.map (fun t -> t.Id, (t.Attempt, t.Ended)) |> Map.ofList
            Expect.all finishedBefore (fun (id, attempt, ended) -> after[id] = (attempt, ended)) "finished trials untouched"
            // Four kills, each almost surely mid-trial: the audit shows the re-queued attempts.
            let requeued = store.Endings Waiting |> Map.toList |> List.sumBy snd
            Expect.isGreaterThanOrEqual requeued (max 1 orphans) "the orphans were re-queued"
            Expect.isGreaterThan (store.Trials() |> List.filter (fun t -> t.Attempt = 2) |> List.length) 0 "some trials ran a second attempt"
        }
    ]

let private commandTests =
    testList "command line" [
        test "receptor search: options on either side of the study, sqlite: or a path" {
            let parsed argv =
                match Receptor.Cli.Program.parse argv with
                | Receptor.Cli.Program.Run (Receptor.Cli.Program.Command.Search o) -> o
                | other -> failtest $"""{String.concat " " argv}: {other}"""
            let export = Receptor.Cli.Commands.Search.Options.Export { Study = "f.db"; Csv = Some "out.csv"; Json = None; Best = None }
            Expect.equal (parsed [| "search"; "export"; "--csv"; "out.csv"; "sqlite:f.db" |]) export "options first, sqlite:"
            Expect.equal (parsed [| "search"; "export"; "f.db"; "--csv"; "out.csv" |]) export "options after, a path"
            Expect.equal (parsed [| "search"; "rerun"; "f.db"; "4" |]) (Receptor.Cli.Commands.Search.Options.Rerun ("f.db", 4L)) "rerun STUDY TRIAL"
            let run argv =
                match parsed argv with
                | Receptor.Cli.Commands.Search.Options.Run r -> r
                | other -> failtest $"expected search run, got {other}"
            let before = run [| "search"; "run"; "--strategy"; "random"; "--trials"; "7"; "--max-macs"; "1000"; "--variance"; "0.1"; "10"; "s.rcp" |]
            let after = run [| "search"; "run"; "s.rcp"; "--strategy"; "random"; "--trials"; "7"; "--max-macs"; "1000"; "--variance"; "0.1"; "10" |]
            Expect.equal before after "search run: options on either side of the space"
            Expect.equal (before.File, before.Strategy, before.Trials) ("s.rcp", Receptor.Search.Strategies.RandomSearch, 7) "read"
            Expect.equal before.Constraints.MaxMacs (Some 1000L) "the MAC budget"
            Expect.equal before.Constraints.Variance (Some (0.1, 10.0)) "the variance bounds"
            Expect.equal (run [| "search"; "run"; "s.rcp" |]).Strategy (Receptor.Search.Strategies.Evolution (20, 5)) "evolution by default, as the help says"
            match Receptor.Cli.Program.parse [| "search"; "status"; "postgres://host/db" |] with
            | Receptor.Cli.Program.Malformed message -> Expect.stringContains message "sqlite:PATH" "names what is supported"
            | other -> failtest $"expected a malformed command line, got {other}"
        }
    ]

let tests = testList "store" [ unitTests; commandTests; processTests ]
