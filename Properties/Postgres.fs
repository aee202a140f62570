/// The tests' own PostgreSQL server: started on a free loopback port in a temporary folder the first time a test
/// asks for it (scripts/postgres.sh), stopped when the tests end. No mocks: the stores' tests run against it.
module Receptor.Properties.Postgres

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open Expecto
open Receptor.Search

type Server =
    { Folder: string
      Port: int
      /// postgres://receptor@127.0.0.1:PORT/DATABASE
      Uri: string -> string }

let private script (args: string list) =
    let info = ProcessStartInfo("bash", UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in Path.Combine(Repository.root.Value, "scripts", "postgres.sh") :: args do info.ArgumentList.Add a
    use p = Process.Start info
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    p.WaitForExit()
    if p.ExitCode <> 0 then failtest $"""scripts/postgres.sh {String.concat " " args}: {out.Result}{err.Result}"""

let private freePort () =
    let listener = new TcpListener(IPAddress.Loopback, 0)
    listener.Start()
    let port = (listener.LocalEndpoint :?> IPEndPoint).Port
    listener.Stop()
    port

let server =
    lazy (
        let folder = Path.Combine(Path.GetTempPath(), $"receptor-postgres-{Guid.NewGuid():N}")
        let port = freePort ()
        script [ "start"; folder; string port ]
        AppDomain.CurrentDomain.ProcessExit.Add(fun _ ->
            try
                script [ "stop"; folder ]
                Directory.Delete(folder, true)
            with _ -> ())
        { Folder = folder; Port = port; Uri = fun database -> $"postgres://receptor@127.0.0.1:{port}/{database}" })

/// Stops the server (fast: connections are cut) and starts it again, as an operator's restart would.
let restart () = script [ "restart"; server.Value.Folder ]

let private ok result =
    match result with
    | Ok value -> value
    | Error (message: string) -> failtest message

/// The test server's default database as a storage.
let storage () = Storage.parse (server.Value.Uri "postgres") |> ok

/// A fresh, empty database of the test server, as a storage.
let freshDatabase () =
    let name = $"receptor_{Guid.NewGuid():N}"
    use connection = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={server.Value.Port};Username=receptor;Database=postgres;Pooling=false")
    connection.Open()
    use command = connection.CreateCommand()
    command.CommandText <- $"CREATE DATABASE {name}"
    command.ExecuteNonQuery() |> ignore
    Storage.parse (server.Value.Uri name) |> ok
