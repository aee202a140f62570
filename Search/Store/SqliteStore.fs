/// The embedded trial store: one SQLite file per study in WAL mode, shared by worker processes on one machine.
/// Proposal and claim are atomic, and every write of a worker is fenced by its claim (trial, worker, attempt,
/// state 'running'), so a worker presumed dead can no longer change a trial that was handed to another.
namespace Receptor.Search

open System
open System.Globalization
open System.IO
open Microsoft.Data.Sqlite

/// What a finished attempt cost.
type Usage =
    { WallSeconds: float
      CpuSeconds: float
      Device: string option }

/// What `Propose` did with a candidate.
type Proposal =
    /// Inserted as Running, claimed by the proposing worker.
    | Claimed of Claim
    /// Refused by the analysis: inserted as Rejected, nothing to run.
    | Recorded of Trial
    /// The study already holds this network; nothing inserted.
    | Duplicate of Trial
    /// The study has as many trials as its budget; nothing inserted.
    | BudgetSpent

/// A process that joined the study.
type WorkerInfo =
    { Id: string
      Host: string
      Pid: int
      Started: DateTimeOffset
      Heartbeat: DateTimeOffset }

module private Sql =
    /// UTC ISO-8601 with a fixed width, so that text order is time order.
    let stamp (t: DateTimeOffset) = t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture)

    let parseStamp (text: string) =
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal ||| DateTimeStyles.AdjustToUniversal)

    let private value (v: obj) =
        match v with
        | null -> box DBNull.Value
        | :? (string option) as s -> s |> Option.map box |> Option.defaultValue (box DBNull.Value)
        | :? (float option) as f -> f |> Option.map box |> Option.defaultValue (box DBNull.Value)
        | v -> v

    let command (connection: SqliteConnection) (sql: string) (parameters: (string * obj) list) =
        let c = connection.CreateCommand()
        c.CommandText <- sql
        for name, v in parameters do
            c.Parameters.AddWithValue(name, value v) |> ignore
        c

    let execute connection sql parameters =
        use c = command connection sql parameters
        c.ExecuteNonQuery()

    let scalar connection sql parameters =
        use c = command connection sql parameters
        c.ExecuteScalar()

    let rows connection sql parameters (read: SqliteDataReader -> 'T) =
        use c = command connection sql parameters
        use r = c.ExecuteReader()
        [ while r.Read() do
              read r ]

    let text (r: SqliteDataReader) i = if r.IsDBNull i then None else Some (r.GetString i)
    let number (r: SqliteDataReader) i = if r.IsDBNull i then None else Some (r.GetDouble i)

    /// Runs `work` in a BEGIN IMMEDIATE transaction: the write lock is taken at the start, so a read inside
    /// cannot be overtaken by another process's write before this one's.
    let immediate (connection: SqliteConnection) (work: unit -> 'T) =
        use transaction = connection.BeginTransaction(deferred = false)
        let result = work ()
        transaction.Commit()
        result

    let trialColumns =
        "id, study, number, architecture, fingerprint, decisions, epochs_asked, parameters, macs, receptive_field, "
        + "state, attempt, worker, seed, message, device, started, ended, wall_seconds, cpu_seconds, heartbeat"

    let readEpoch (r: SqliteDataReader) =
        r.GetInt64 0,
        { Epoch = r.GetInt32 1
          ValidationAccuracy = r.GetDouble 2
          ValidationLoss = r.GetDouble 3
          TrainingLoss = r.GetDouble 4 }

    /// A trial row (`trialColumns`) with its epochs, and its heartbeat.
    let readTrial (epochs: int64 -> EpochMetrics list) (r: SqliteDataReader) =
        let id = r.GetInt64 0
        { Id = id
          Study = r.GetString 1
          Number = r.GetInt32 2
          Candidate =
            { Architecture = r.GetString 3
              Fingerprint = r.GetString 4
              Decisions = r.GetString 5
              Epochs = r.GetInt32 6
              Parameters = r.GetInt64 7
              Macs = r.GetInt64 8
              ReceptiveField = r.GetInt32 9
              Rejection = None }
          State = TrialState.parse (r.GetString 10) |> Option.defaultValue Failed
          Attempt = r.GetInt32 11
          Worker = text r 12
          Seed = r.GetInt32 13
          Epochs = epochs id
          Message = text r 14
          Device = text r 15
          Started = text r 16 |> Option.map parseStamp
          Ended = text r 17 |> Option.map parseStamp
          WallSeconds = number r 18
          CpuSeconds = number r 19 },
        text r 20 |> Option.map parseStamp

    /// Trials chosen by `where`, with their epochs read in one more query.
    let trials connection (where: string) parameters =
        let found = rows connection $"SELECT {trialColumns} FROM trials {where}" parameters (readTrial (fun _ -> []))
        if found.IsEmpty then []
        else
            let ids = found |> List.map (fun (t, _) -> string t.Id) |> String.concat ","
            let epochs =
                rows connection $"SELECT trial, epoch, validation_accuracy, validation_loss, training_loss FROM epochs WHERE trial IN ({ids}) ORDER BY trial, epoch" [] readEpoch
                |> List.groupBy fst
                |> Map.ofList
            found
            |> List.map (fun (t, beat) ->
                let e = epochs |> Map.tryFind t.Id |> Option.map (List.map snd) |> Option.defaultValue []
                { t with Epochs = e }, beat)

    let upsertEpoch connection (trial: int64) (m: EpochMetrics) =
        execute
            connection
            "INSERT INTO epochs (trial, epoch, validation_accuracy, validation_loss, training_loss) VALUES ($t, $e, $a, $vl, $tl)
             ON CONFLICT (trial, epoch) DO UPDATE SET validation_accuracy = excluded.validation_accuracy,
               validation_loss = excluded.validation_loss, training_loss = excluded.training_loss"
            [ "$t", box trial; "$e", box m.Epoch; "$a", box m.ValidationAccuracy; "$vl", box m.ValidationLoss; "$tl", box m.TrainingLoss ]
        |> ignore

    let audit connection (trial: int64) (attempt: int) (worker: string option) (state: TrialState) (message: string option) (at: DateTimeOffset) =
        execute
            connection
            "INSERT INTO attempts (trial, attempt, worker, state, message, at) VALUES ($t, $a, $w, $s, $m, $at)"
            [ "$t", box trial; "$a", box attempt; "$w", box worker; "$s", box (TrialState.name state); "$m", box message; "$at", box (stamp at) ]
        |> ignore

    /// The fence of every write a worker makes under a claim.
    let fence = "id = $id AND worker = $worker AND attempt = $attempt AND state = 'running'"

    let fenceParameters (claim: Claim) =
        [ "$id", box claim.Trial.Id; "$worker", box claim.Worker; "$attempt", box claim.Attempt ]

/// A study's trials in one SQLite file. One instance holds one connection, used by one thread at a time (a
/// lock serialises a worker's heartbeat thread and its main thread); other processes open their own.
type TrialStore private (path: string, connection: SqliteConnection, study: Study) =
    let gate = obj ()
    let locked work = lock gate work

    let trialById id =
        Sql.trials connection "WHERE id = $id" [ "$id", box id ] |> List.tryHead |> Option.map fst

    /// Inserts a candidate as trial number n+1; the caller holds the write lock.
    let insert (candidate: Candidate) (state: TrialState) (worker: string option) (now: DateTimeOffset) =
        let number = Sql.scalar connection "SELECT COALESCE(MAX(number), 0) + 1 FROM trials WHERE study = $s" [ "$s", box study.Name ] :?> int64
        let running = state = Running
        let id =
            Sql.scalar
                connection
                "INSERT INTO trials (study, number, architecture, fingerprint, decisions, epochs_asked, parameters, macs,
                   receptive_field, state, attempt, worker, heartbeat, seed, message, started, ended)
                 VALUES ($s, $n, $arch, $fp, $dec, $ep, $par, $macs, $rf, $state, $attempt, $worker, $beat, $seed, $msg, $started, $ended)
                 RETURNING id"
                [ "$s", box study.Name; "$n", box number; "$arch", box candidate.Architecture; "$fp", box candidate.Fingerprint
                  "$dec", box candidate.Decisions; "$ep", box candidate.Epochs; "$par", box candidate.Parameters; "$macs", box candidate.Macs
                  "$rf", box candidate.ReceptiveField; "$state", box (TrialState.name state); "$attempt", box (if running then 1 else 0)
                  "$worker", box worker; "$beat", box (if running then Some (Sql.stamp now) else None)
                  // Each trial's seed differs and is reproducible from the study's.
                  "$seed", box (study.Seed + int number); "$msg", box candidate.Rejection
                  "$started", box (if running then Some (Sql.stamp now) else None)
                  "$ended", box (if state = Rejected then Some (Sql.stamp now) else None) ]
            :?> int64
        if state = Rejected then Sql.audit connection id 0 None Rejected candidate.Rejection now
        (trialById id).Value

    let byFingerprint (fingerprint: string) =
        Sql.trials connection "WHERE study = $s AND fingerprint = $fp" [ "$s", box study.Name; "$fp", box fingerprint ]
        |> List.tryHead
        |> Option.map fst

    /// Ends the attempts of running trials (id, attempt, worker) that nobody will finish: back to Waiting with
    /// their epochs cleared, or Failed when their attempts are spent. The caller holds the write lock.
    let requeue (reason: string) (rows: (int64 * int * string option) list) =
        let now = DateTimeOffset.UtcNow
        rows
        |> List.sumBy (fun (id, attempt, worker) ->
            let state = if attempt >= study.MaxAttempts then Failed else Waiting
            let changed =
                Sql.execute
                    connection
                    "UPDATE trials SET state = $state, message = $msg, ended = $ended, heartbeat = NULL
                     WHERE id = $id AND attempt = $attempt AND state = 'running'"
                    [ "$state", box (TrialState.name state); "$msg", box (Some reason)
                      "$ended", box (if state = Failed then Some (Sql.stamp now) else None); "$id", box id; "$attempt", box attempt ]
            if changed = 1 then
                if state = Waiting then Sql.execute connection "DELETE FROM epochs WHERE trial = $id" [ "$id", box id ] |> ignore
                Sql.audit connection id attempt worker state (Some reason) now
            changed)

    let runningRows where parameters =
        Sql.rows connection $"SELECT id, attempt, worker FROM trials WHERE study = $s AND state = 'running' {where}" (("$s", box study.Name) :: parameters) (fun r ->
            r.GetInt64 0, r.GetInt32 1, Sql.text r 2)

    static let connect (path: string) (mode: SqliteOpenMode) =
        let builder = SqliteConnectionStringBuilder(DataSource = path, Mode = mode, Pooling = false, DefaultTimeout = 60)
        let connection = new SqliteConnection(builder.ToString())
        connection.Open()
        // busy_timeout first: switching to WAL itself needs a lock another process may hold. A waiting writer
        // then sleeps instead of failing with "database is locked".
        Sql.execute connection "PRAGMA busy_timeout = 60000" [] |> ignore
        Sql.scalar connection "PRAGMA journal_mode = WAL" [] |> ignore
        // NORMAL is durable against a killed process in WAL mode; only a power cut may lose the last commits.
        Sql.execute connection "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON" [] |> ignore
        connection

    static let readStudy (path: string) connection =
        let version = Sql.rows connection "SELECT version FROM schema_version" [] (fun r -> r.GetInt32 0)
        match version with
        | [ v ] when v = Schema.version ->
            match Sql.rows connection "SELECT settings FROM studies" [] (fun r -> r.GetString 0) with
            | [ settings ] -> StudyJson.read settings |> Result.mapError (fun e -> $"{path}: {e}")
            | rows -> Error $"{path}: expected one study, found {rows.Length}"
        | [ v ] -> Error $"{path}: schema version {v}, this receptor reads version {Schema.version}"
        | _ -> Error $"{path}: not a trial store (no schema version)"

    static let validate (study: Study) =
        if String.IsNullOrWhiteSpace study.Name then Error "a study needs a name"
        elif study.Budget < 1 then Error $"study '{study.Name}': the budget must be at least 1, got {study.Budget}"
        elif study.MaxAttempts < 1 then Error $"study '{study.Name}': max attempts must be at least 1, got {study.MaxAttempts}"
        elif study.TrialSeconds |> Option.exists (fun s -> s <= 0.0) then Error $"study '{study.Name}': the trial time must be positive"
        else Ok study

    static let guard (path: string) (work: unit -> Result<'T, string>) =
        try work ()
        with :? SqliteException as e -> Error $"{path}: {e.Message}"

    member _.Path = path
    member _.Study = study

    /// Opens an existing study's file.
    /// Rejected candidates a study may record per trial of its budget before it stops proposing.
    static member RejectionsPerTrial = 20

    static member Open(path: string) : Result<TrialStore, string> =
        if not (File.Exists path) then Error $"no study at {path}"
        else
            guard path (fun () ->
                let connection = connect path SqliteOpenMode.ReadWrite
                match readStudy path connection with
                | Ok study -> Ok (new TrialStore(path, connection, study))
                | Error e ->
                    connection.Dispose()
                    Error e)

    /// Creates the study's file, or opens it when it already holds this study with the same settings.
    static member Create(path: string, study: Study) : Result<TrialStore, string> =
        validate study
        |> Result.bind (fun study ->
            guard path (fun () ->
                let connection = connect path SqliteOpenMode.ReadWriteCreate
                let stored =
                    Sql.immediate connection (fun () ->
                        for table in Schema.tables Schema.sqliteId do
                            Sql.execute connection table [] |> ignore
                        if Sql.scalar connection "SELECT COUNT(*) FROM schema_version" [] :?> int64 = 0L then
                            Sql.execute connection "INSERT INTO schema_version (version) VALUES ($v)" [ "$v", box Schema.version ] |> ignore
                            Sql.execute
                                connection
                                "INSERT INTO studies (name, settings, created) VALUES ($n, $s, $c)"
                                [ "$n", box study.Name; "$s", box (StudyJson.write study); "$c", box (Sql.stamp study.Created) ]
                            |> ignore
                        readStudy path connection)
                match stored with
                | Ok existing when { existing with Created = study.Created } = study -> Ok (new TrialStore(path, connection, existing))
                | Ok existing ->
                    connection.Dispose()
                    Error $"{path} already holds study '{existing.Name}' with other settings:\n{StudyJson.write existing}"
                | Error e ->
                    connection.Dispose()
                    Error e))

    /// Adds a candidate to the queue: Waiting, or Rejected with its reason. A network the study already holds
    /// is not added again: its trial is returned.
    member _.Enqueue(candidate: Candidate) : Trial =
        locked (fun () ->
            Sql.immediate connection (fun () ->
                match byFingerprint candidate.Fingerprint with
                | Some existing -> existing
                | None -> insert candidate (if candidate.Rejection.IsSome then Rejected else Waiting) None DateTimeOffset.UtcNow))

    /// A strategy's candidate, inserted and claimed by `worker` in one transaction while the study has fewer
    /// evaluated trials than its budget: workers proposing at once never overshoot it. Rejected candidates cost
    /// no training and do not count, up to rejectionsPerTrial times the budget (a space whose candidates the
    /// constraints almost always refuse is spent then).
    member _.Propose(worker: string, candidate: Candidate) : Proposal =
        locked (fun () ->
            Sql.immediate connection (fun () ->
                let count state =
                    Sql.scalar connection "SELECT COUNT(*) FROM trials WHERE study = $s AND (state = 'rejected') = $r" [ "$s", box study.Name; "$r", box state ] :?> int64
                if count false >= int64 study.Budget || count true >= int64 (TrialStore.RejectionsPerTrial * study.Budget) then BudgetSpent
                else
                    match byFingerprint candidate.Fingerprint with
                    | Some existing -> Duplicate existing
                    | None when candidate.Rejection.IsSome -> Recorded (insert candidate Rejected None DateTimeOffset.UtcNow)
                    | None ->
                        let trial = insert candidate Running (Some worker) DateTimeOffset.UtcNow
                        Claimed { Trial = trial; Worker = worker; Attempt = trial.Attempt }))

    /// Claims the oldest waiting trial in one statement, so two workers never claim the same one.
    member _.Claim(worker: string) : Claim option =
        locked (fun () ->
            let now = Sql.stamp DateTimeOffset.UtcNow
            let claimed =
                Sql.rows
                    connection
                    "UPDATE trials SET state = 'running', attempt = attempt + 1, worker = $w, heartbeat = $now, started = $now,
                       ended = NULL, wall_seconds = NULL, cpu_seconds = NULL
                     WHERE id = (SELECT id FROM trials WHERE study = $s AND state = 'waiting' ORDER BY number LIMIT 1)
                       AND state = 'waiting'
                     RETURNING id, attempt"
                    [ "$w", box worker; "$now", box now; "$s", box study.Name ]
                    (fun r -> r.GetInt64 0, r.GetInt32 1)
            match claimed with
            | [ id, attempt ] ->
                trialById id |> Option.map (fun trial -> { Trial = trial; Worker = worker; Attempt = attempt })
            | _ -> None)

    /// Shows the claim's worker alive; false when the claim was fenced out (reaped, deleted, rerun).
    member _.Heartbeat(claim: Claim) : bool =
        locked (fun () ->
            let now = box (Sql.stamp DateTimeOffset.UtcNow)
            Sql.execute connection "UPDATE workers SET heartbeat = $now WHERE id = $worker" [ "$now", now; "$worker", box claim.Worker ] |> ignore
            Sql.execute connection $"UPDATE trials SET heartbeat = $now WHERE {Sql.fence}" (("$now", now) :: Sql.fenceParameters claim) = 1)

    /// Records one epoch's metrics under the claim (and beats its heartbeat); false when fenced out.
    member _.RecordEpoch(claim: Claim, metrics: EpochMetrics) : bool =
        locked (fun () ->
            Sql.immediate connection (fun () ->
                let now = box (Sql.stamp DateTimeOffset.UtcNow)
                let held = Sql.execute connection $"UPDATE trials SET heartbeat = $now WHERE {Sql.fence}" (("$now", now) :: Sql.fenceParameters claim) = 1
                if held then Sql.upsertEpoch connection claim.Trial.Id metrics
                held))

    /// Ends the claimed attempt: Completed → Finished, Divergence → Diverged, OutOfTime → TimedOut, Failure →
    /// Waiting again while attempts remain, else Failed. False when fenced out (nothing written).
    member _.Finish(claim: Claim, outcome: Outcome, usage: Usage) : bool =
        locked (fun () ->
            Sql.immediate connection (fun () ->
                let now = DateTimeOffset.UtcNow
                let state, epochs, message =
                    match outcome with
                    | Completed epochs -> Finished, epochs, None
                    | Divergence (epochs, reason) -> Diverged, epochs, Some reason
                    | OutOfTime epochs -> TimedOut, epochs, Some $"out of time ({study.TrialSeconds |> Option.defaultValue 0.0} s)"
                    | Failure message -> (if claim.Attempt < study.MaxAttempts then Waiting else Failed), [], Some message
                let held =
                    Sql.execute
                        connection
                        $"UPDATE trials SET state = $state, message = COALESCE($msg, message), ended = $ended, heartbeat = NULL,
                            wall_seconds = $wall, cpu_seconds = $cpu, device = $device
                          WHERE {Sql.fence}"
                        ([ "$state", box (TrialState.name state); "$msg", box message
                           "$ended", box (if state = Waiting then None else Some (Sql.stamp now))
                           "$wall", box usage.WallSeconds; "$cpu", box usage.CpuSeconds; "$device", box usage.Device ]
                         @ Sql.fenceParameters claim) = 1
                if held then
                    if state = Waiting then Sql.execute connection "DELETE FROM epochs WHERE trial = $id" [ "$id", box claim.Trial.Id ] |> ignore
                    else epochs |> List.iter (Sql.upsertEpoch connection claim.Trial.Id)
                    Sql.audit connection claim.Trial.Id claim.Attempt (Some claim.Worker) state message now
                held))

    /// Running trials whose heartbeat is older than `olderThan` go back to Waiting (Failed when their attempts
    /// are spent); how many.
    member _.Reap(olderThan: TimeSpan) : int =
        locked (fun () ->
            let threshold = box (Sql.stamp (DateTimeOffset.UtcNow - olderThan))
            // A read first: the common case, nothing stale, takes no write lock.
            if (runningRows "AND heartbeat < $t" [ "$t", threshold ]).IsEmpty then 0
            else
                Sql.immediate connection (fun () ->
                    runningRows "AND heartbeat < $t" [ "$t", threshold ]
                    |> requeue $"re-queued: no heartbeat for {olderThan.TotalSeconds} s"))

    /// The running trials of these workers (known dead) are re-queued at once, whatever their heartbeat.
    member _.ReapWorkers(workers: string list) : int =
        locked (fun () ->
            Sql.immediate connection (fun () ->
                runningRows "" []
                |> List.filter (fun (_, _, w) -> w |> Option.exists (fun w -> List.contains w workers))
                |> requeue "re-queued: its worker process is gone"))

    /// Records a worker joining the study (or rejoining under the same id).
    member _.RegisterWorker(id: string, host: string, pid: int) =
        locked (fun () ->
            let now = box (Sql.stamp DateTimeOffset.UtcNow)
            Sql.execute
                connection
                "INSERT INTO workers (id, host, pid, started, heartbeat) VALUES ($id, $host, $pid, $now, $now)
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, heartbeat = excluded.heartbeat"
                [ "$id", box id; "$host", box host; "$pid", box pid; "$now", now ]
            |> ignore)

    member _.Workers() : WorkerInfo list =
        locked (fun () ->
            Sql.rows connection "SELECT id, host, pid, started, heartbeat FROM workers ORDER BY started" [] (fun r ->
                { Id = r.GetString 0
                  Host = r.GetString 1
                  Pid = r.GetInt32 2
                  Started = Sql.parseStamp (r.GetString 3)
                  Heartbeat = Sql.parseStamp (r.GetString 4) }))

    /// Every trial in proposal order.
    member _.Trials() : Trial list =
        locked (fun () -> Sql.trials connection "WHERE study = $s ORDER BY number" [ "$s", box study.Name ] |> List.map fst)

    member _.Trial(id: int64) : Trial option = locked (fun () -> trialById id)

    /// The running trials with their last heartbeat.
    member _.Running() : (Trial * DateTimeOffset) list =
        locked (fun () ->
            Sql.trials connection "WHERE study = $s AND state = 'running' ORDER BY number" [ "$s", box study.Name ]
            |> List.choose (fun (t, beat) -> beat |> Option.map (fun b -> t, b)))

    /// How many trials are in each state (every state, zeros included).
    member _.Counts() : (TrialState * int) list =
        locked (fun () ->
            let found =
                Sql.rows connection "SELECT state, COUNT(*) FROM trials WHERE study = $s GROUP BY state" [ "$s", box study.Name ] (fun r ->
                    r.GetString 0, r.GetInt32 1)
                |> Map.ofList
            TrialState.all |> List.map (fun s -> s, found |> Map.tryFind (TrialState.name s) |> Option.defaultValue 0))

    /// How many times each trial ended in `state` (the audit of ended attempts), by trial id.
    member _.Endings(state: TrialState) : Map<int64, int> =
        locked (fun () ->
            Sql.rows connection "SELECT trial, COUNT(*) FROM attempts WHERE state = $s GROUP BY trial" [ "$s", box (TrialState.name state) ] (fun r ->
                r.GetInt64 0, r.GetInt32 1)
            |> Map.ofList)

    /// An ended trial back to Waiting with fresh attempts and its epochs cleared.
    member _.Rerun(id: int64) : Result<Trial, string> =
        locked (fun () ->
            Sql.immediate connection (fun () ->
                match trialById id with
                | None -> Error $"{path}: no trial {id}"
                | Some t when t.State = Rejected -> Error $"{path}: trial {id} was rejected before training ({t.Message |> Option.defaultValue String.Empty}); it cannot run"
                | Some t when not (TrialState.isEnded t.State) -> Error $"{path}: trial {id} is {TrialState.name t.State}, not ended"
                | Some _ ->
                    Sql.execute connection "DELETE FROM epochs WHERE trial = $id" [ "$id", box id ] |> ignore
                    Sql.execute
                        connection
                        "UPDATE trials SET state = 'waiting', attempt = 0, worker = NULL, heartbeat = NULL, message = NULL, device = NULL,
                           started = NULL, ended = NULL, wall_seconds = NULL, cpu_seconds = NULL WHERE id = $id"
                        [ "$id", box id ]
                    |> ignore
                    Ok (trialById id).Value))

    /// Removes a trial, its epochs and its audit; a worker still running it is fenced out.
    member _.Delete(id: int64) : Result<unit, string> =
        locked (fun () ->
            if Sql.execute connection "DELETE FROM trials WHERE id = $id" [ "$id", box id ] = 1 then Ok ()
            else Error $"{path}: no trial {id}")

    /// The best `n` finished trials by their best validation accuracy, ties to fewer MACs.
    member _.Leaderboard(n: int) : Trial list =
        locked (fun () ->
            let ids =
                Sql.rows
                    connection
                    "SELECT t.id FROM trials t LEFT JOIN epochs e ON e.trial = t.id
                     WHERE t.study = $s AND t.state = 'finished'
                     GROUP BY t.id, t.macs, t.number
                     ORDER BY MAX(e.validation_accuracy) DESC NULLS LAST, t.macs, t.number
                     LIMIT $n"
                    [ "$s", box study.Name; "$n", box n ]
                    (fun r -> r.GetInt64 0)
            ids |> List.choose trialById)

    interface IDisposable with
        member _.Dispose() = locked (fun () -> connection.Dispose())
