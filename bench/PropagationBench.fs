/// Issue "Initialisation II" figure: the time of the moment propagation on ResNet-50, which now carries
/// covariances across positions and the joint law of pooling windows, beside a peer in the same run:
/// measuring the same network with TorchSharp as `receptor init --report` does (16 draws × 8 samples in
/// training mode). AutoInit's 2023 rules, one scalar per node, take milliseconds and make no useful peer.
module Receptor.Bench.PropagationBench

open System.Diagnostics
open System.IO
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Signal

let private unwrap result =
    match result with
    | Ok value -> value
    | Error d -> failwith (Diagnostic.format d)

/// Median wall and process CPU seconds of three runs.
let private timed (action: unit -> unit) =
    let once () =
        let cpu () = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
        let watch = Stopwatch.StartNew ()
        let before = cpu ()
        action ()
        watch.Elapsed.TotalSeconds, cpu () - before
    [ for _ in 1 .. 3 -> once () ] |> List.sortBy snd |> fun runs -> runs[1]

let run (root: string) =
    let path = Path.Combine (root, "Examples", "zoo", "resnet50.rcp")
    let program = Parser.parseProgram path (File.ReadAllText path) |> unwrap
    let rows =
        [ for size in [ 224; 64 ] do
              let program = { program with Input = Spatial (3, size, size) }
              let tree = Shapes.checkProgram program |> unwrap
              let exactWall, exactCpu =
                  timed (fun () -> Initialisers.plan (Initialisers.AutoInit (Exact, Initialisers.Normal)) program.Input None tree |> unwrap |> ignore)
              let measureWall, measureCpu = timed (fun () -> Agreement.measureAutoInit Exact 16 8 program |> unwrap |> ignore)
              yield
                  sprintf "| 3×%d×%d | %.2f s (%.2f s) | %.1f s (%.1f s) | %.2f |"
                      size size exactWall exactCpu measureWall measureCpu (exactCpu / measureCpu) ]
    [ "## Moment propagation on ResNet-50 (issue: Initialisation II)"
      ""
      sprintf "`dotnet run -c Release --project bench -- propagation`: median of 3, wall (CPU), %d CPU threads." (torch.get_num_threads ())
      ""
      "| input | propagation, exact rules | measuring, 16 draws × 8 samples | propagation / measuring (CPU) |"
      "|---|---|---|---|" ]
    @ rows
    |> String.concat "\n"
