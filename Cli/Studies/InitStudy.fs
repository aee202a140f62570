/// `receptor study init`: plain CNNs without normalisation, at two depths, under each initialiser and
/// activation: the variance of every convolution's output measured at initialisation on MNIST, and the
/// test accuracy after a short training run. Prints one line per run and a Markdown table, and draws one
/// variance-by-depth figure per depth and activation.
module Receptor.Cli.Studies.InitStudy

open System
open System.IO
open ScottPlot
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Training
open Receptor.Core.Signal
open Receptor.Core.Signal.Propagation
open Receptor.Core.Fields
open Receptor.Cli.Common
open Receptor.Core.Reporting

type Options =
    { /// The folder for the variance-by-depth figures.
      Out: string
      Depths: int list
      /// Channels of every convolution.
      Width: int
      /// Training images (the first of MNIST's 8,000) and epochs.
      Images: int
      Epochs: int
      GradInitIterations: int
      Seed: int }

/// Out is required on the command line.
let defaults =
    { Out = ""; Depths = [ 20; 50 ]; Width = 8; Images = 2000; Epochs = 1; GradInitIterations = 20; Seed = 1 }

/// The activations, by the name the table shows. The last is Swish with a learnable β, the function
/// Ramachandran, Zoph and Le (2017) found by automated search over expressions of this same grammar.
let activations =
    [ "relu", "relu"; "prelu", "prelu(0.25)"; "selu", "selu"; "gelu", "gelu"; "tanh", "tanh"
      "swish-β (searched)", "act(x * sigmoid(b * x), b=1.0)" ]

let methods = [ "torch-default"; "he"; "lsuv"; "gradinit"; "autoinit" ]

/// `depth` 3×3 convolutions of `width` channels, the first two with stride 2 (28 → 7), each followed by
/// the activation; then global average pooling and a dense classifier. No normalisation anywhere.
let architecture depth width activation =
    sprintf
        "input(1, 28, 28)\nnetwork plain%d = conv(3, %d, stride=2, padding=1) >> %s >> conv(3, %d, stride=2, padding=1) >> %s >> repeat(%d, conv(3, %d, padding=1) >> %s) >> gavgpool >> flatten >> dense(10)\n"
        depth width activation width activation (depth - 2) width activation

/// Adam, whose steps do not depend on the gradient's scale, so that an initialisation is judged by whether
/// the signal reaches the loss rather than by a learning rate tuned to it; no weight decay in so short a run.
let private trainOptions (options: Options) =
    { TrainOptions.defaults with
        Epochs = options.Epochs
        BatchSize = 32
        Optimizer = Adam
        LearningRate = 3e-3
        Seed = options.Seed
        Device = Cpu
        WeightDecay = 0.0
        Complexity = 0.0
        Warmup = 0 }

type Run =
    { Depth: int
      Activation: string
      Method: string
      /// Each convolution's output variance at initialisation, in depth order.
      Trace: float list
      Accuracy: float
      Diverged: bool
      Seconds: float }

let private methodOf name (data: Dataset) (options: Options) =
    if name = "gradinit" then
        Ok (Initialisers.GradInit (Initialisers.He (Initialisers.FanIn, Initialisers.Normal), { GradInit.defaults data with Iterations = options.GradInitIterations; HalfBatch = 32; Seed = options.Seed }))
    else Initialisers.parseMethod name Exact Initialisers.Normal |> Result.mapError (Diagnostic.at Nowhere)

let private convolutionPaths (network: Network) =
    Checked.layers network.Tree |> Seq.filter (fun l -> l.Kind.Name = "conv") |> Seq.map (fun l -> l.Path) |> List.ofSeq

/// One run: compile, initialise, measure the trace on 256 training images, train, evaluate on the test set.
let private run (options: Options) (train: Dataset) (test: Dataset) depth (activationName, activation) methodName =
    let clock = Diagnostics.Stopwatch.StartNew ()
    let trained (network: Network) trace =
        Trainer.train (trainOptions options) None network train ignore
        |> Result.bind (fun outcome -> Trainer.evaluate network test |> Result.map (fun e -> outcome, e))
        |> Result.mapError (Diagnostic.at Nowhere)
        |> Result.map (fun (outcome, evaluation) ->
            { Depth = depth
              Activation = activationName
              Method = methodName
              Trace = trace
              Accuracy = evaluation.Accuracy
              Diverged = outcome.Status <> Trainer.Completed
              Seconds = clock.Elapsed.TotalSeconds })
    Parser.parseProgram "study.rcp" (architecture depth options.Width activation)
    |> Result.bind (Trainer.compile options.Seed)
    |> Result.bind (fun network ->
        use network = network
        Batches.fit network.Input train
        |> Result.mapError (Diagnostic.at Nowhere)
        |> Result.bind (fun fitted ->
            let batch () = fst (Batches.tensors fitted (Array.init 256 id) torch.CPU)
            methodOf methodName train options
            |> Result.bind (fun method -> Initialisers.prepare method (Some (Measurement.pixelMoments fitted)) network)
            |> Result.bind (fun prepared ->
                torch.manual_seed (int64 options.Seed) |> ignore
                use lsuvBatch = batch ()
                prepared.Draw lsuvBatch)
            |> Result.bind (fun () ->
                let variances = Measurement.measure network [ options.Seed ] (fun _ -> batch ()) |> List.map (fun m -> m.Path, m.Variance) |> Map.ofList
                trained network (convolutionPaths network |> List.map (fun p -> variances[p])))))

