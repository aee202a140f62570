/// Issue "Signal propagation" figures: initialising ResNet-50 with AutoInit's analytic plan (moment
/// propagation, no data) against LSUV (orthogonal, then each layer rescaled on a batch until its output
/// standard deviation is within 0.1 of 1), on this machine's CPU.
module Receptor.Bench.InitBench

open System
open System.Diagnostics
open System.IO
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch
open Receptor.Core.Signal

/// The repository root: the first folder above the binary that holds Dsl.sln.
let root () =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "no folder above the benchmark binary holds Dsl.sln"
        elif File.Exists (Path.Combine (dir.FullName, "Dsl.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

let private unwrap result =
    match result with
    | Ok value -> value
    | Error d -> failwith (Diagnostic.format d)

/// Wall-clock and process CPU seconds of an action: the machines are shared, so CPU time is the steadier
/// figure of the two.
let private seconds (action: unit -> 'a) =
    let processor () = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
    let watch = Stopwatch.StartNew ()
    let cpu = processor ()
    let result = action ()
    result, (watch.Elapsed.TotalSeconds, processor () - cpu)

let run (batch: int) =
    let path = Path.Combine (root (), "Examples", "zoo", "resnet50.rcp")
    let program = Parser.parseProgram path (File.ReadAllText path) |> unwrap
    use network = Network.ofProgram program |> unwrap
    torch.manual_seed 1L |> ignore
    let autoinit = Initialisers.AutoInit (Exact, Initialisers.Normal)
    // AutoInit: plan (the propagation) and one draw of every layer's weights; median of three.
    let median runs = List.sortBy fst runs |> fun xs -> xs[xs.Length / 2]
    let autoinitWall, autoinitCpu =
        median
            [ for _ in 1 .. 3 ->
                  snd (seconds (fun () -> Initialisers.prepare autoinit None network |> unwrap |> fun p -> p.Draw (torch.zeros 1L) |> unwrap)) ]
    let planWall, planCpu = median [ for _ in 1 .. 3 -> snd (seconds (fun () -> Initialisers.plan autoinit program.Input None network.Tree |> unwrap)) ]
    // LSUV: orthogonal draw, then its rescaling loop on one Gaussian batch; one run (it is the slow side).
    let images = Measurement.gaussianBatch network batch
    let (passes, layers), (lsuvWall, lsuvCpu) =
        seconds (fun () ->
            let prepared = Initialisers.prepare Initialisers.Lsuv None network |> unwrap
            Initialisers.applyPlan Initialisers.Orthogonal prepared.Plan.Layers network |> unwrap
            let layers = prepared.Plan.Layers |> List.map fst
            Initialisers.lsuv layers network images |> unwrap, layers.Length)
    [ "## Initialisation (issue: Signal propagation)"
      ""
      sprintf "`dotnet run -c Release --project bench -- init`: ResNet-50 (`Examples/zoo/resnet50.rcp`, 224×224), %d CPU threads." (torch.get_num_threads ())
      ""
      "| method | wall | CPU | what it does |"
      "|---|---|---|---|"
      sprintf "| autoinit (exact rules) | %.2f s | %.2f s | median of 3: moment propagation over every node (%.2f s wall, %.2f s CPU) and one normal draw of %d weighted layers; no data |"
          autoinitWall autoinitCpu planWall planCpu layers
      sprintf "| LSUV | %.1f s | %.1f s | one run: orthogonal draw, then %d forward passes of a batch of %d Gaussian images until every layer's output std is within 0.1 of 1 |"
          lsuvWall lsuvCpu passes batch
      sprintf "| ratio LSUV / autoinit | %.0f× | %.0f× | |" (lsuvWall / autoinitWall) (lsuvCpu / autoinitCpu) ]
    |> String.concat "\n"
