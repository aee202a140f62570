/// The trial stores, SQLite and PostgreSQL alike: claims are exclusive, fenced writes of a reaped claim are
/// refused, the budget holds under concurrent proposals, schemas migrate, and worker processes killed, paused
/// past their lease or stopped mid-trial, and a server restarted under them, lose and duplicate nothing.
module Receptor.Properties.StoreTests

open System
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
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

/// A kind of store the same tests run on: how to make an empty place for a study.
type private Backend =
    { Name: string
      Place: unit -> Storage
      /// A store no other test touches (for tests that change the schema).
      Isolated: unit -> Storage }

let private sqlite = { Name = "sqlite"; Place = (fun () -> Storage.sqlite (tempFile ())); Isolated = fun () -> Storage.sqlite (tempFile ()) }
// Studies of one PostgreSQL database are told apart by name: each test's gets a unique one.
let private postgres = { Name = "postgres"; Place = Postgres.storage; Isolated = Postgres.freshDatabase }
let private backends = [ sqlite; postgres ]

let private unique (s: Study) = { s with Name = $"{s.Name}-{Guid.NewGuid():N}" }
let private createIn (backend: Backend) s = TrialStore.Create(backend.Place (), unique s) |> ok
let private reopen (store: TrialStore) = TrialStore.Open store.Storage |> ok
let private none = { WallSeconds = 0.0; CpuSeconds = 0.0; Device = None }
let private count state (store: TrialStore) = store.Counts() |> List.find (fst >> (=) state) |> snd
let private metrics epoch accuracy = { Epoch = epoch; ValidationAccuracy = accuracy; ValidationLoss = 1.0; TrainingLoss = 1.0 }

/// Runs SQL on a store's database directly, as another program (or an older or newer receptor) would.
let private rawExecute (storage: Storage) (sql: string) =
    use connection: System.Data.Common.DbConnection =
        match storage.Backend with
        | Sqlite path -> new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false") :> System.Data.Common.DbConnection
        | Postgres target -> new Npgsql.NpgsqlConnection(target.ConnectionString) :> System.Data.Common.DbConnection
    connection.Open()
    use command = connection.CreateCommand()
    command.CommandText <- sql
    command.ExecuteNonQuery() |> ignore

