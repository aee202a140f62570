/// Issue "Receptive fields" figure: the ERF of ResNet-50 at 224×224 over 16 samples, in one run: over fresh
/// initialisations, a per-sample loop as the paper's procedure is usually transcribed (one forward and
/// backward per sample, parameters trainable), Receptor's per-sample loop (parameters frozen) and its
/// batched pass (16 initialisations as one widened network); over shared weights, Receptor's loop and
/// its batch of 16.
module Receptor.Bench.ErfBench

open System
open System.Diagnostics
open System.IO
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Fields
open Receptor.Core.Torch

let private samples = 16

let private orFail result =
    match result with
    | Ok value -> value
    | Error d -> failwith (Diagnostic.format d)

/// The repository root: the first folder above the working directory that holds Dsl.sln.
let private root () =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "run from inside the repository"
        elif File.Exists(Path.Combine(dir.FullName, "Dsl.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo(Directory.GetCurrentDirectory()))

/// Wall and CPU seconds of an action: the machine may be shared, and CPU time is what the work costs.
let private timed (action: unit -> 'a) =
    let cpu = Process.GetCurrentProcess().TotalProcessorTime
    let watch = Stopwatch.StartNew()
    let result = action ()
    result, watch.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds

/// One forward and one backward per sample, with a fresh network whose parameters keep requires_grad.
let private naiveLoop (program: Program) (layer: string) (row: int, column: int) =
    let total = torch.zeros [| 224L; 224L |]
    for k in 1..samples do
        use _ = torch.NewDisposeScope()
        torch.manual_seed (int64 k) |> ignore
        use network = Network.ofProgram program |> orFail
        network.eval ()
        let x = torch.randn([| 1L; 3L; 224L; 224L |]).requires_grad_ true
        let mutable output = None
        network.Observe (x, fun path y -> if path = layer then output <- Some y) |> ignore
        output.Value.index(torch.TensorIndex.Colon, torch.TensorIndex.Colon, torch.TensorIndex.Single (int64 row), torch.TensorIndex.Single (int64 column))
            .sum().backward ()
        total.add_ (x.grad.abs().sum([| 0L; 1L |])) |> ignore
    let values = total.data<float32>().ToArray()
    Array2D.init 224 224 (fun r c -> float values[r * 224 + c] / float samples)

let run () =
    let path = Path.Combine(root (), "Examples", "zoo", "resnet50.rcp")
    let program = Parser.parseProgram path (File.ReadAllText path) |> orFail
    let tree = Expand.program program |> orFail
    let measure weights perPass =
        Erf.measure
            { Name = program.Name
              Tree = tree
              Input = program.Input
              Layer = None
              Samples = samples
              PerPass = perPass
              Seed = 1L
              Source = Gaussian
              Weights = weights
              CropToField = true }
        |> orFail
    let batched, batchedWall, batchedCpu = timed (fun () -> measure FreshPerSample samples)
    let looped, loopWall, loopCpu = timed (fun () -> measure FreshPerSample 1)
    // One initialisation shared by all samples: the network's own, as compiled from the seed.
    let shared = Shared (fun _ -> Ok ())
    let sharedBatched, sharedBatchedWall, sharedBatchedCpu = timed (fun () -> measure shared samples)
    let sharedLooped, sharedLoopWall, sharedLoopCpu = timed (fun () -> measure shared 1)
    let naive, naiveWall, naiveCpu = timed (fun () -> naiveLoop program batched.Layer.Path batched.Region.Unit)
    let luo (values: float[,]) = (ErfSummary.ofMap { batched with Values = values }).Size.Luo
    let line name wall cpu (values: float[,]) =
        sprintf "| %s | %.1f | %.1f | %.2f | %.2f |" name wall cpu (naiveWall / wall) (luo values)
    String.concat "\n"
        [ sprintf "ERF of ResNet-50 (%s), 3×224×224, %d fresh initialisations, Gaussian inputs, torch threads %d" batched.Layer.Path samples (torch.get_num_threads ())
          ""
          "| method | wall s | CPU s | speed-up (wall) over the transcribed loop | ERF (Luo) px |"
          "|---|---:|---:|---:|---:|"
          line "per-sample loop, parameters trainable (as transcribed)" naiveWall naiveCpu naive
          line "per-sample loop, parameters frozen (`--batch 1`)" loopWall loopCpu looped.Values
          line "batched: one widened network of 16 copies, parameters frozen (default)" batchedWall batchedCpu batched.Values
          line "shared weights (as with `--checkpoint`), per-sample loop, frozen" sharedLoopWall sharedLoopCpu sharedLooped.Values
          line "shared weights, one batch of 16, frozen (default with `--checkpoint`)" sharedBatchedWall sharedBatchedCpu sharedBatched.Values
          ""
          sprintf "batched vs transcribed loop: %.2f× wall, %.2f× CPU; of which freezing parameters %.2f× and batching %.2f× (wall)"
              (naiveWall / batchedWall) (naiveCpu / batchedCpu) (naiveWall / loopWall) (loopWall / batchedWall)
          sprintf "shared weights, batch of 16 vs loop: %.2f× wall, %.2f× CPU" (sharedLoopWall / sharedBatchedWall) (sharedLoopCpu / sharedBatchedCpu) ]
