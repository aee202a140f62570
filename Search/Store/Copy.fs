/// `receptor search copy`: a study moved from one store to another with its trials, epochs and audit, as when a
/// study started on a laptop's SQLite file grows onto a PostgreSQL server.
module Receptor.Search.Copy

/// What a copy wrote.
type Copied =
    { Trials: int
      /// Trials the target already held (same fingerprint): left as they were.
      Skipped: int
      /// Trials running in the source: waiting in the target, since their workers write to the source.
      Requeued: int }

/// Copies `source`'s study into `target` (created there with the same settings, or found with them).
let study (source: TrialStore) (target: Storage) : Result<Copied, string> =
    TrialStore.Create(target, source.Study)
    |> Result.bind (fun into ->
        use into = into
        let attempts = source.Attempts() |> List.groupBy (fun (number, _, _, _, _, _) -> number) |> Map.ofList
        try
            let results =
                source.Trials()
                |> List.map (fun trial ->
                    let audit =
                        attempts
                        |> Map.tryFind trial.Number
                        |> Option.defaultValue []
                        |> List.map (fun (_, attempt, worker, state, message, at) -> attempt, worker, state, message, at)
                    into.Import(trial, audit), trial.State = Running)
            Ok
                { Trials = results |> List.filter fst |> List.length
                  Skipped = results |> List.filter (fst >> not) |> List.length
                  Requeued = results |> List.filter (fun (written, running) -> written && running) |> List.length }
        with :? System.Data.Common.DbException as e -> Error $"{into.Location}: {e.Message}")
