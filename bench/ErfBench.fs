/// Issue "Receptive fields" figure: the ERF of ResNet-50 at 224×224 over 16 samples, in one run, for two
/// layers: the last spatial one, whose field covers the whole image, and the end of layer2, whose 91-pixel
/// field lets Receptor run only the unit's cone (Cone). For each: a per-sample loop as the paper's procedure
/// is usually transcribed (one forward and backward of the whole network on the whole image per sample,
/// parameters trainable), and Receptor's per-sample loop and batched pass, over fresh initialisations (16
/// as one widened network) and over shared weights (a batch of 16).
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

let private load () = try (File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "unknown"

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

/// The table for one layer: the transcribed loop, then Receptor's four ways.
let private compare (program: Program) (tree: Node) (layer: string option) =
    let measure weights perPass =
        Erf.measure
            { Name = program.Name
              Tree = tree
              Input = program.Input
              Layer = layer
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
    let window =
        match batched.Crop with
        | Some crop -> sprintf "the unit's cone: rows %d..%d, columns %d..%d of the input, the network up to the layer" (fst crop.Rows) (fst crop.Rows + snd crop.Rows - 1) (fst crop.Columns) (fst crop.Columns + snd crop.Columns - 1)
        | None -> "the whole image (the field covers it); the network up to the layer"
    String.concat "\n"
        [ sprintf "ERF of ResNet-50 (%s), 3×224×224, %d samples, Gaussian inputs, torch threads %d, load average %s at the start" batched.Layer.Path samples (torch.get_num_threads ()) (load ())
          sprintf "Receptor runs %s." window
          ""
          "| method | wall s | CPU s | speed-up (wall) over the transcribed loop | ERF (Luo) px |"
          "|---|---:|---:|---:|---:|"
          line "per-sample loop, whole network and image, parameters trainable (as transcribed)" naiveWall naiveCpu naive
          line "fresh initialisations, per-sample loop (`--batch 1`)" loopWall loopCpu looped.Values
          line "fresh initialisations, one widened network of 16 copies (default)" batchedWall batchedCpu batched.Values
          line "shared weights (as with `--checkpoint`), per-sample loop (`--batch 1`)" sharedLoopWall sharedLoopCpu sharedLooped.Values
          line "shared weights, one batch of 16 (default with `--checkpoint`)" sharedBatchedWall sharedBatchedCpu sharedBatched.Values
          ""
          sprintf "batched vs Receptor's own loop: %.2f× wall (%.2f× CPU) fresh, %.2f× wall (%.2f× CPU) shared; load average %s at the end"
              (loopWall / batchedWall) (loopCpu / batchedCpu) (sharedLoopWall / sharedBatchedWall) (sharedLoopCpu / sharedBatchedCpu) (load ()) ]

let run () =
    let path = Path.Combine(root (), "Examples", "zoo", "resnet50.rcp")
    let program = Parser.parseProgram path (File.ReadAllText path) |> orFail
    let tree = Expand.program program |> orFail
    compare program tree None + "\n\n" + compare program tree (Some "layer2/repeat/2/relu")
