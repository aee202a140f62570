/// The trial store's tables. Written in the SQL that SQLite and PostgreSQL share (TEXT, INTEGER, DOUBLE
/// PRECISION, ISO-8601 UTC time stamps as text, which sort as they compare), so both stores create the same
/// tables; only the trial id's auto-numbering differs between the two.
module Receptor.Search.Schema

/// The tables as version 1 created them, in creation order; `idColumn` is the dialect's auto-numbered primary
/// key. Later versions change them only through `migrations`, so an old store and a new one end alike.
let tables (idColumn: string) =
    [ "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
      // One row per study; `settings` is the study's JSON (StudyJson).
      "CREATE TABLE IF NOT EXISTS studies (
          name TEXT PRIMARY KEY,
          settings TEXT NOT NULL,
          created TEXT NOT NULL)"
      $"CREATE TABLE IF NOT EXISTS trials (
          id {idColumn},
          study TEXT NOT NULL REFERENCES studies(name),
          number INTEGER NOT NULL,
          architecture TEXT NOT NULL,
          fingerprint TEXT NOT NULL,
          decisions TEXT NOT NULL,
          epochs_asked INTEGER NOT NULL,
          parameters BIGINT NOT NULL,
          macs BIGINT NOT NULL,
          receptive_field INTEGER NOT NULL,
          state TEXT NOT NULL,
          attempt INTEGER NOT NULL,
          worker TEXT,
          heartbeat TEXT,
          seed INTEGER NOT NULL,
          message TEXT,
          device TEXT,
          started TEXT,
          ended TEXT,
          wall_seconds DOUBLE PRECISION,
          cpu_seconds DOUBLE PRECISION,
          UNIQUE (study, number),
          UNIQUE (study, fingerprint))"
      "CREATE INDEX IF NOT EXISTS trials_by_state ON trials (study, state, number)"
      "CREATE TABLE IF NOT EXISTS epochs (
          trial BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
          epoch INTEGER NOT NULL,
          validation_accuracy DOUBLE PRECISION NOT NULL,
          validation_loss DOUBLE PRECISION NOT NULL,
          training_loss DOUBLE PRECISION NOT NULL,
          PRIMARY KEY (trial, epoch))"
      "CREATE TABLE IF NOT EXISTS workers (
          id TEXT PRIMARY KEY,
          host TEXT NOT NULL,
          pid INTEGER NOT NULL,
          started TEXT NOT NULL,
          heartbeat TEXT NOT NULL)"
      // One row for every attempt that ended (finished, failed, re-queued by a reaper, …): the audit that shows
      // no trial was finished twice. Kept when a trial is rerun; gone with the trial when it is deleted.
      "CREATE TABLE IF NOT EXISTS attempts (
          trial BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
          attempt INTEGER NOT NULL,
          worker TEXT,
          state TEXT NOT NULL,
          message TEXT,
          at TEXT NOT NULL)" ]

/// The statements that take a store from the version before to this one, in order. A store is migrated when
/// opened by a newer receptor; a store of a version above the last is refused, never misread.
let migrations: (int * string list) list =
    [ // Workers of many studies share a PostgreSQL database; each records where its trials run.
      2, [ "ALTER TABLE workers ADD COLUMN study TEXT"; "ALTER TABLE workers ADD COLUMN device TEXT" ] ]

/// The version this receptor writes.
let version = migrations |> List.map fst |> List.fold max 1
