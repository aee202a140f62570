/// Where a study's trials live, as a user names it: `sqlite:PATH` (or a plain path) for one machine,
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` for many, or the PostgreSQL connection read from an
/// environment variable (`postgres:env:NAME`) or a file (`postgres:file:PATH`), so that the password stays out
/// of command lines and logs. A trailing `#STUDY` picks one study where the store holds several.
namespace Receptor.Search

open System
open System.IO
open Npgsql

/// A PostgreSQL server: its connection string (secret: never printed) and how the user named it (printable).
[<CustomEquality; NoComparison>]
type PostgresTarget =
    { ConnectionString: string
      Shown: string }

    override this.Equals other =
        match other with
        | :? PostgresTarget as o -> o.ConnectionString = this.ConnectionString
        | _ -> false

    override this.GetHashCode() = this.ConnectionString.GetHashCode()
    /// The printable name only: a PostgresTarget in a log or an error message shows no password.
    override this.ToString() = this.Shown

type Backend =
    | Sqlite of path: string
    | Postgres of PostgresTarget

/// A store and, optionally, the study in it.
type Storage =
    { Backend: Backend
      Study: string option }

module Storage =
    let private uriSchemes = [ "postgres://"; "postgresql://" ]

    /// libpq's URI query keys that Npgsql spells otherwise.
    let private queryKeys =
        Map [ "sslmode", "SSL Mode"; "connect_timeout", "Timeout"; "application_name", "Application Name"; "target_session_attrs", "Target Session Attributes" ]

    /// A postgres:// URI as an Npgsql connection string, with the settings a store's one long-lived connection
    /// needs: no pool (a server restart must not hand back dead connections), a bounded connect time.
    let private fromUri (text: string) : Result<string, string> =
        match Uri.TryCreate(text, UriKind.Absolute) with
        | false, _ -> Error "not a valid postgres:// URI"
        | true, uri ->
            let builder = NpgsqlConnectionStringBuilder(Host = uri.Host, Pooling = false, Timeout = 10, CommandTimeout = 60)
            if uri.Port > 0 then builder.Port <- uri.Port
            let database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart '/')
            if database <> "" then builder.Database <- database
            if uri.UserInfo <> "" then
                match uri.UserInfo.Split(':', 2) with
                | [| user |] -> builder.Username <- Uri.UnescapeDataString user
                | parts ->
                    builder.Username <- Uri.UnescapeDataString parts[0]
                    builder.Password <- Uri.UnescapeDataString parts[1]
            let query =
                uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
                |> Array.map (fun pair ->
                    match pair.Split('=', 2) with
                    | [| key; value |] -> Uri.UnescapeDataString key, Uri.UnescapeDataString value
                    | parts -> Uri.UnescapeDataString parts[0], "")
            query
            |> Array.fold
                (fun (result: Result<unit, string>) (key, value) ->
                    result
                    |> Result.bind (fun () ->
                        let name = queryKeys |> Map.tryFind key |> Option.defaultValue key
                        try
                            builder[name] <- value
                            Ok ()
                        with _ -> Error $"unknown connection setting '{key}'"))
                (Ok ())
            |> Result.map (fun () -> builder.ConnectionString)

    /// A connection given as a URI or as Npgsql's Key=Value text (from a variable or a file).
    let private fromText (text: string) =
        let text = text.Trim()
        if uriSchemes |> List.exists (fun s -> text.StartsWith(s, StringComparison.OrdinalIgnoreCase)) then fromUri text
        else
            try
                let builder = NpgsqlConnectionStringBuilder(text)
                if not (text.Contains("Pooling", StringComparison.OrdinalIgnoreCase)) then builder.Pooling <- false
                Ok builder.ConnectionString
            with e -> Error $"not a connection string: {e.Message}"

    /// The URI as shown: the password left out.
    let private shownUri (text: string) =
        match Uri.TryCreate(text, UriKind.Absolute) with
        | true, uri when uri.UserInfo.Contains ':' ->
            let user = uri.UserInfo.Split(':')[0]
            let port = if uri.IsDefaultPort || uri.Port < 0 then "" else $":{uri.Port}"
            $"{uri.Scheme}://{user}@{uri.Host}{port}{uri.AbsolutePath}"
        | true, uri -> $"{uri.Scheme}://{uri.Authority}{uri.AbsolutePath}"
        | _ -> "postgres://…"

    let private postgres (spec: string) : Result<Backend, string> =
        let secret (source: string) (read: unit -> string option) =
            match read () with
            | None -> Error $"{source} is not set"
            | Some text ->
                fromText text
                |> Result.mapError (fun e -> $"{source}: {e}")
                |> Result.map (fun cs -> Postgres { ConnectionString = cs; Shown = $"postgres:{source}" })
        if spec.StartsWith("postgres:env:", StringComparison.Ordinal) then
            let name = spec.Substring "postgres:env:".Length
            secret $"env:{name}" (fun () -> Environment.GetEnvironmentVariable name |> Option.ofObj |> Option.filter (fun v -> v.Trim() <> ""))
        elif spec.StartsWith("postgres:file:", StringComparison.Ordinal) then
            let path = spec.Substring "postgres:file:".Length
            secret $"file:{path}" (fun () -> if File.Exists path then Some (File.ReadAllText path) else None)
        else
            let shown = shownUri spec
            fromUri spec
            |> Result.mapError (fun e -> $"storage '{shown}': {e}")
            |> Result.map (fun cs -> Postgres { ConnectionString = cs; Shown = shown })

    /// Reads a storage as the command line names it.
    let parse (text: string) : Result<Storage, string> =
        let location, study =
            match text.LastIndexOf '#' with
            | -1 -> text, None
            | i -> text.Substring(0, i), Some (text.Substring(i + 1))
        if study = Some "" then Error $"storage '{location}#': the study's name after '#' is empty"
        elif location = "" then Error "storage: empty"
        else
            let backend =
                if location.StartsWith("sqlite:", StringComparison.Ordinal) then Ok (Sqlite (location.Substring "sqlite:".Length))
                elif location.StartsWith("postgres:", StringComparison.Ordinal) || uriSchemes |> List.exists (fun s -> location.StartsWith(s, StringComparison.OrdinalIgnoreCase)) then
                    postgres location
                elif location.Contains "://" then
                    let scheme = location.Substring(0, location.IndexOf "://")
                    Error $"storage '{scheme}://…': use sqlite:PATH, postgres://…, postgres:env:NAME or postgres:file:PATH"
                else Ok (Sqlite location)
            backend |> Result.map (fun backend -> { Backend = backend; Study = study })

    let sqlite (path: string) = { Backend = Sqlite path; Study = None }

    /// How to show the storage: no password, ever.
    let describe (storage: Storage) =
        let where =
            match storage.Backend with
            | Sqlite path -> path
            | Postgres target -> target.Shown
        match storage.Study with
        | Some study -> $"{where}#{study}"
        | None -> where

    /// The same store with the study named.
    let withStudy (study: string) (storage: Storage) = { storage with Study = Some study }

    /// The variable through which a parent hands a PostgreSQL connection to the workers it starts.
    let childVariable = "RECEPTOR_STORE_CONNECTION"

    /// How a child process is told the storage: its argument, and the environment variable to set, so that a
    /// password never appears in a process list.
    let forChild (storage: Storage) : string * (string * string) option =
        let named (location: string) = match storage.Study with Some s -> $"{location}#{s}" | None -> location
        match storage.Backend with
        | Sqlite path -> named $"sqlite:{path}", None
        | Postgres target -> named $"postgres:env:{childVariable}", Some (childVariable, target.ConnectionString)
