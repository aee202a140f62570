/// `receptor search worker|status|resume|leaderboard|export|rerun|delete|copy STUDY`: the trials of an
/// architecture search in its store. STUDY is the store (Receptor.Search.Storage): `sqlite:PATH` or a file's
/// path, `postgres://USER@HOST/DB`, `postgres:env:VARIABLE` or `postgres:file:PATH`, with `#NAME` where the
/// store holds several studies.
module Receptor.Cli.Commands.Search

open System
open System.Diagnostics
open System.Globalization
open System.IO
open System.Threading
open Argu
open Receptor.Search
open Receptor.Cli.Common

type WorkerOptions =
    { Study: Storage
      /// None: host:pid:random.
      Name: string option
      Heartbeat: float
      Stale: float }

type ResumeOptions =
    { Study: Storage
      Workers: int
      Heartbeat: float
      Stale: float }

type ExportOptions =
    { Study: Storage
      Csv: string option
      Json: string option
      /// The best finished trial's architecture as an .rcp file.
      Best: string option }

type Options =
    | Space of SearchRun.SpaceOptions
    | Run of SearchRun.RunOptions
    | Create of SearchRun.RunOptions
    | Worker of WorkerOptions
    | Status of study: Storage
    | Resume of ResumeOptions
    | Leaderboard of study: Storage * top: int
    | Export of ExportOptions
    | Rerun of study: Storage * trial: int64
    | Delete of study: Storage * trial: int64
    | Copy of from: Storage * into: Storage

let defaultHeartbeat = 5.0
let defaultStale = 60.0
let defaultTop = 10

type WorkerArgs =
    | [<MainCommand; ExactlyOnce>] Study of study: string
    | Name of name: string
    | Heartbeat of seconds: float
    | Stale of seconds: float

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Study _ -> "the study's store: sqlite:PATH or PATH"
            | Name _ -> "the worker's name, unique in the study (default host:pid:random)"
            | Heartbeat _ -> $"seconds between heartbeats of a running trial (default {defaultHeartbeat})"
            | Stale _ -> $"a running trial without a heartbeat for this long is re-queued (default {defaultStale})"

type StudyArgs =
    | [<MainCommand; ExactlyOnce>] Study of study: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Study _ -> "the study's store: sqlite:PATH or PATH"

type ResumeArgs =
    | [<MainCommand; ExactlyOnce>] Study of study: string
    | Workers of count: int
    | Heartbeat of seconds: float
    | Stale of seconds: float

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Study _ -> "the study's store: sqlite:PATH or PATH"
            | Workers _ -> "worker processes to run (default 1)"
            | Heartbeat _ -> $"the workers' heartbeat in seconds (default {defaultHeartbeat})"
            | Stale _ -> $"the workers' stale threshold in seconds (default {defaultStale})"

type LeaderboardArgs =
    | [<MainCommand; ExactlyOnce>] Study of study: string
    | Top of count: int

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Study _ -> "the study's store: sqlite:PATH or PATH"
            | Top _ -> $"how many trials (default {defaultTop})"

type ExportArgs =
    | [<MainCommand; ExactlyOnce>] Study of study: string
    | Csv of path: string
    | Json of path: string
    | Best of path: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Study _ -> "the study's store: sqlite:PATH or PATH"
            | Csv _ -> "write one row a trial to this CSV file"
            | Json _ -> "write every trial with its epochs to this JSON file"
            | Best _ -> "write the best finished trial's architecture to this .rcp file"

type CopyArgs =
    | [<Mandatory; Unique>] From of study: string
    | [<Mandatory; Unique>] To of store: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | From _ -> "the study to copy (sqlite:PATH, postgres://…, with #NAME where its store holds several)"
            | To _ -> "the store to copy it into (created where missing)"

type TrialArgs =
    | [<MainCommand; ExactlyOnce>] Study_Trial of study: string * trial: int64

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Study_Trial _ -> "the study's store (sqlite:PATH or PATH) and the trial's id"

