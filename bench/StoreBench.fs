/// The trial stores' throughput: empty trials (one claim and one finish each) per second with 1, 4 and 16 worker
/// processes of `receptor search worker`, on SQLite and on PostgreSQL, beside Optuna's RDBStorage on the same
/// SQLite file system and the same PostgreSQL server running the same empty objective (bench/optuna_store.py);
/// what each store leaves after a worker is killed with SIGKILL; and a study of real one-epoch MNIST trials
/// run by 16 workers on PostgreSQL against 1 worker.
module Receptor.Bench.StoreBench

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Net
open System.Net.Sockets
open System.Text.Json
open Receptor.Search

let private root = InitBench.root

/// The repository's Release build of `receptor`.
let receptorDll () =
    let dll = Path.Combine(root (), "Cli", "bin", "Release", "net10.0", "receptor.dll")
    if File.Exists dll then dll else failwith $"{dll} is missing: dotnet build Cli/Cli.fsproj -c Release first"

let private run (file: string) (args: string list) =
    let info = ProcessStartInfo(file, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in args do info.ArgumentList.Add a
    let p = Process.Start info
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    p.WaitForExit()
    p.ExitCode, out.Result, err.Result

/// A loopback port nobody listens on now.
let freePort () =
    let listener = new TcpListener(IPAddress.Loopback, 0)
    listener.Start()
    let port = (listener.LocalEndpoint :?> IPEndPoint).Port
    listener.Stop()
    port

/// A PostgreSQL server of the bench's own (scripts/postgres.sh), with one database for receptor and one for
/// Optuna (their tables share names).
type private Server(folder: string, port: int) =
    member _.Uri(database: string) = $"postgres://receptor@127.0.0.1:{port}/{database}"
    member _.Sqlalchemy(database: string) = $"postgresql+psycopg2://receptor@127.0.0.1:{port}/{database}"

    member _.CreateDatabase(database: string) =
        use c = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=receptor;Database=postgres;Pooling=false")
        c.Open()
        use command = c.CreateCommand()
        command.CommandText <- $"CREATE DATABASE {database}"
        command.ExecuteNonQuery() |> ignore

    static member Start() =
        let folder = Path.Combine(Path.GetTempPath(), $"receptor-bench-postgres-{Guid.NewGuid():N}")
        let port = freePort ()
        let script = Path.Combine(root (), "scripts", "postgres.sh")
        match run "bash" [ script; "start"; folder; string port ] with
        | 0, _, _ -> ()
        | _, out, err -> failwith $"scripts/postgres.sh start: {out}{err}"
        let server = new Server(folder, port)
        server.CreateDatabase "receptor"
        server.CreateDatabase "optuna"
        server

    interface IDisposable with
        member _.Dispose() =
            run "bash" [ Path.Combine(root (), "scripts", "postgres.sh"); "stop"; folder ] |> ignore
            try Directory.Delete(folder, true) with _ -> ()

let private study objective budget =
    { Name = "bench"; Space = ""; Strategy = "queue"; Objective = objective; Budget = budget; MaxAttempts = 3
      TrialSeconds = None; Seed = 1; Created = DateTimeOffset.UtcNow }

let private candidate i =
    { Architecture = $"net {i}"; Fingerprint = $"fp-{i}"; Decisions = "{}"; Epochs = 1; Parameters = 0L; Macs = 0L
      ReceptiveField = 1; Rejection = None }

let private storageOf (text: string) =
    match Storage.parse text with
    | Ok storage -> storage
    | Error e -> failwith e

/// A fresh study on `place` (a new SQLite file, or a new study name in the PostgreSQL database).
let private fresh (place: string) objective budget =
    let storage =
        if place = "sqlite" then Storage.sqlite (Path.Combine(Path.GetTempPath(), $"receptor-storebench-{Guid.NewGuid():N}.db"))
        else storageOf place
    let named = { study objective budget with Name = $"bench-{Guid.NewGuid():N}" }
    match TrialStore.Create(storage, named) with
    | Ok store -> store
    | Error e -> failwith e

let private remove (store: TrialStore) =
    match store.Storage.Backend with
    | Sqlite path -> for suffix in [ ""; "-wal"; "-shm" ] do File.Delete(path + suffix)
    | Postgres _ -> ()

let private startWorker (store: TrialStore) =
    let argument, variable = Storage.forChild store.Storage
    let info = ProcessStartInfo("dotnet", UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in [ receptorDll (); "search"; "worker"; argument ] do info.ArgumentList.Add a
    variable |> Option.iter (fun (name, value) -> info.Environment[name] <- value)
    let p = Process.Start info
    p.ErrorDataReceived.Add ignore
    p.BeginErrorReadLine()
    p

/// Trials per second once every worker has joined (from the last one's registration to the last trial's end,
/// on the database's clock): K processes' start-ups, which overlap the first ones' work, are left out. Also
/// the count in that window and the whole wall time.
let private ours place trials workers =
    use store = fresh place Empty trials
    for i in 1 .. trials do store.Enqueue(candidate i) |> ignore
    let watch = Stopwatch.StartNew()
    let procs = List.init workers (fun _ -> startWorker store)
    for p in procs do
        p.StandardOutput.ReadToEnd() |> ignore
        p.WaitForExit()
    let wall = watch.Elapsed.TotalSeconds
    let finished = store.Trials() |> List.filter (fun t -> t.State = Finished)
    if finished.Length <> trials then failwith $"{store.Location}: {finished.Length} of {trials} trials finished"
    let joined = store.Workers() |> List.map _.Started |> List.max
    let inWindow = finished |> List.filter (fun t -> t.Started.Value >= joined)
    let last = finished |> List.map (fun t -> t.Ended.Value) |> List.max
    remove store
    inWindow.Length, (last - joined).TotalSeconds, wall

let private python () =
    [ "/usr/bin/python3"; "python3" ]
    |> List.tryFind (fun p ->
        try
            let code, _, _ = run p [ "-c"; "import optuna, psycopg2" ]
            code = 0
        with _ -> false)

/// Optuna's workers wait at a barrier after loading the study, so its span holds no start-up either.
let private optuna python url trials workers =
    let script = Path.Combine(root (), "bench", "optuna_store.py")
    let code, out, err = run python [ script; "throughput"; url; string trials; string workers ]
    if code <> 0 then failwith $"optuna_store.py: {err}"
    let json = JsonDocument.Parse(out).RootElement
    json.GetProperty("trials").GetInt32(), json.GetProperty("seconds_span").GetDouble(), json.GetProperty("seconds_wall").GetDouble(), json.GetProperty("version").GetString()

/// One worker on a Sleep study killed with SIGKILL mid-trial: what the store holds then, and after resume's reap.
let private ourKill place =
    use store = fresh place (Sleep 1000) 100
    for i in 1 .. 100 do store.Enqueue(candidate i) |> ignore
    let p = startWorker store
    let count state = store.Counts() |> List.find (fst >> (=) state) |> snd
    let watch = Stopwatch.StartNew()
    while count Finished < 2 && watch.Elapsed.TotalSeconds < 60.0 do Threading.Thread.Sleep 100
    Threading.Thread.Sleep 500
    p.Kill()
    p.WaitForExit()
    let running = count Running
    let requeued = store.ReapWorkers(store.Workers() |> List.map _.Id)
    let after = count Running
    remove store
    running, requeued, after

let runAll () =
    let f (x: float) = x.ToString("F0", CultureInfo.InvariantCulture)
    let s (x: float) = x.ToString("F2", CultureInfo.InvariantCulture)
    use server = Server.Start()
    let py = python ()
    let lines = ResizeArray()
    lines.Add "| store | workers | receptor trials/s | (trials, window s, wall s) | Optuna trials/s | (trials, span s, wall s) | ratio (ours / Optuna) |"
    lines.Add "|---|---|---|---|---|---|---|"
    let mutable version = "not installed"
    let places =
        [ "SQLite", "sqlite", (fun () -> "sqlite:///" + Path.Combine(Path.GetTempPath(), $"optuna-storebench-{Guid.NewGuid():N}.db"))
          "PostgreSQL", server.Uri "receptor", (fun () -> server.Sqlalchemy "optuna") ]
    for name, place, optunaUrl in places do
        for workers, trials, optunaTrials in [ 1, 2000, 300; 4, 6000, 400; 16, 12000, 600 ] do
            eprintfn "store: %s, %d worker(s)" name workers
            let n, window, wall = ours place trials workers
            let ourRate = float n / window
            match py with
            | Some python ->
                let on, ospan, owall, v = optuna python (optunaUrl ()) optunaTrials workers
                version <- v
                let theirRate = float on / ospan
                lines.Add $"| {name} | {workers} | {f ourRate} | ({n}, {s window}, {s wall}) | {f theirRate} | ({on}, {s ospan}, {s owall}) | {s (ourRate / theirRate)} |"
            | None -> lines.Add $"| {name} | {workers} | {f ourRate} | ({n}, {s window}, {s wall}) | – | – | – |"
    lines.Add ""
    for name, place, optunaUrl in places do
        let running, requeued, runningAfter = ourKill place
        let optunaKill =
            match py with
            | Some python ->
                let _, out, _ = run python [ Path.Combine(root (), "bench", "optuna_store.py"); "kill"; optunaUrl () ]
                let json = JsonDocument.Parse(out).RootElement
                let left = json.GetProperty("running_after_kill").GetInt32()
                let states = json.GetProperty("states").EnumerateObject() |> Seq.map (fun p -> $"{p.Name} {p.Value.GetInt32()}") |> String.concat ", "
                $"Optuna {version} on {name}: trial states after the kill {states}; {left} RUNNING for good (nothing re-queues it: RDBStorage's heartbeat is off unless `heartbeat_interval` is set, and then a stale trial is marked FAIL, not retried unless a callback enqueues a copy)."
            | None -> "Optuna: not installed (apt-get install python3-optuna python3-psycopg2)."
        lines.Add $"- {name}, SIGKILL of a worker mid-trial (Sleep 1000 ms objective): receptor's store held {running} Running trial(s); `resume`'s reap of the dead worker re-queued {requeued}, leaving {runningAfter} Running. {optunaKill}"
    String.concat "\n" lines

/// A study of real trials (Examples/spaces/mnist-small.rcp, one epoch on MNIST each, 1,000 images held out)
/// run by `receptor search run --workers K` on PostgreSQL: every trial once, and trials per minute.
let mnistScaling (counts: int list) =
    use server = Server.Start()
    let space = Path.Combine(root (), "Examples", "spaces", "mnist-small.rcp")
    let lines = ResizeArray()
    lines.Add "| workers | trials | finished once | span s | trials/min | against 1 worker |"
    lines.Add "|---|---|---|---|---|---|"
    let mutable baseline = None
    for workers in counts do
        let trials = 16
        // A database of its own: the same study with the same settings would be continued, not run again.
        server.CreateDatabase $"mnist{workers}"
        let uri = server.Uri $"mnist{workers}"
        let code, out, err =
            run "dotnet" [ receptorDll (); "search"; "run"; space; "--data"; "mnist"; "--strategy"; "random"; "--trials"; string trials; "--epochs"; "1"
                           "--workers"; string workers; "--seed"; "1"; "--storage"; uri ]
        if code <> 0 then failwith $"search run --workers {workers}: {out}{err}"
        let name = (out.Split('\n') |> Array.find (fun l -> l.StartsWith "study '")).Split('\'')[1]
        use store = TrialStore.Open(Storage.withStudy name (storageOf uri)) |> Result.defaultWith failwith
        let all = store.Trials() |> List.filter (fun t -> t.State <> Rejected)
        let endings = store.Endings Finished
        let once = all |> List.forall (fun t -> t.State = Finished && endings.TryFind t.Id = Some 1)
        let span = ((all |> List.map (fun t -> t.Ended.Value) |> List.max) - (all |> List.map (fun t -> t.Started.Value) |> List.min)).TotalSeconds
        let rate = float all.Length / span * 60.0
        if baseline.IsNone then baseline <- Some rate
        lines.Add $"| {workers} | {all.Length} | {once} | {span:F1} | {rate:F2} | {rate / baseline.Value:F2} |"
    String.concat "\n" lines