/// log10 of each convolution's output variance against its depth, one line per method.
let private traceFigure (path: string) depth activation (runs: Run list) =
    let plot = new Plot()
    let palette = Palettes.Category10()
    runs
    |> List.iteri (fun i r ->
        let xs = [| for k in 1 .. r.Trace.Length -> float k |]
        // Floored so that a variance that underflowed to zero stays drawable.
        let ys = [| for v in r.Trace -> log10 (max v 1e-30) |]
        let line = plot.Add.Scatter(xs, ys)
        line.Color <- palette.GetColor i
        line.LegendText <- r.Method)
    plot.Title (sprintf "%s, %d convolutions: variance at initialisation" activation depth)
    plot.XLabel "convolution (depth)"
    plot.YLabel "log10 output variance"
    plot.ShowLegend(Alignment.LowerLeft) |> ignore
    Plots.write path (fun file -> plot.SavePng(file, 640, 420) |> ignore)

let private fileName depth (activation: string) =
    let slug = activation.Split(' ').[0].Replace("β", "beta")
    sprintf "variance-%d-%s.png" depth slug

let private cell (r: Run) = if r.Diverged then "diverged" else sprintf "%.1f" (100.0 * r.Accuracy)

/// The trace's ratio last/first, as a power of ten.
let private decades (r: Run) =
    match r.Trace with
    | first :: _ -> log10 (max (List.last r.Trace) 1e-30 / max first 1e-30)
    | [] -> nan

let private printTables (output: TextWriter) (runs: Run list) =
    output.WriteLine ""
    output.WriteLine ("| depth | activation | " + String.Join (" | ", methods) + " |")
    output.WriteLine ("|---|---|" + String.replicate methods.Length "---|")
    for (depth, activation), group in runs |> List.groupBy (fun r -> r.Depth, r.Activation) do
        let byMethod = group |> List.map (fun r -> r.Method, r) |> Map.ofList
        let cells = methods |> List.map (fun m -> byMethod.TryFind m |> Option.map cell |> Option.defaultValue "–")
        output.WriteLine (sprintf "| %d | %s | %s |" depth activation (String.Join (" | ", cells)))
    output.WriteLine ""
    output.WriteLine "log10(variance of the last convolution's output / the first's), at initialisation:"
    output.WriteLine ""
    output.WriteLine ("| depth | activation | " + String.Join (" | ", methods) + " |")
    output.WriteLine ("|---|---|" + String.replicate methods.Length "---|")
    for (depth, activation), group in runs |> List.groupBy (fun r -> r.Depth, r.Activation) do
        let byMethod = group |> List.map (fun r -> r.Method, r) |> Map.ofList
        let cells = methods |> List.map (fun m -> byMethod.TryFind m |> Option.map (fun r -> sprintf "%+.1f" (decades r)) |> Option.defaultValue "–")
        output.WriteLine (sprintf "| %d | %s | %s |" depth activation (String.Join (" | ", cells)))

/// Runs the whole study; returns the exit code.
let study (output: TextWriter) (error: TextWriter) (options: Options) =
    let loaded =
        Mnist.ensure (Mnist.defaultDirectory ())
        |> Result.bind (fun files ->
            Idx.load files.TrainImages files.TrainLabels
            |> Result.bind (fun train -> Idx.load files.TestImages files.TestLabels |> Result.map (fun test -> train, test)))
    match loaded with
    | Error e ->
        error.WriteLine e
        exitBadInput
    | Ok (train, test) ->
        // Small tensors and thousands of operations: one torch thread avoids OpenMP spinning on a shared machine.
        torch.set_num_threads 1
        let subset = Dataset.take options.Images train
        let count = subset.Count
        output.WriteLine (
            sprintf "plain CNNs, width %d, depths %s; %d training images, %d epoch(s), Adam lr 0.003 batch 32; GradInit %d iterations; test on %d images"
                options.Width (String.Join (", ", options.Depths)) count options.Epochs options.GradInitIterations test.Count)
        let report (r: Run) =
            output.WriteLine (
                sprintf "depth %d  %-20s %-14s accuracy %-8s variance first %.3g, layer 30 %s, last %.3g  (%.0f s)"
                    r.Depth r.Activation r.Method (cell r) r.Trace.Head
                    (if r.Trace.Length >= 30 then sprintf "%.3g" r.Trace[29] else "–") (List.last r.Trace) r.Seconds)
            r
        // One depth and activation at a time: its runs, then its figure; the first failure stops the study.
        let rec groups done' pending =
            match pending with
            | [] -> Ok (List.rev done')
            | (depth, activation) :: rest ->
                let runs =
                    methods
                    |> List.fold (fun acc m -> acc |> Result.bind (fun rs -> run options subset test depth activation m |> Result.map (fun r -> report r :: rs))) (Ok [])
                    |> Result.map List.rev
                runs
                |> Result.bind (fun rs -> traceFigure (Path.Combine (options.Out, fileName depth (fst activation))) depth (fst activation) rs |> Result.map (fun _ -> rs))
                |> Result.bind (fun rs -> groups (List.rev rs @ done') rest)
        match groups [] [ for depth in options.Depths do for activation in activations -> depth, activation ] with
        | Error d ->
            error.WriteLine (Diagnostic.format d)
            exitBadInput
        | Ok runs ->
            printTables output runs
            exitOk