type Args =
    | [<CliPrefix(CliPrefix.None)>] Space of ParseResults<SearchRun.SpaceArgs>
    | [<CliPrefix(CliPrefix.None)>] Run of ParseResults<SearchRun.RunArgs>
    | [<CliPrefix(CliPrefix.None)>] Create of ParseResults<SearchRun.RunArgs>
    | [<CliPrefix(CliPrefix.None)>] Worker of ParseResults<WorkerArgs>
    | [<CliPrefix(CliPrefix.None)>] Status of ParseResults<StudyArgs>
    | [<CliPrefix(CliPrefix.None)>] Resume of ParseResults<ResumeArgs>
    | [<CliPrefix(CliPrefix.None)>] Leaderboard of ParseResults<LeaderboardArgs>
    | [<CliPrefix(CliPrefix.None)>] Export of ParseResults<ExportArgs>
    | [<CliPrefix(CliPrefix.None)>] Rerun of ParseResults<TrialArgs>
    | [<CliPrefix(CliPrefix.None)>] Delete of ParseResults<TrialArgs>
    | [<CliPrefix(CliPrefix.None)>] Copy of ParseResults<CopyArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Space _ -> "a search space's size, choice points and a few samples"
            | Run _ -> "search a space: propose, reject, initialise, train and score candidates; then the leaderboard and the best"
            | Create _ -> "write a study to its store (search run's options) without running it: workers started elsewhere join it"
            | Worker _ -> "join a study: run its trials until every one has ended"
            | Status _ -> "trials by state, and the running ones with their worker and heartbeat"
            | Resume _ -> "re-queue the trials of dead or silent workers, then run --workers processes until all end"
            | Leaderboard _ -> "the finished trials by best validation accuracy, ties to fewer MACs"
            | Export _ -> "every trial to --csv and/or --json; the best architecture to --best"
            | Rerun _ -> "an ended trial back to the queue, its epochs cleared"
            | Delete _ -> "remove a trial and its epochs"
            | Copy _ -> "copy a study with its trials, epochs and audit into another store (a laptop's SQLite file onto PostgreSQL)"

let private seconds name (value: float) =
    if value > 0.0 then Ok value else Error $"--{name} must be positive, got {value}"

let options (a: ParseResults<Args>) : Result<Options, string> =
    match a.GetSubCommand() with
    | Args.Space s -> SearchRun.spaceOptions s |> Result.map Options.Space
    | Args.Run r -> SearchRun.runOptions r |> Result.map Options.Run
    | Args.Create r -> SearchRun.runOptions r |> Result.map Options.Create
    | Args.Worker w ->
        storage (w.GetResult WorkerArgs.Study)
        |> Result.bind (fun study ->
            seconds "heartbeat" (w.GetResult(WorkerArgs.Heartbeat, defaultHeartbeat))
            |> Result.bind (fun heartbeat ->
                seconds "stale" (w.GetResult(WorkerArgs.Stale, defaultStale))
                |> Result.map (fun stale -> Options.Worker { Study = study; Name = w.TryGetResult WorkerArgs.Name; Heartbeat = heartbeat; Stale = stale })))
    | Args.Status s -> storage (s.GetResult StudyArgs.Study) |> Result.map Options.Status
    | Args.Resume r ->
        let workers = r.GetResult(ResumeArgs.Workers, 1)
        if workers < 1 then Error $"--workers must be at least 1, got {workers}"
        else
            storage (r.GetResult ResumeArgs.Study)
            |> Result.bind (fun study ->
                seconds "heartbeat" (r.GetResult(ResumeArgs.Heartbeat, defaultHeartbeat))
                |> Result.bind (fun heartbeat ->
                    seconds "stale" (r.GetResult(ResumeArgs.Stale, defaultStale))
                    |> Result.map (fun stale -> Options.Resume { Study = study; Workers = workers; Heartbeat = heartbeat; Stale = stale })))
    | Args.Leaderboard l ->
        let top = l.GetResult(LeaderboardArgs.Top, defaultTop)
        if top < 1 then Error $"--top must be at least 1, got {top}"
        else storage (l.GetResult LeaderboardArgs.Study) |> Result.map (fun study -> Options.Leaderboard (study, top))
    | Args.Export e ->
        let csv, json, best = e.TryGetResult ExportArgs.Csv, e.TryGetResult ExportArgs.Json, e.TryGetResult ExportArgs.Best
        if csv.IsNone && json.IsNone && best.IsNone then Error "export: give --csv PATH, --json PATH or --best PATH"
        else storage (e.GetResult ExportArgs.Study) |> Result.map (fun study -> Options.Export { Study = study; Csv = csv; Json = json; Best = best })
    | Args.Rerun t ->
        let study, trial = t.GetResult TrialArgs.Study_Trial
        storage study |> Result.map (fun study -> Options.Rerun (study, trial))
    | Args.Delete t ->
        let study, trial = t.GetResult TrialArgs.Study_Trial
        storage study |> Result.map (fun study -> Options.Delete (study, trial))
    | Args.Copy c ->
        storage (c.GetResult CopyArgs.From)
        |> Result.bind (fun from -> storage (c.GetResult CopyArgs.To) |> Result.map (fun into -> Options.Copy (from, into)))

