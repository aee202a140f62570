/// `receptor serve [--port P] [--address A] [--folder DIR] [--storage STORE]`: Receptor over HTTP
/// (Receptor.Host.Service): analysis, initialisation reports, effective receptive fields and studies.
module Receptor.Cli.Commands.Serve

open System
open System.IO
open System.Threading
open Argu
open Receptor.Cli.Common
open Receptor.Host
open Receptor.Host.Service

type Options =
    { Port: int
      Address: string
      Folder: string
      Storage: string option }

let defaults = { Port = 5080; Address = "127.0.0.1"; Folder = "studies"; Storage = None }

type Args =
    | Port of port: int
    | Address of ip: string
    | Folder of path: string
    | Storage of store: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Port _ -> $"the TCP port, 0 for a free one (default {defaults.Port})"
            | Address _ -> $"the address to bind (default {defaults.Address}: this machine only)"
            | Folder _ -> $"the study folder: one SQLite file per study, and the access token (default {defaults.Folder})"
            | Storage _ -> "keep the studies in this PostgreSQL store instead (postgres://…, postgres:env:NAME, postgres:file:PATH)"

let options (a: ParseResults<Args>) =
    { Port = a.GetResult(Port, defaults.Port)
      Address = a.GetResult(Address, defaults.Address)
      Folder = a.GetResult(Folder, defaults.Folder)
      Storage = a.TryGetResult Storage }

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    try
        let service =
            ReceptorService.StartAsync(ServiceOptions(o.Port, o.Address, o.Folder, Option.toObj o.Storage)).GetAwaiter().GetResult()
        output.WriteLine $"receptor serves {service.Address} (OpenAPI: {service.Address}openapi/v1.json); writing endpoints need the bearer token in {service.TokenPath}"
        // Ctrl-C and SIGTERM stop the host; its workers hand their trials back.
        service.WaitForShutdownAsync().GetAwaiter().GetResult()
        service.DisposeAsync().AsTask().GetAwaiter().GetResult()
        exitOk
    with
    | :? ReceptorException as e -> fail error e.Message
    | :? IOException as e -> fail error $"cannot serve on {o.Address}:{o.Port}: {e.Message}"