let private unitTests (backend: Backend) =
    let create = createIn backend
    testList backend.Name [
        test "create refuses other settings and open names a missing study" {
            use store = create (study "s" Empty 10)
            match TrialStore.Create(store.Storage, { store.Study with Budget = 11 }) with
            | Ok _ -> failtest "a second study with another budget was accepted"
            | Error message -> Expect.stringContains message store.Location "the message names the store"
            use same = TrialStore.Create(store.Storage, { store.Study with Created = DateTimeOffset.UtcNow }) |> ok
            Expect.equal same.Study.Budget 10 "the same settings open the study"
            match TrialStore.Open(Storage.withStudy "no-such-study" store.Storage) with
            | Ok _ -> failtest "opened a missing study"
            | Error message -> Expect.stringContains message "no-such-study" "the message names the study"
        }
        test "a store newer than this receptor is refused, not misread" {
            use store = TrialStore.Create(backend.Isolated (), study "newer" Empty 10) |> ok
            rawExecute store.Storage "UPDATE schema_version SET version = 99"
            match TrialStore.Open store.Storage with
            | Ok _ -> failtest "opened a store of schema version 99"
            | Error message ->
                Expect.stringContains message "schema version 99" "the store's version"
                Expect.stringContains message $"receptor's {Schema.version}" "and this receptor's"
            rawExecute store.Storage $"UPDATE schema_version SET version = {Schema.version}"
        }
        test "workers are recorded with host, process and device" {
            use store = create (study "who" Empty 10)
            store.RegisterWorker("w1", "node-7", 4242, Some "cuda")
            let w = store.Workers() |> List.exactlyOne
            Expect.equal (w.Id, w.Host, w.Pid, w.Device) ("w1", "node-7", 4242, Some "cuda") "identity"
        }
        test "the study's settings read back as written" {
            let s = { study "json" (Sleep 5) 3 with TrialSeconds = Some 1.5; Strategy = """{"name":"queue"}""" }
            use store = create s
            use again = reopen store
            Expect.equal { again.Study with Created = s.Created } { s with Name = store.Study.Name } "the study round-trips"
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
            Expect.equal (store.Trials()[1]).Message (Some "loss is NaN") "the reason kept"
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

/// A running `receptor` process and what it printed.
type private Child = { Process: Process; Log: StringBuilder; Name: string }

/// Starts `receptor ARGS` with these environment variables, collecting its output.
let private startWith (environment: (string * string) list) (args: string list) =
    let host, dll = receptor.Value
    let info = ProcessStartInfo(host, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in dll :: args do info.ArgumentList.Add a
    for name, value in environment do info.Environment[name] <- value
    let log = StringBuilder()
    let p = new Process(StartInfo = info)
    let add (e: DataReceivedEventArgs) = if not (isNull e.Data) then lock log (fun () -> log.AppendLine e.Data |> ignore)
    p.OutputDataReceived.Add add
    p.ErrorDataReceived.Add add
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    let name = args |> List.skipWhile ((<>) "--name") |> List.tryItem 1 |> Option.defaultValue ""
    { Process = p; Log = log; Name = name }

let private start args = startWith [] args

let private finish (child: Child) =
    if not (child.Process.WaitForExit 90_000) then
        child.Process.Kill true
        failtest $"still running after 90 s:\n{child.Log}"
    child.Process.WaitForExit()
    Expect.equal child.Process.ExitCode 0 $"exit code; output:\n{child.Log}"

/// A worker of the store's study (a PostgreSQL connection passed in the environment, as `search run` does).
let private worker (storage: Storage) (extra: string list) =
    let argument, variable = Storage.forChild storage
    startWith (Option.toList variable) ([ "search"; "worker"; argument; "--heartbeat"; "0.5"; "--stale"; "2" ] @ extra)

[<DllImport("libc", SetLastError = true)>]
extern int kill(int pid, int signal)

let private signal (child: Child) (number: int) =
    if kill (child.Process.Id, number) <> 0 then failtest $"kill -{number} {child.Process.Id} failed"

let private sigterm, sigcont, sigstop = 15, 18, 19

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
        if watch.Elapsed > TimeSpan.FromSeconds 60.0 then failtest $"waited 60 s for {what}"
        Thread.Sleep 50

/// The trial `name` runs now, if any.
let private runningOf (store: TrialStore) (name: string) =
    fst (store.Running()) |> List.tryFind (fun (t, _) -> t.Worker = Some name) |> Option.map fst

/// 4 workers × 200 trials: one killed (SIGKILL) and replaced, one paused mid-trial past its lease (SIGSTOP,
/// then SIGCONT), another killed for good; on PostgreSQL the server restarted under them. Every trial ends
/// Finished exactly once, the orphans are re-queued, and the paused worker's late write is refused.
let private chaos (backend: Backend) (restart: (unit -> unit) option) =
    use store = createIn backend (study "chaos" (Sleep 150) 200)
    for i in 1 .. 200 do store.Enqueue(candidate i) |> ignore
    let random = Random 12
    let workers = ResizeArray [ for k in 1 .. 4 -> worker store.Storage [ "--name"; $"w{k}" ] ]
    let finished () = count Finished store
    let killed = ResizeArray<Child>()
    let killAt (child: Child) =
        Thread.Sleep(random.Next(0, 300))
        child.Process.Kill()
        child.Process.WaitForExit()
        killed.Add child
    waitUntil (fun () -> finished () >= 20) "20 finished trials"
    killAt workers[0]
    workers.Add(worker store.Storage [ "--name"; "w5" ])
    waitUntil (fun () -> finished () >= 50) "50 finished trials"
    // Paused while it holds a trial, for longer than the lease (2 s): the others re-queue and finish it. Paused
    // early in the trial's 150 ms, so that it is evaluating, not inside its finishing transaction (whose row
    // locks would hold the others back until it went on).
    let paused = workers[1]
    let early () =
        let running, now = store.Running()
        running |> List.tryFind (fun (t, _) -> t.Worker = Some paused.Name && t.Started.IsSome && now - t.Started.Value < TimeSpan.FromMilliseconds 80.0)
    let mutable pausedTrial = None
    while pausedTrial.IsNone do
        waitUntil (fun () -> (early ()).IsSome) $"{paused.Name} early in a trial"
        signal paused sigstop
        pausedTrial <- runningOf store paused.Name
        if pausedTrial.IsNone then signal paused sigcont
    waitUntil (fun () -> (store.Trial pausedTrial.Value.Id).Value.State = Finished) "the paused worker's trial finished by another"
    restart |> Option.iter (fun restart ->
        waitUntil (fun () -> finished () >= 100) "100 finished trials"
        restart ())
    signal paused sigcont
    waitUntil (fun () -> finished () >= 150) "150 finished trials"
    killAt workers[2]
    for child in workers do
        if not (killed.Contains child) then finish child
    allFinishedOnce store 200
    Expect.stringContains (paused.Log.ToString()) "result dropped" "the paused worker's late result was refused"
    let pausedAudit = store.Attempts() |> List.filter (fun (number, _, worker, _, _, _) -> number = pausedTrial.Value.Number && worker = Some paused.Name)
    Expect.all pausedAudit (fun (_, _, _, state, _, _) -> state = Waiting) "the paused worker's attempt ended re-queued, not finished"
    let requeued = store.Endings Waiting |> Map.toList |> List.sumBy snd
    Expect.isGreaterThanOrEqual requeued 2 "the orphans of the killed and the paused worker were re-queued"

let private processTests (backend: Backend) =
    testSequenced <| testList backend.Name [
        test "4 worker processes finish 200 empty trials, each once" {
            use store = createIn backend (study "four" Empty 200)
            for i in 1 .. 200 do store.Enqueue(candidate i) |> ignore
            [ for _ in 1 .. 4 -> worker store.Storage [] ] |> List.iter finish
            allFinishedOnce store 200
            Expect.all (store.Trials()) (fun t -> t.Attempt = 1) "each claimed once"
        }
        test "chaos: workers killed and paused past their lease mid-trial, nothing lost or finished twice" {
            chaos backend (if backend.Name = "postgres" then Some Postgres.restart else None)
        }
        test "SIGTERM hands the trial under way back to the queue and ends the worker" {
            use store = createIn backend (study "term" (Sleep 60_000) 2)
            for i in 1 .. 2 do store.Enqueue(candidate i) |> ignore
            let child = worker store.Storage [ "--name"; "t1" ]
            waitUntil (fun () -> (runningOf store "t1").IsSome) "a running trial"
            let trial = (runningOf store "t1").Value
            signal child sigterm
            finish child
            Expect.equal (store.Trial trial.Id).Value.State Waiting "back in the queue"
            Expect.equal (store.Trial trial.Id).Value.Attempt 0 "a stopped attempt is not counted against the trial"
            Expect.stringContains (child.Log.ToString()) "released 1" "the worker says so"
            let audit = store.Attempts() |> List.filter (fun (number, _, _, _, _, _) -> number = trial.Number)
            Expect.exists audit (fun (_, _, _, state, message, _) -> state = Waiting && message |> Option.exists (fun m -> m.Contains "released")) "audited as released"
        }
        test "resume re-queues a killed worker's trial and finishes the study" {
            use store = createIn backend (study "resume" (Sleep 40) 40)
            for i in 1 .. 40 do store.Enqueue(candidate i) |> ignore
            let child = worker store.Storage [ "--name"; "r1" ]
            waitUntil (fun () -> count Finished store >= 5 && (runningOf store "r1").IsSome) "a running trial after 5 finished"
            child.Process.Kill()
            child.Process.WaitForExit()
            let argument, variable = Storage.forChild store.Storage
            finish (startWith (Option.toList variable) [ "search"; "resume"; argument; "--workers"; "2"; "--heartbeat"; "0.5"; "--stale"; "2" ])
            allFinishedOnce store 40
        }
    ]

let private commandTests =
    testList "command line" [
        test "receptor search: options on either side of the study, sqlite: or a path" {
            let parsed argv =
                match Receptor.Cli.Program.parse argv with
                | Receptor.Cli.Program.Run (Receptor.Cli.Program.Command.Search o) -> o
                | other -> failtest $"""{String.concat " " argv}: {other}"""
            let export = Receptor.Cli.Commands.Search.Options.Export { Study = Storage.sqlite "f.db"; Csv = Some "out.csv"; Json = None; Best = None }
            Expect.equal (parsed [| "search"; "export"; "--csv"; "out.csv"; "sqlite:f.db" |]) export "options first, sqlite:"
            Expect.equal (parsed [| "search"; "export"; "f.db"; "--csv"; "out.csv" |]) export "options after, a path"
            Expect.equal (parsed [| "search"; "rerun"; "f.db"; "4" |]) (Receptor.Cli.Commands.Search.Options.Rerun (Storage.sqlite "f.db", 4L)) "rerun STUDY TRIAL"
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
            match Receptor.Cli.Program.parse [| "search"; "status"; "mysql://host/db" |] with
            | Receptor.Cli.Program.Malformed message -> Expect.stringContains message "postgres://" "names what is supported"
            | other -> failtest $"expected a malformed command line, got {other}"
        }
        test "storages: URIs, variables and files; no password is ever shown" {
            let parsed = Storage.parse "postgres://ann:s3cret%21@db.example:6543/studies?sslmode=require#mnist" |> ok
            Expect.equal parsed.Study (Some "mnist") "the study after #"
            Expect.equal (Storage.describe parsed) "postgres://ann@db.example:6543/studies#mnist" "shown without the password"
            match parsed.Backend with
            | Postgres target ->
                let builder = Npgsql.NpgsqlConnectionStringBuilder(target.ConnectionString)
                Expect.equal (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password) ("db.example", 6543, "studies", "ann", "s3cret!") "the connection"
                Expect.equal builder.SslMode Npgsql.SslMode.Require "libpq's sslmode"
                Expect.isFalse ((string target).Contains "s3cret") "ToString shows no password"
            | other -> failtest $"expected PostgreSQL, got {other}"
            let variable = $"RECEPTOR_TEST_{Guid.NewGuid():N}"
            Environment.SetEnvironmentVariable(variable, "Host=h;Username=u;Password=p;Database=d")
            let fromVariable = Storage.parse $"postgres:env:{variable}" |> ok
            Expect.equal (Storage.describe fromVariable) $"postgres:env:{variable}" "shown by the variable's name"
            let file = tempFile ()
            File.WriteAllText(file, "postgresql://u:p@h/d\n")
            Expect.isOk (Storage.parse $"postgres:file:{file}") "a file holding a URI"
            Expect.isError (Storage.parse "postgres:env:RECEPTOR_SURELY_UNSET") "an unset variable"
            Expect.isError (Storage.parse "postgres://u@h/d?nonsense=1") "an unknown setting"
            Expect.equal (Storage.parse "runs/a#b.db" |> ok) { Backend = Sqlite "runs/a"; Study = Some "b.db" } "# names a study"
            let argument, env = Storage.forChild parsed
            Expect.isFalse (argument.Contains "s3cret") "a child's argument holds no password"
            Expect.isSome env "the connection goes in its environment"
        }
        test "search copy: a SQLite study onto PostgreSQL with its trials, epochs and audit" {
            use source = TrialStore.Create(tempFile (), unique (study "copied" Empty 10)) |> ok
            for i in 1 .. 5 do source.Enqueue(candidate i) |> ignore
            for accuracy in [ 0.5; 0.7; 0.6 ] do
                source.Finish((source.Claim "w").Value, Completed [ metrics 1 accuracy ], none) |> ignore
            source.Claim "w" |> ignore
            let target = Postgres.freshDatabase ()
            let argument, variable = Storage.forChild target
            let from, _ = Storage.forChild source.Storage
            let child = startWith (Option.toList variable) [ "search"; "copy"; "--from"; from; "--to"; argument ]
            finish child
            Expect.stringContains (child.Log.ToString()) "5 trial(s) written" "all five"
            use copied = TrialStore.Open(Storage.withStudy source.Study.Name target) |> ok
            let states (store: TrialStore) = store.Trials() |> List.map (fun t -> t.Number, t.State, t.Epochs)
            Expect.equal (states copied) (states source |> List.map (fun (n, s, e) -> n, (if s = Running then Waiting else s), e)) "the same trials; the running one waits"
            Expect.equal (copied.Leaderboard 3 |> List.map _.Number) (source.Leaderboard 3 |> List.map _.Number) "the same leaderboard"
            Expect.equal (copied.Endings Finished) (copied.Trials() |> List.filter (fun t -> t.State = Finished) |> List.map (fun t -> t.Id, 1) |> Map.ofList) "the audit came along"
        }
    ]

/// A copy into a study that has moved on: numbers taken there give way, nothing is overwritten.
let private copyTests =
    testList "copy" [
        test "a copy into a study that has trials of its own renumbers the clashing ones" {
            let s = unique (study "grown" Empty 10)
            use source = TrialStore.Create(tempFile (), s) |> ok
            for i in 1 .. 3 do source.Enqueue(candidate i) |> ignore
            use target = TrialStore.Create(Postgres.freshDatabase (), s) |> ok
            target.Enqueue(candidate 99) |> ignore
            let copied = Copy.study source target.Storage |> ok
            Expect.equal (copied.Trials, copied.Skipped) (3, 0) "three written"
            let trials = target.Trials()
            Expect.equal (trials |> List.map _.Number) [ 1; 2; 3; 4 ] "numbers stay unique"
            Expect.equal (trials |> List.map _.Candidate.Fingerprint |> Set.ofList) (Set.ofList [ "fp-99"; "fp-1"; "fp-2"; "fp-3" ]) "every network once"
            let again = Copy.study source target.Storage |> ok
            Expect.equal (again.Trials, again.Skipped) (0, 3) "a second copy adds nothing"
        }
    ]

/// A store of schema version 1 (as the first receptor with a store wrote it) is migrated when opened.
let private migrationTests =
    testList "migrations" [
        test "a version 1 SQLite store is migrated on open and keeps its trials" {
            let path = tempFile ()
            use connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false")
            connection.Open()
            let exec (sql: string) =
                use c = connection.CreateCommand()
                c.CommandText <- sql
                c.ExecuteNonQuery() |> ignore
            for table in Schema.tables "INTEGER PRIMARY KEY" do exec table
            exec "INSERT INTO schema_version (version) VALUES (1)"
            let s = study "old" Empty 5
            exec $"""INSERT INTO studies (name, settings, created) VALUES ('old', '{StudyJson.write s}', '2026-01-01T00:00:00.0000000Z')"""
            exec "INSERT INTO workers (id, host, pid, started, heartbeat) VALUES ('w', 'h', 1, '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z')"
            connection.Close()
            use store = TrialStore.Open path |> ok
            store.Enqueue(candidate 1) |> ignore
            Expect.equal (store.Trials().Length) 1 "usable"
            store.RegisterWorker("w2", "h", 2, Some "cpu")
            Expect.equal (store.Workers() |> List.map _.Device) [ Some "cpu" ] "the new columns are there"
        }
    ]

let tests =
    testList "store" [
        testList "library" (backends |> List.map unitTests)
        migrationTests
        copyTests
        commandTests
        testList "processes" (backends |> List.map processTests) ]