let private withStore (error: TextWriter) (storage: Storage) (work: TrialStore -> int) =
    match TrialStore.Open storage with
    | Error message -> fail error message
    | Ok store ->
        use store = store
        work store

let private worker (output: TextWriter) (error: TextWriter) (o: WorkerOptions) =
    withStore error o.Study (fun store ->
        let name = o.Name |> Option.defaultWith Worker.defaultName
        let log (line: string) = error.WriteLine $"{name}: {line}"
        match Studies.prepare store log with
        | Error message -> fail error message
        | Ok (propose, evaluate) ->
            store.Log <- log
            use stop = new CancellationTokenSource()
            // SIGTERM (a scheduler's stop) and Ctrl-C hand the trial under way back to the queue at once instead
            // of leaving it to the reaper; the process then ends normally.
            let stopping (context: Runtime.InteropServices.PosixSignalContext) =
                context.Cancel <- true
                log $"{context.Signal}: stopping"
                stop.Cancel()
            use _ = Runtime.InteropServices.PosixSignalRegistration.Create(Runtime.InteropServices.PosixSignal.SIGTERM, stopping)
            use _ = Runtime.InteropServices.PosixSignalRegistration.Create(Runtime.InteropServices.PosixSignal.SIGINT, stopping)
            let options =
                { Worker.defaults () with
                    Name = name
                    Heartbeat = TimeSpan.FromSeconds o.Heartbeat
                    Stale = TimeSpan.FromSeconds o.Stale
                    Stop = stop.Token
                    Device = SearchRun.deviceOf store.Study
                    Log = log }
            let summary = Worker.run store options propose evaluate
            output.WriteLine $"{name}: recorded {summary.Recorded} trial(s), dropped {summary.Dropped}, released {summary.Released}"
            exitOk)

let private countsLine (store: TrialStore) =
    store.Counts() |> List.map (fun (s, n) -> $"{TrialState.name s} {n}") |> String.concat ", "

let private status (output: TextWriter) (error: TextWriter) storage =
    withStore error storage (fun store ->
        let s = store.Study
        output.WriteLine $"study '{s.Name}' ({store.Location}): budget {s.Budget}, strategy {s.Strategy}"
        output.WriteLine (countsLine store)
        let running, now = store.Running()
        for trial, beat in running do
            let age = (now - beat).TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)
            let worker = defaultArg trial.Worker "?"
            output.WriteLine $"  trial {trial.Id} (#{trial.Number}, attempt {trial.Attempt}): {worker}, heartbeat {age} s ago"
        exitOk)

