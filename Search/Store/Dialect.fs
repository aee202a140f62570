/// What differs between SQLite and PostgreSQL for the trial store; the rest is the SQL they share (named
/// parameters spelt @name, INSERT … RETURNING, ON CONFLICT … DO UPDATE, NULLS LAST).
namespace Receptor.Search

open System
open System.Data.Common
open System.IO
open System.Net.Sockets
open Microsoft.Data.Sqlite
open Npgsql

type Dialect =
    { Name: string
      /// The trials' auto-numbered primary key.
      IdColumn: string
      /// The database's clock as text, UTC ISO-8601 with seven fractional digits (as Stamp.format writes):
      /// leases and heartbeats are read and written on the one clock all workers share.
      Now: string
      /// The database's clock @ago seconds ago, in the same text.
      Ago: string
      /// Appended to the sub-select that picks the trial to claim: rows another claim holds are skipped.
      SkipLocked: string
      /// Statements that open a write transaction serialised against the study's other writers (proposals
      /// must not overshoot the budget): SQLite's BEGIN IMMEDIATE takes the whole file; PostgreSQL locks the
      /// study's row (@s).
      Begin: DbConnection -> DbTransaction
      LockStudy: string option
      /// Taken around creating or migrating the tables, which two processes may do at once.
      LockSchema: string option
      /// Whether an exception is the connection's (server restarted, network cut): the operation is retried
      /// on a new connection.
      IsTransient: exn -> bool }

module Dialect =
    let sqlite =
        { Name = "sqlite"
          IdColumn = "INTEGER PRIMARY KEY"
          Now = "strftime('%Y-%m-%dT%H:%M:%f0000Z', 'now')"
          Ago = "strftime('%Y-%m-%dT%H:%M:%f0000Z', 'now', printf('-%.6f seconds', @ago))"
          SkipLocked = ""
          Begin = fun c -> (c :?> SqliteConnection).BeginTransaction(deferred = false) :> DbTransaction
          LockStudy = None
          LockSchema = None
          // One file on one machine: busy waits are the busy timeout's, nothing else is worth a retry.
          IsTransient = fun _ -> false }

    let private pgStamp (time: string) = $"to_char(({time}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"0Z\"')"

    let rec private transient (e: exn) =
        match e with
        | :? PostgresException as p ->
            // Connection failures (08), the server shutting down or starting (57P01–57P03), too many
            // connections (53300).
            p.SqlState.StartsWith "08" || p.SqlState.StartsWith "57P" || p.SqlState = "53300"
        | :? NpgsqlException as n -> n.IsTransient || (not (isNull n.InnerException) && transient n.InnerException)
        | :? SocketException | :? IOException | :? TimeoutException -> true
        // A command on a connection that broke underneath.
        | :? InvalidOperationException as i -> i.Message.Contains("connection", StringComparison.OrdinalIgnoreCase)
        | _ -> false

    let postgres =
        { Name = "postgres"
          IdColumn = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
          Now = pgStamp "clock_timestamp()"
          Ago = pgStamp "clock_timestamp() - make_interval(secs => @ago)"
          SkipLocked = " FOR UPDATE SKIP LOCKED"
          Begin = fun c -> c.BeginTransaction()
          LockStudy = Some "SELECT name FROM studies WHERE name = @s FOR UPDATE"
          LockSchema = Some "SELECT pg_advisory_xact_lock(7267387)"
          IsTransient = transient }
