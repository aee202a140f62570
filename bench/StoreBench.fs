/// The trial store's throughput: empty trials (claim + finish) per second with 1, 2 and 4 worker processes of
/// `receptor search worker`, beside Optuna's RDBStorage on SQLite running the same empty objective
/// (bench/optuna_store.py), and what each leaves after a worker is killed with SIGKILL.
module Receptor.Bench.StoreBench

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Text.Json
open Receptor.Search

let private root () =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "no folder above the bench holds Dsl.sln"
        elif File.Exists(Path.Combine(dir.FullName, "Dsl.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

let private receptorDll () =
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

let private study objective budget =
    { Name = "bench"; Space = ""; Strategy = "queue"; Objective = objective; Budget = budget; MaxAttempts = 3
      TrialSeconds = None; Seed = 1; Created = DateTimeOffset.UtcNow }

let private candidate i =
    { Architecture = $"net {i}"; Fingerprint = $"fp-{i}"; Decisions = "{}"; Epochs = 1; Parameters = 0L; Macs = 0L
      ReceptiveField = 1; Rejection = None }

let private fresh objective budget =
    let path = Path.Combine(Path.GetTempPath(), $"receptor-storebench-{Guid.NewGuid():N}.db")
    match TrialStore.Create(path, study objective budget) with
    | Ok store -> store
    | Error e -> failwith e

/// Trials per second from the first claim to the last end (process start-up left out), and the wall time.
let private ours trials workers =
    use store = fresh Empty trials
    for i in 1 .. trials do store.Enqueue(candidate i) |> ignore
    let dll = receptorDll ()
    let watch = Stopwatch.StartNew()
    let procs =
        List.init workers (fun _ ->
            let info = ProcessStartInfo("dotnet", UseShellExecute = false, RedirectStandardOutput = true)
            for a in [ dll; "search"; "worker"; store.Location ] do info.ArgumentList.Add a
            Process.Start info)
    for p in procs do
        p.StandardOutput.ReadToEnd() |> ignore
        p.WaitForExit()
    let wall = watch.Elapsed.TotalSeconds
    let all = store.Trials()
    let finished = all |> List.filter (fun t -> t.State = Finished)
    let span = (finished |> List.map (fun t -> t.Ended.Value) |> List.max) - (finished |> List.map (fun t -> t.Started.Value) |> List.min)
    (store :> IDisposable).Dispose()
    for suffix in [ ""; "-wal"; "-shm" ] do File.Delete(store.Location + suffix)
    finished.Length, span.TotalSeconds, wall

let private python () =
    [ "python3"; "/usr/bin/python3" ]
    |> List.tryFind (fun p ->
        try
            let code, _, _ = run p [ "-c"; "import optuna" ]
            code = 0
        with _ -> false)

let private optuna python trials workers =
    let path = Path.Combine(Path.GetTempPath(), $"optuna-storebench-{Guid.NewGuid():N}.db")
    let script = Path.Combine(root (), "bench", "optuna_store.py")
    let code, out, err = run python [ script; "throughput"; path; string trials; string workers ]
    if code <> 0 then failwith $"optuna_store.py: {err}"
    let json = JsonDocument.Parse(out).RootElement
    json.GetProperty("trials").GetInt32(), json.GetProperty("seconds_span").GetDouble(), json.GetProperty("seconds_wall").GetDouble(),
    json.GetProperty("version").GetString()

/// One worker on a Sleep study killed with SIGKILL mid-trial: what the store holds then, and after resume's reap.
let private ourKill () =
    use store = fresh (Sleep 1000) 100
    for i in 1 .. 100 do store.Enqueue(candidate i) |> ignore
    let info = ProcessStartInfo("dotnet", UseShellExecute = false, RedirectStandardOutput = true)
    for a in [ receptorDll (); "search"; "worker"; store.Location ] do info.ArgumentList.Add a
    let p = Process.Start info
    let count state = store.Counts() |> List.find (fst >> (=) state) |> snd
    let watch = Stopwatch.StartNew()
    while count Finished < 2 && watch.Elapsed.TotalSeconds < 60.0 do Threading.Thread.Sleep 100
    Threading.Thread.Sleep 500
    p.Kill()
    p.WaitForExit()
    let running = count Running
    let requeued = store.ReapWorkers(store.Workers() |> List.map _.Id)
    running, requeued, count Running

let runAll () =
    let f (x: float) = x.ToString("F0", CultureInfo.InvariantCulture)
    let s (x: float) = x.ToString("F2", CultureInfo.InvariantCulture)
    let trials = 1000
    let py = python ()
    let lines = ResizeArray()
    lines.Add "| workers | receptor trials/s | receptor span s | receptor wall s | Optuna trials/s | Optuna span s | Optuna wall s | ratio (ours / Optuna) |"
    lines.Add "|---|---|---|---|---|---|---|---|"
    let mutable version = "not installed"
    for workers in [ 1; 2; 4 ] do
        let n, span, wall = ours trials workers
        let ourRate = float n / span
        match py with
        | Some python ->
            let on, ospan, owall, v = optuna python trials workers
            version <- v
            let theirRate = float on / ospan
            lines.Add $"| {workers} | {f ourRate} | {s span} | {s wall} | {f theirRate} | {s ospan} | {s owall} | {s (ourRate / theirRate)} |"
        | None -> lines.Add $"| {workers} | {f ourRate} | {s span} | {s wall} | – | – | – | – |"
    let running, requeued, runningAfter = ourKill ()
    let optunaKill =
        match py with
        | Some python ->
            let _, out, _ = run python [ Path.Combine(root (), "bench", "optuna_store.py"); "kill"; Path.Combine(Path.GetTempPath(), $"optuna-kill-{Guid.NewGuid():N}.db") ]
            let left = JsonDocument.Parse(out).RootElement.GetProperty("running_after_kill").GetInt32()
            $"Optuna {version}: {left} trial(s) left RUNNING after the SIGKILL, and they stay RUNNING: nothing re-queues them (RDBStorage's heartbeat is off unless `heartbeat_interval` is set, and then a stale trial is marked FAIL, not retried unless a callback enqueues a copy)."
        | None -> "Optuna: not installed (apt-get install python3-optuna)."
    lines.Add ""
    lines.Add $"After SIGKILL of a worker mid-trial (Sleep 1000 ms objective): receptor's store held {running} Running trial(s); `resume`'s reap of the dead worker re-queued {requeued}, leaving {runningAfter} Running. {optunaKill}"
    String.concat "\n" lines