let private resume (output: TextWriter) (error: TextWriter) (o: ResumeOptions) =
    withStore error o.Study (fun store ->
        let orphans = SearchRun.reapDeadWorkers store
        let stale = store.Reap(TimeSpan.FromSeconds o.Stale)
        output.WriteLine $"{store.Location}: re-queued {orphans} trial(s) of dead workers and {stale} stale one(s); {countsLine store}"
        let invariant (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
        let start () = Process.Start(SearchRun.workerProcess store.Storage [ "--heartbeat"; invariant o.Heartbeat; "--stale"; invariant o.Stale ] false)
        let workers = List.init o.Workers (fun _ -> start ())
        let codes =
            workers
            |> List.map (fun p ->
                use p = p
                p.WaitForExit()
                p.ExitCode)
        output.WriteLine $"{store.Location}: {countsLine store}"
        if codes |> List.forall ((=) 0) then exitOk else exitFailed)

let private leaderboard (output: TextWriter) (error: TextWriter) path top =
    withStore error path (fun store ->
        output.WriteLine "rank  trial  best val acc  MACs  parameters  epochs  fingerprint"
        store.Leaderboard top
        |> List.iteri (fun i t ->
            let best = Export.bestAccuracy t |> Option.map percent |> Option.defaultValue "-"
            output.WriteLine $"{i + 1}  {t.Number}  {best}  {t.Candidate.Macs}  {t.Candidate.Parameters}  {t.Epochs.Length}  {t.Candidate.Fingerprint}")
        exitOk)

let private export (output: TextWriter) (error: TextWriter) (o: ExportOptions) =
    withStore error o.Study (fun store ->
        let trials = store.Trials()
        let write (path: string) (text: string) =
            try
                File.WriteAllText(path, text)
                output.WriteLine $"wrote {path}"
                Ok ()
            with :? IOException | :? UnauthorizedAccessException as e -> Error $"{path}: {e.Message}"
        let written =
            [ o.Csv |> Option.map (fun p -> write p (Export.csv trials))
              o.Json |> Option.map (fun p -> write p (Export.json trials))
              o.Best |> Option.map (fun p ->
                  match store.Leaderboard 1 with
                  | best :: _ -> write p $"# The best trial (#{best.Number}, best validation accuracy {percent (defaultArg (Export.bestAccuracy best) 0.0)}) of study '{store.Study.Name}'
{best.Candidate.Architecture}"
                  | [] -> Error "no trial has finished: there is no best architecture yet") ]
            |> List.choose id
        match written |> List.tryPick (function Error e -> Some e | Ok () -> None) with
        | Some message -> fail error message
        | None -> exitOk)

let private onTrial (output: TextWriter) (error: TextWriter) path (work: TrialStore -> Result<string, string>) =
    withStore error path (fun store ->
        match work store with
        | Ok line ->
            output.WriteLine line
            exitOk
        | Error message -> fail error message)

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    match o with
    | Options.Space s -> SearchRun.space output error s
    | Options.Run r -> SearchRun.run output error r
    | Options.Create r -> SearchRun.create output error r
    | Options.Worker w -> worker output error w
    | Options.Status path -> status output error path
    | Options.Resume r -> resume output error r
    | Options.Leaderboard (path, top) -> leaderboard output error path top
    | Options.Export e -> export output error e
    | Options.Rerun (path, id) -> onTrial output error path (fun s -> s.Rerun id |> Result.map (fun t -> $"trial {id} (#{t.Number}) waits again"))
    | Options.Delete (path, id) -> onTrial output error path (fun s -> s.Delete id |> Result.map (fun () -> $"trial {id} deleted"))
    | Options.Copy (from, into) ->
        withStore error from (fun source ->
            match Copy.study source into with
            | Ok copied ->
                output.WriteLine $"copied study '{source.Study.Name}' from {source.Location} to {Storage.describe (Storage.withStudy source.Study.Name into)}: {copied.Trials} trial(s) written, {copied.Skipped} already there, {copied.Requeued} running there and waiting here"
                exitOk
            | Error message -> fail error message)
