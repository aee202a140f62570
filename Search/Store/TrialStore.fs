/// The trial store: a study's trials in SQLite (one machine; WAL mode, shared by worker processes) or in
/// PostgreSQL (many machines around one server), through the same SQL. Proposal and claim are atomic, leases
/// and heartbeats run on the database's clock, and every write of a worker is fenced by its claim (trial,
/// worker, attempt, state 'running'), so a worker presumed dead can no longer change a trial that was handed to
/// another. A connection lost to a server restart is reopened with backoff and the operation retried.
namespace Receptor.Search

open System
open System.Data.Common
open System.Globalization
open System.Threading
open Microsoft.Data.Sqlite
open Npgsql

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
      Device: string option
      Started: DateTimeOffset
      Heartbeat: DateTimeOffset }

module private Sql =
    /// UTC ISO-8601 with a fixed width, so that text order is time order (the dialects' Now writes the same).
    let stamp (t: DateTimeOffset) = t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture)

    let parseStamp (text: string) =
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal ||| DateTimeStyles.AdjustToUniversal)

    let private value (v: obj) =
        match v with
        | null -> box DBNull.Value
        | :? (string option) as s -> s |> Option.map box |> Option.defaultValue (box DBNull.Value)
        | :? (float option) as f -> f |> Option.map box |> Option.defaultValue (box DBNull.Value)
        | v -> v

    let command (connection: DbConnection) (sql: string) (parameters: (string * obj) list) =
        let c = connection.CreateCommand()
        c.CommandText <- sql
        for name, v in parameters do
            let p = c.CreateParameter()
            p.ParameterName <- name
            p.Value <- value v
            c.Parameters.Add p |> ignore
        c

    let execute connection sql parameters =
        use c = command connection sql parameters
        c.ExecuteNonQuery()

    let scalar connection sql parameters =
        use c = command connection sql parameters
        c.ExecuteScalar()

    /// A count or a number, whichever integer type the database answers with.
    let integer connection sql parameters = Convert.ToInt64(scalar connection sql parameters, CultureInfo.InvariantCulture)

    let rows connection sql parameters (read: DbDataReader -> 'T) =
        use c = command connection sql parameters
        use r = c.ExecuteReader()
        [ while r.Read() do
              read r ]

    let text (r: DbDataReader) i = if r.IsDBNull i then None else Some (r.GetString i)
    let number (r: DbDataReader) i = if r.IsDBNull i then None else Some (r.GetDouble i)
    let int32 (r: DbDataReader) i = Convert.ToInt32(r.GetValue i, CultureInfo.InvariantCulture)
    let int64 (r: DbDataReader) i = Convert.ToInt64(r.GetValue i, CultureInfo.InvariantCulture)

    let trialColumns =
        "id, study, number, architecture, fingerprint, decisions, epochs_asked, parameters, macs, receptive_field, "
        + "state, attempt, worker, seed, message, device, started, ended, wall_seconds, cpu_seconds, heartbeat"

    let readEpoch (r: DbDataReader) =
        int64 r 0,
        { Epoch = int32 r 1
          ValidationAccuracy = r.GetDouble 2
          ValidationLoss = r.GetDouble 3
          TrainingLoss = r.GetDouble 4 }

    /// A trial row (`trialColumns`) with its epochs, and its heartbeat.
    let readTrial (epochs: int64 -> EpochMetrics list) (r: DbDataReader) =
        let id = int64 r 0
        { Id = id
          Study = r.GetString 1
          Number = int32 r 2
          Candidate =
            { Architecture = r.GetString 3
              Fingerprint = r.GetString 4
              Decisions = r.GetString 5
              Epochs = int32 r 6
              Parameters = int64 r 7
              Macs = int64 r 8
              ReceptiveField = int32 r 9
              Rejection = None }
          State = TrialState.parse (r.GetString 10) |> Option.defaultValue Failed
          Attempt = int32 r 11
          Worker = text r 12
          Seed = int32 r 13
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
            "INSERT INTO epochs (trial, epoch, validation_accuracy, validation_loss, training_loss) VALUES (@t, @e, @a, @vl, @tl)
             ON CONFLICT (trial, epoch) DO UPDATE SET validation_accuracy = excluded.validation_accuracy,
               validation_loss = excluded.validation_loss, training_loss = excluded.training_loss"
            [ "@t", box trial; "@e", box m.Epoch; "@a", box m.ValidationAccuracy; "@vl", box m.ValidationLoss; "@tl", box m.TrainingLoss ]
        |> ignore

    /// The fence of every write a worker makes under a claim.
    let fence = "id = @id AND worker = @worker AND attempt = @attempt AND state = 'running'"

    let fenceParameters (claim: Claim) =
        [ "@id", box claim.Trial.Id; "@worker", box claim.Worker; "@attempt", box claim.Attempt ]

/// A connection that comes back: a transient failure (the server restarting, the network cut) closes it, and
/// the work is tried again on a new one after a pause that doubles up to 5 s, for up to `patience`.
type private Link(dialect: Dialect, connect: unit -> DbConnection, patience: TimeSpan) =
    let mutable connection: DbConnection option = None
    let mutable log: string -> unit = ignore

    member _.Log with set (value: string -> unit) = log <- value

    member _.Dialect = dialect

    /// `work retried connection`: `retried` is true when an earlier try may have been cut after committing.
    member _.Run(work: bool -> DbConnection -> 'T) : 'T =
        let started = Diagnostics.Stopwatch.StartNew()
        let rec attempt retried (pause: TimeSpan) =
            let outcome =
                try
                    let c =
                        match connection with
                        | Some c -> c
                        | None ->
                            let c = connect ()
                            connection <- Some c
                            c
                    Ok (work retried c)
                with e when dialect.IsTransient e && started.Elapsed < patience ->
                    connection |> Option.iter (fun c -> try c.Dispose() with _ -> ())
                    connection <- None
                    Error e
            match outcome with
            | Ok result -> result
            | Error e ->
                log $"store connection lost ({e.GetType().Name}: {e.Message}); retrying in {pause.TotalSeconds:F1} s"
                Thread.Sleep pause
                attempt true (TimeSpan.FromTicks(min (pause.Ticks * 2L) (TimeSpan.FromSeconds 5.0).Ticks))
        attempt false (TimeSpan.FromMilliseconds 100.0)

    /// A write transaction (serialised against the study's other writers where `study` is given).
    member this.Write(study: string option, work: bool -> DbConnection -> 'T) : 'T =
        this.Run(fun retried c ->
            use transaction = dialect.Begin c
            match dialect.LockStudy, study with
            | Some sql, Some name -> Sql.execute c sql [ "@s", box name ] |> ignore
            | _ -> ()
            let result = work retried c
            transaction.Commit()
            result)

    interface IDisposable with
        member _.Dispose() = connection |> Option.iter (fun c -> c.Dispose())

/// A study's trials in a store. One instance holds one connection, used by one thread at a time (a lock
/// serialises a worker's heartbeat thread and its main thread); other processes open their own.
type TrialStore private (storage: Storage, link: Link, study: Study) =
    let gate = obj ()
    let locked work = lock gate work
    let d = link.Dialect
    let name = Storage.describe storage

    let trialById c id =
        Sql.trials c "WHERE id = @id" [ "@id", box id ] |> List.tryHead |> Option.map fst

    let audit c (trial: int64) (attempt: int) (worker: string option) (state: TrialState) (message: string option) =
        Sql.execute
            c
            $"INSERT INTO attempts (trial, attempt, worker, state, message, at) VALUES (@t, @a, @w, @st, @m, {d.Now})"
            [ "@t", box trial; "@a", box attempt; "@w", box worker; "@st", box (TrialState.name state); "@m", box message ]
        |> ignore

    /// Inserts a candidate as trial number n+1; the caller holds the study's write lock.
    let insert c (candidate: Candidate) (state: TrialState) (worker: string option) =
        let number = Sql.integer c "SELECT COALESCE(MAX(number), 0) + 1 FROM trials WHERE study = @s" [ "@s", box study.Name ]
        let running = state = Running
        let stampIf condition = if condition then d.Now else "NULL"
        let id =
            Sql.integer
                c
                $"INSERT INTO trials (study, number, architecture, fingerprint, decisions, epochs_asked, parameters, macs,
                   receptive_field, state, attempt, worker, heartbeat, seed, message, started, ended)
                 VALUES (@s, @n, @arch, @fp, @dec, @ep, @par, @macs, @rf, @state, @attempt, @worker, {stampIf running}, @seed, @msg,
                   {stampIf running}, {stampIf (state = Rejected)})
                 RETURNING id"
                [ "@s", box study.Name; "@n", box (int number); "@arch", box candidate.Architecture; "@fp", box candidate.Fingerprint
                  "@dec", box candidate.Decisions; "@ep", box candidate.Epochs; "@par", box candidate.Parameters; "@macs", box candidate.Macs
                  "@rf", box candidate.ReceptiveField; "@state", box (TrialState.name state); "@attempt", box (if running then 1 else 0)
                  "@worker", box worker
                  // Each trial's seed differs and is reproducible from the study's.
                  "@seed", box (study.Seed + int number); "@msg", box candidate.Rejection ]
        if state = Rejected then audit c id 0 None Rejected candidate.Rejection
        (trialById c id).Value

    let byFingerprint c (fingerprint: string) =
        Sql.trials c "WHERE study = @s AND fingerprint = @fp" [ "@s", box study.Name; "@fp", box fingerprint ]
        |> List.tryHead
        |> Option.map fst

    /// Ends the attempts of running trials (id, attempt, worker) that nobody will finish: back to Waiting with
    /// their epochs cleared, or Failed when their attempts are spent. Inside a write transaction.
    let requeue c (reason: string) (rows: (int64 * int * string option) list) =
        rows
        |> List.sumBy (fun (id, attempt, worker) ->
            let state = if attempt >= study.MaxAttempts then Failed else Waiting
            let ended = if state = Failed then d.Now else "NULL"
            let changed =
                Sql.execute
                    c
                    $"UPDATE trials SET state = @state, message = @msg, ended = {ended}, heartbeat = NULL
                      WHERE id = @id AND attempt = @attempt AND state = 'running'"
                    [ "@state", box (TrialState.name state); "@msg", box (Some reason); "@id", box id; "@attempt", box attempt ]
            if changed = 1 then
                if state = Waiting then Sql.execute c "DELETE FROM epochs WHERE trial = @id" [ "@id", box id ] |> ignore
                audit c id attempt worker state (Some reason)
            changed)

    let runningRows c where parameters =
        Sql.rows c $"SELECT id, attempt, worker FROM trials WHERE study = @s AND state = 'running' {where}" (("@s", box study.Name) :: parameters) (fun r ->
            Sql.int64 r 0, Sql.int32 r 1, Sql.text r 2)

    /// Whether this claim's own end (state and message) is already in the audit, written since the claim: a
    /// retried Finish or Release whose first try committed. A reaper's row for the same attempt says otherwise.
    let ended c (claim: Claim) (state: TrialState) (message: string option) =
        let since = claim.Trial.Started |> Option.map Sql.stamp |> Option.defaultValue ""
        Sql.integer
            c
            "SELECT COUNT(*) FROM attempts WHERE trial = @id AND attempt = @attempt AND worker = @worker AND state = @st
               AND COALESCE(message, '') = @m AND at >= @since"
            ([ "@st", box (TrialState.name state); "@m", box (message |> Option.defaultValue ""); "@since", box since ] @ Sql.fenceParameters claim)
        > 0L

    static let connectSqlite (path: string) (mode: SqliteOpenMode) () =
        let builder = SqliteConnectionStringBuilder(DataSource = path, Mode = mode, Pooling = false, DefaultTimeout = 60)
        let connection = new SqliteConnection(builder.ToString())
        try
            connection.Open()
            // busy_timeout first: switching to WAL itself needs a lock another process may hold. A waiting writer
            // then sleeps instead of failing with "database is locked".
            Sql.execute connection "PRAGMA busy_timeout = 60000" [] |> ignore
            Sql.scalar connection "PRAGMA journal_mode = WAL" [] |> ignore
            // NORMAL is durable against a killed process in WAL mode; only a power cut may lose the last commits.
            Sql.execute connection "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON" [] |> ignore
            connection :> DbConnection
        with _ ->
            connection.Dispose()
            reraise ()

    static let connectPostgres (target: PostgresTarget) () =
        let connection = new NpgsqlConnection(target.ConnectionString)
        connection.Open()
        connection :> DbConnection

    /// How long a store keeps trying to reach its database before the operation fails.
    static let patience = TimeSpan.FromMinutes 2.0

    static let linkOf (storage: Storage) (create: bool) =
        match storage.Backend with
        | Sqlite path -> new Link(Dialect.sqlite, connectSqlite path (if create then SqliteOpenMode.ReadWriteCreate else SqliteOpenMode.ReadWrite), patience)
        | Postgres target -> new Link(Dialect.postgres, connectPostgres target, patience)

    /// The store's schema version; None where the database holds no store (no such table). Other failures
    /// (a lost connection) are raised, for the link to retry.
    static let versionOf c =
        let missingTable (e: exn) =
            match e with
            | :? PostgresException as p -> p.SqlState = "42P01"
            | :? SqliteException as s -> s.Message.Contains "no such table"
            | _ -> false
        try Sql.rows c "SELECT version FROM schema_version" [] (fun r -> Sql.int32 r 0) |> List.tryHead
        with e when missingTable e -> None

    static let newer (where: string) (version: int) =
        $"{where}: the store is at schema version {version}, newer than this receptor's {Schema.version}: use a newer receptor"

    /// Creates the tables where they are missing and migrates an older store to this version; refuses a newer
    /// one. Inside a write transaction.
    static let prepareSchema (where: string) (d: Dialect) c =
        d.LockSchema |> Option.iter (fun sql -> Sql.execute c sql [] |> ignore)
        for table in Schema.tables d.IdColumn do
            Sql.execute c table [] |> ignore
        let current =
            match Sql.rows c "SELECT version FROM schema_version" [] (fun r -> Sql.int32 r 0) with
            | [] ->
                Sql.execute c "INSERT INTO schema_version (version) VALUES (1)" [] |> ignore
                1
            | versions -> List.max versions
        if current > Schema.version then Error (newer where current)
        else
            for version, statements in Schema.migrations do
                if version > current then
                    for statement in statements do
                        Sql.execute c statement [] |> ignore
            if current < Schema.version then Sql.execute c "UPDATE schema_version SET version = @v" [ "@v", box Schema.version ] |> ignore
            Ok ()

    static let studyNames c = Sql.rows c "SELECT name FROM studies ORDER BY name" [] (fun r -> r.GetString 0)

    /// The study the storage names, or the store's only one.
    static let readStudy (where: string) (wanted: string option) c =
        let settingsOf name = Sql.rows c "SELECT settings FROM studies WHERE name = @n" [ "@n", box name ] (fun r -> r.GetString 0)
        match wanted, studyNames c with
        | None, [ only ] -> settingsOf only |> List.head |> StudyJson.read |> Result.mapError (fun e -> $"{where}: {e}")
        | None, [] -> Error $"{where}: holds no study"
        | None, names -> Error $"""{where}: holds {names.Length} studies ({String.concat ", " names}); name one as {where}#STUDY"""
        | Some name, names ->
            match settingsOf name with
            | [ settings ] -> StudyJson.read settings |> Result.mapError (fun e -> $"{where}: {e}")
            | _ ->
                let known = if names.IsEmpty then "none" else String.concat ", " names
                Error $"{where}: no study '{name}' (studies: {known})"

    static let validate (study: Study) =
        if String.IsNullOrWhiteSpace study.Name then Error "a study needs a name"
        elif study.Budget < 1 then Error $"study '{study.Name}': the budget must be at least 1, got {study.Budget}"
        elif study.MaxAttempts < 1 then Error $"study '{study.Name}': max attempts must be at least 1, got {study.MaxAttempts}"
        elif study.TrialSeconds |> Option.exists (fun s -> s <= 0.0) then Error $"study '{study.Name}': the trial time must be positive"
        else Ok study

    /// Opens the link and runs `work`; the link is disposed unless a store took it.
    static let withLink (storage: Storage) create (work: Link -> Result<TrialStore, string>) =
        let where = Storage.describe storage
        let link = linkOf storage create
        try
            match work link with
            | Ok store -> Ok store
            | Error e ->
                (link :> IDisposable).Dispose()
                Error e
        with
        | :? DbException as e ->
            (link :> IDisposable).Dispose()
            Error $"{where}: {e.Message}"
        | e when link.Dialect.IsTransient e ->
            (link :> IDisposable).Dispose()
            Error $"{where}: cannot reach the database: {e.Message}"

    member _.Storage = storage
    /// The store as shown to people (no password).
    member _.Location = name
    member _.Study = study
    /// Where the store reports retries after a lost connection.
    member _.Log with set (value: string -> unit) = link.Log <- value

    /// Rejected candidates a study may record per trial of its budget before it stops proposing.
    static member RejectionsPerTrial = 20

    /// Opens an existing study: the one the storage names, or the store's only one.
    static member Open(storage: Storage) : Result<TrialStore, string> =
        let where = Storage.describe storage
        match storage.Backend with
        | Sqlite path when not (IO.File.Exists path) -> Error $"no study at {path}"
        | _ ->
            withLink storage false (fun link ->
                // Asked outside a transaction (PostgreSQL aborts a transaction whose statement failed), and before
                // any statement that writes: a current store is only read, a newer one refused untouched.
                let opened (study: Study) = new TrialStore(Storage.withStudy study.Name storage, link, study)
                match link.Run(fun _ c -> versionOf c) with
                | None -> Error $"{where}: not a trial store (no schema version)"
                | Some v when v > Schema.version -> Error (newer where v)
                | Some v when v = Schema.version -> link.Run(fun _ c -> readStudy where storage.Study c) |> Result.map opened
                | Some _ ->
                    link.Write(None, fun _ c -> prepareSchema where link.Dialect c |> Result.bind (fun () -> readStudy where storage.Study c))
                    |> Result.map opened)

    static member Open(path: string) : Result<TrialStore, string> = TrialStore.Open(Storage.sqlite path)

    /// The names of the studies a store holds (none for a store not yet created).
    static member Names(storage: Storage) : Result<string list, string> =
        match storage.Backend with
        | Sqlite path when not (IO.File.Exists path) -> Ok []
        | _ ->
            let where = Storage.describe storage
            let link = linkOf storage false
            try
                try
                    match link.Run(fun _ c -> versionOf c) with
                    | None -> Ok []
                    | Some _ -> Ok (link.Run(fun _ c -> studyNames c))
                with
                | :? DbException as e -> Error $"{where}: {e.Message}"
                | e when link.Dialect.IsTransient e -> Error $"{where}: cannot reach the database: {e.Message}"
            finally
                (link :> IDisposable).Dispose()

    /// Creates the study in the store (creating the store's tables where needed), or opens it when the store
    /// already holds this study with the same settings.
    static member Create(storage: Storage, study: Study) : Result<TrialStore, string> =
        let where = Storage.describe storage
        validate study
        |> Result.bind (fun study ->
            withLink storage true (fun link ->
                match link.Run(fun _ c -> versionOf c) with
                | Some v when v > Schema.version -> Error (newer where v)
                | _ ->
                link.Write(None, fun _ c ->
                    prepareSchema where link.Dialect c
                    |> Result.bind (fun () ->
                        match Sql.rows c "SELECT settings FROM studies WHERE name = @n" [ "@n", box study.Name ] (fun r -> r.GetString 0) with
                        | [] ->
                            Sql.execute
                                c
                                "INSERT INTO studies (name, settings, created) VALUES (@n, @st, @c)"
                                [ "@n", box study.Name; "@st", box (StudyJson.write study); "@c", box (Sql.stamp study.Created) ]
                            |> ignore
                            Ok study
                        | settings :: _ ->
                            StudyJson.read settings
                            |> Result.mapError (fun e -> $"{where}: {e}")
                            |> Result.bind (fun existing ->
                                if { existing with Created = study.Created } = study then Ok existing
                                else Error $"{where} already holds study '{existing.Name}' with other settings:\n{StudyJson.write existing}")))
                |> Result.map (fun study -> new TrialStore(Storage.withStudy study.Name storage, link, study))))

    static member Create(path: string, study: Study) : Result<TrialStore, string> = TrialStore.Create(Storage.sqlite path, study)

    /// Adds a candidate to the queue: Waiting, or Rejected with its reason. A network the study already holds
    /// is not added again: its trial is returned.
    member _.Enqueue(candidate: Candidate) : Trial =
        locked (fun () ->
            link.Write(Some study.Name, fun _ c ->
                match byFingerprint c candidate.Fingerprint with
                | Some existing -> existing
                | None -> insert c candidate (if candidate.Rejection.IsSome then Rejected else Waiting) None))

    /// A strategy's candidate, inserted and claimed by `worker` in one transaction while the study has fewer
    /// evaluated trials than its budget: workers proposing at once never overshoot it. Rejected candidates cost
    /// no training and do not count, up to rejectionsPerTrial times the budget (a space whose candidates the
    /// constraints almost always refuse is spent then).
    member _.Propose(worker: string, candidate: Candidate) : Proposal =
        locked (fun () ->
            link.Write(Some study.Name, fun retried c ->
                let count rejected =
                    Sql.integer c "SELECT COUNT(*) FROM trials WHERE study = @s AND (state = 'rejected') = @r" [ "@s", box study.Name; "@r", box rejected ]
                match byFingerprint c candidate.Fingerprint with
                // A retry whose first try committed finds its own claim.
                | Some mine when retried && mine.State = Running && mine.Worker = Some worker ->
                    Claimed { Trial = mine; Worker = worker; Attempt = mine.Attempt }
                | _ when count false >= int64 study.Budget || count true >= int64 (TrialStore.RejectionsPerTrial * study.Budget) -> BudgetSpent
                | Some existing -> Duplicate existing
                | None when candidate.Rejection.IsSome -> Recorded (insert c candidate Rejected None)
                | None ->
                    let trial = insert c candidate Running (Some worker)
                    Claimed { Trial = trial; Worker = worker; Attempt = trial.Attempt }))

    /// Claims the oldest waiting trial in one statement, so two workers never claim the same one.
    member _.Claim(worker: string) : Claim option =
        locked (fun () ->
            link.Run(fun retried c ->
                // A retry whose first try committed finds the trial it claimed (a worker runs one at a time).
                let adopted =
                    if retried then
                        Sql.rows c "SELECT id, attempt FROM trials WHERE study = @s AND worker = @w AND state = 'running'" [ "@s", box study.Name; "@w", box worker ] (fun r ->
                            Sql.int64 r 0, Sql.int32 r 1)
                    else []
                let claimed =
                    if not adopted.IsEmpty then adopted
                    else
                        Sql.rows
                            c
                            $"UPDATE trials SET state = 'running', attempt = attempt + 1, worker = @w, heartbeat = {d.Now}, started = {d.Now},
                               ended = NULL, wall_seconds = NULL, cpu_seconds = NULL
                             WHERE id = (SELECT id FROM trials WHERE study = @s AND state = 'waiting' ORDER BY number LIMIT 1{d.SkipLocked})
                               AND state = 'waiting'
                             RETURNING id, attempt"
                            [ "@w", box worker; "@s", box study.Name ]
                            (fun r -> Sql.int64 r 0, Sql.int32 r 1)
                match claimed with
                | (id, attempt) :: _ -> trialById c id |> Option.map (fun trial -> { Trial = trial; Worker = worker; Attempt = attempt })
                | [] -> None))

    /// Shows the claim's worker alive; false when the claim was fenced out (reaped, deleted, rerun).
    member _.Heartbeat(claim: Claim) : bool =
        locked (fun () ->
            link.Run(fun _ c ->
                Sql.execute c $"UPDATE workers SET heartbeat = {d.Now} WHERE id = @worker" [ "@worker", box claim.Worker ] |> ignore
                Sql.execute c $"UPDATE trials SET heartbeat = {d.Now} WHERE {Sql.fence}" (Sql.fenceParameters claim) = 1))

    /// Records one epoch's metrics under the claim (and beats its heartbeat); false when fenced out.
    member _.RecordEpoch(claim: Claim, metrics: EpochMetrics) : bool =
        locked (fun () ->
            link.Write(None, fun _ c ->
                let held = Sql.execute c $"UPDATE trials SET heartbeat = {d.Now} WHERE {Sql.fence}" (Sql.fenceParameters claim) = 1
                if held then Sql.upsertEpoch c claim.Trial.Id metrics
                held))

    /// Ends the claimed attempt: Completed → Finished, Divergence → Diverged, OutOfTime → TimedOut, Failure →
    /// Waiting again while attempts remain, else Failed. False when fenced out (nothing written).
    member _.Finish(claim: Claim, outcome: Outcome, usage: Usage) : bool =
        locked (fun () ->
            link.Write(None, fun retried c ->
                let state, epochs, message =
                    match outcome with
                    | Completed epochs -> Finished, epochs, None
                    | Divergence (epochs, reason) -> Diverged, epochs, Some reason
                    | OutOfTime epochs -> TimedOut, epochs, Some $"out of time ({study.TrialSeconds |> Option.defaultValue 0.0} s)"
                    | Failure message -> (if claim.Attempt < study.MaxAttempts then Waiting else Failed), [], Some message
                let endedAt = if state = Waiting then "NULL" else d.Now
                let held =
                    Sql.execute
                        c
                        $"UPDATE trials SET state = @state, message = COALESCE(@msg, message), ended = {endedAt},
                            heartbeat = NULL, wall_seconds = @wall, cpu_seconds = @cpu, device = @device
                          WHERE {Sql.fence}"
                        ([ "@state", box (TrialState.name state); "@msg", box message
                           "@wall", box usage.WallSeconds; "@cpu", box usage.CpuSeconds; "@device", box usage.Device ]
                         @ Sql.fenceParameters claim) = 1
                if held then
                    if state = Waiting then Sql.execute c "DELETE FROM epochs WHERE trial = @id" [ "@id", box claim.Trial.Id ] |> ignore
                    else epochs |> List.iter (Sql.upsertEpoch c claim.Trial.Id)
                    audit c claim.Trial.Id claim.Attempt (Some claim.Worker) state message
                    true
                else retried && ended c claim state message))

    /// Hands the claimed trial back to the queue unfinished (its worker is stopping): Waiting, epochs cleared,
    /// its attempt not counted, audited as released. False when fenced out.
    member _.Release(claim: Claim, reason: string) : bool =
        locked (fun () ->
            link.Write(None, fun retried c ->
                // The attempt is given back: a trial stopped from outside has not failed. The fence stays sound,
                // since it names the worker too.
                let held =
                    Sql.execute
                        c
                        $"UPDATE trials SET state = 'waiting', attempt = attempt - 1, message = @msg, heartbeat = NULL WHERE {Sql.fence}"
                        (("@msg", box (Some reason)) :: Sql.fenceParameters claim) = 1
                if held then
                    Sql.execute c "DELETE FROM epochs WHERE trial = @id" [ "@id", box claim.Trial.Id ] |> ignore
                    audit c claim.Trial.Id claim.Attempt (Some claim.Worker) Waiting (Some reason)
                    true
                else retried && ended c claim Waiting (Some reason)))

    /// Running trials whose heartbeat is older than `olderThan` on the database's clock go back to Waiting
    /// (Failed when their attempts are spent); how many.
    member _.Reap(olderThan: TimeSpan) : int =
        locked (fun () ->
            let stale c = runningRows c $"AND heartbeat < {d.Ago}" [ "@ago", box olderThan.TotalSeconds ]
            // A read first: the common case, nothing stale, takes no write lock.
            if link.Run(fun _ c -> stale c).IsEmpty then 0
            else link.Write(Some study.Name, fun _ c -> stale c |> requeue c $"re-queued: no heartbeat for {olderThan.TotalSeconds} s"))

    /// The running trials of these workers (known dead) are re-queued at once, whatever their heartbeat.
    member _.ReapWorkers(workers: string list) : int =
        locked (fun () ->
            link.Write(Some study.Name, fun _ c ->
                runningRows c "" []
                |> List.filter (fun (_, _, w) -> w |> Option.exists (fun w -> List.contains w workers))
                |> requeue c "re-queued: its worker process is gone"))

    /// Records a worker joining the study (or rejoining under the same id): where it runs and on what device.
    member _.RegisterWorker(id: string, host: string, pid: int, device: string option) =
        locked (fun () ->
            link.Run(fun _ c ->
                Sql.execute
                    c
                    $"INSERT INTO workers (id, host, pid, started, heartbeat, study, device) VALUES (@id, @host, @pid, {d.Now}, {d.Now}, @s, @device)
                      ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, heartbeat = excluded.heartbeat,
                        study = excluded.study, device = excluded.device"
                    [ "@id", box id; "@host", box host; "@pid", box pid; "@s", box study.Name; "@device", box device ]
                |> ignore))

    /// The study's workers, first joined first.
    member _.Workers() : WorkerInfo list =
        locked (fun () ->
            link.Run(fun _ c ->
                Sql.rows c "SELECT id, host, pid, started, heartbeat, device FROM workers WHERE study = @s ORDER BY started, id" [ "@s", box study.Name ] (fun r ->
                    { Id = r.GetString 0
                      Host = r.GetString 1
                      Pid = Sql.int32 r 2
                      Started = Sql.parseStamp (r.GetString 3)
                      Heartbeat = Sql.parseStamp (r.GetString 4)
                      Device = Sql.text r 5 })))

    /// Every trial in proposal order.
    member _.Trials() : Trial list =
        locked (fun () -> link.Run(fun _ c -> Sql.trials c "WHERE study = @s ORDER BY number" [ "@s", box study.Name ] |> List.map fst))

    member _.Trial(id: int64) : Trial option = locked (fun () -> link.Run(fun _ c -> trialById c id |> Option.filter (fun t -> t.Study = study.Name)))

    /// The running trials with their last heartbeat, and the database's clock now (the heartbeats' clock).
    member _.Running() : (Trial * DateTimeOffset) list * DateTimeOffset =
        locked (fun () ->
            link.Run(fun _ c ->
                let trials =
                    Sql.trials c "WHERE study = @s AND state = 'running' ORDER BY number" [ "@s", box study.Name ]
                    |> List.choose (fun (t, beat) -> beat |> Option.map (fun b -> t, b))
                trials, Sql.parseStamp (string (Sql.scalar c $"SELECT {d.Now}" []))))

    /// How many trials are in each state (every state, zeros included).
    member _.Counts() : (TrialState * int) list =
        locked (fun () ->
            let found =
                link.Run(fun _ c ->
                    Sql.rows c "SELECT state, COUNT(*) FROM trials WHERE study = @s GROUP BY state" [ "@s", box study.Name ] (fun r ->
                        r.GetString 0, Sql.int32 r 1))
                |> Map.ofList
            TrialState.all |> List.map (fun s -> s, found |> Map.tryFind (TrialState.name s) |> Option.defaultValue 0))

    /// How many times each trial ended in `state` (the audit of ended attempts), by trial id.
    member _.Endings(state: TrialState) : Map<int64, int> =
        locked (fun () ->
            link.Run(fun _ c ->
                Sql.rows
                    c
                    "SELECT a.trial, COUNT(*) FROM attempts a JOIN trials t ON t.id = a.trial WHERE t.study = @s AND a.state = @st GROUP BY a.trial"
                    [ "@s", box study.Name; "@st", box (TrialState.name state) ]
                    (fun r -> Sql.int64 r 0, Sql.int32 r 1))
            |> Map.ofList)

    /// An ended trial back to Waiting with fresh attempts and its epochs cleared.
    member _.Rerun(id: int64) : Result<Trial, string> =
        locked (fun () ->
            link.Write(Some study.Name, fun retried c ->
                match trialById c id |> Option.filter (fun t -> t.Study = study.Name) with
                | None -> Error $"{name}: no trial {id}"
                | Some t when t.State = Rejected -> Error $"{name}: trial {id} was rejected before training ({t.Message |> Option.defaultValue String.Empty}); it cannot run"
                // A retry whose first try committed finds the trial as it left it.
                | Some t when retried && t.State = Waiting && t.Attempt = 0 && t.Started.IsNone -> Ok t
                | Some t when not (TrialState.isEnded t.State) -> Error $"{name}: trial {id} is {TrialState.name t.State}, not ended"
                | Some _ ->
                    Sql.execute c "DELETE FROM epochs WHERE trial = @id" [ "@id", box id ] |> ignore
                    Sql.execute
                        c
                        "UPDATE trials SET state = 'waiting', attempt = 0, worker = NULL, heartbeat = NULL, message = NULL, device = NULL,
                           started = NULL, ended = NULL, wall_seconds = NULL, cpu_seconds = NULL WHERE id = @id"
                        [ "@id", box id ]
                    |> ignore
                    Ok (trialById c id).Value))

    /// Removes a trial, its epochs and its audit; a worker still running it is fenced out.
    member _.Delete(id: int64) : Result<unit, string> =
        locked (fun () ->
            // A retry finding nothing to delete follows a first try that deleted it.
            match link.Run(fun retried c -> Sql.execute c "DELETE FROM trials WHERE id = @id AND study = @s" [ "@id", box id; "@s", box study.Name ], retried) with
            | 1, _
            | _, true -> Ok ()
            | _ -> Error $"{name}: no trial {id}")

    /// The best `n` finished trials by their best validation accuracy, ties to fewer MACs.
    member _.Leaderboard(n: int) : Trial list =
        locked (fun () ->
            link.Run(fun _ c ->
                Sql.rows
                    c
                    "SELECT t.id FROM trials t LEFT JOIN epochs e ON e.trial = t.id
                     WHERE t.study = @s AND t.state = 'finished'
                     GROUP BY t.id, t.macs, t.number
                     ORDER BY MAX(e.validation_accuracy) DESC NULLS LAST, t.macs, t.number
                     LIMIT @n"
                    [ "@s", box study.Name; "@n", box n ]
                    (fun r -> Sql.int64 r 0)
                |> List.choose (trialById c)))

    /// Every attempt that ended, in order: (trial number, attempt, worker, state, message, at).
    member _.Attempts() : (int * int * string option * TrialState * string option * DateTimeOffset) list =
        locked (fun () ->
            link.Run(fun _ c ->
                Sql.rows
                    c
                    "SELECT t.number, a.attempt, a.worker, a.state, a.message, a.at FROM attempts a JOIN trials t ON t.id = a.trial
                     WHERE t.study = @s ORDER BY a.at, t.number"
                    [ "@s", box study.Name ]
                    (fun r ->
                        Sql.int32 r 0, Sql.int32 r 1, Sql.text r 2, TrialState.parse (r.GetString 3) |> Option.defaultValue Failed, Sql.text r 4,
                        Sql.parseStamp (r.GetString 5))))

    /// Writes a trial copied from another store (`search copy`) with its epochs and its audit, under its own
    /// number; a trial that was running there waits here (its worker writes to the other store). Skipped
    /// when the study already holds its fingerprint; whether it was written.
    member _.Import(trial: Trial, attempts: (int * string option * TrialState * string option * DateTimeOffset) list) : bool =
        locked (fun () ->
            link.Write(Some study.Name, fun retried c ->
                // A retry finding the network there counts it as this call's: its first try committed.
                if (byFingerprint c trial.Candidate.Fingerprint).IsSome then retried
                else
                    // The target's study may have moved on: a taken number gives way to the next free one.
                    let taken = Sql.integer c "SELECT COUNT(*) FROM trials WHERE study = @s AND number = @n" [ "@s", box study.Name; "@n", box trial.Number ] > 0L
                    let number =
                        if taken then int (Sql.integer c "SELECT COALESCE(MAX(number), 0) + 1 FROM trials WHERE study = @s" [ "@s", box study.Name ])
                        else trial.Number
                    let running = trial.State = Running
                    let stamp (t: DateTimeOffset option) = t |> Option.map Sql.stamp
                    let id =
                        Sql.integer
                            c
                            "INSERT INTO trials (study, number, architecture, fingerprint, decisions, epochs_asked, parameters, macs,
                               receptive_field, state, attempt, worker, seed, message, device, started, ended, wall_seconds, cpu_seconds)
                             VALUES (@s, @n, @arch, @fp, @dec, @ep, @par, @macs, @rf, @state, @attempt, @worker, @seed, @msg, @device,
                               @started, @ended, @wall, @cpu)
                             RETURNING id"
                            [ "@s", box study.Name; "@n", box number; "@arch", box trial.Candidate.Architecture
                              "@fp", box trial.Candidate.Fingerprint; "@dec", box trial.Candidate.Decisions; "@ep", box trial.Candidate.Epochs
                              "@par", box trial.Candidate.Parameters; "@macs", box trial.Candidate.Macs; "@rf", box trial.Candidate.ReceptiveField
                              "@state", box (TrialState.name (if running then Waiting else trial.State)); "@attempt", box trial.Attempt
                              "@worker", box (if running then None else trial.Worker); "@seed", box trial.Seed; "@msg", box trial.Message
                              "@device", box trial.Device; "@started", box (if running then None else stamp trial.Started)
                              "@ended", box (if running then None else stamp trial.Ended)
                              "@wall", box trial.WallSeconds; "@cpu", box trial.CpuSeconds ]
                    if not running then trial.Epochs |> List.iter (Sql.upsertEpoch c id)
                    for attempt, worker, state, message, at in attempts do
                        Sql.execute
                            c
                            "INSERT INTO attempts (trial, attempt, worker, state, message, at) VALUES (@t, @a, @w, @st, @m, @at)"
                            [ "@t", box id; "@a", box attempt; "@w", box worker; "@st", box (TrialState.name state); "@m", box message; "@at", box (Sql.stamp at) ]
                        |> ignore
                    true))

    interface IDisposable with
        member _.Dispose() = locked (fun () -> (link :> IDisposable).Dispose())
