/// The commands of the `receptor` tool as functions of their arguments and output writers, returning the
/// exit code: 0 on success, 1 when the environment fails (MNIST cannot be fetched), 2 on bad input (with a
/// positioned message), 3 when training diverges; never a stack trace.
module Receptor.Search.Commands

open System
open System.Globalization
open System.IO
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data
open Receptor.Core.Training

let exitOk = 0
let exitFailed = 1
let exitBadInput = 2
let exitDiverged = 3

/// Parses `c,h,w` or `n`.
let parseShape (text: string) =
    let parts = text.Split(',', StringSplitOptions.TrimEntries)
    let numbers = parts |> Array.map (fun p -> match Int32.TryParse p with | true, n when n > 0 -> Some n | _ -> None)
    match numbers with
    | [| Some c; Some h; Some w |] -> Ok (Spatial (c, h, w))
    | [| Some n |] -> Ok (Flat n)
    | _ -> Error (Diagnostic.at Nowhere (sprintf "--input expects c,h,w or n with positive integers, got '%s'" text))

/// Reads, parses and checks a program file, optionally overriding its input shape.
let loadProgram (file: string) (input: string option) =
    let text =
        try Ok (File.ReadAllText file)
        with
        | :? FileNotFoundException | :? DirectoryNotFoundException ->
            Error (Diagnostic.at (Text (file, 1, 1)) "no such file")
        | :? IOException | :? UnauthorizedAccessException as e ->
            Error (Diagnostic.at (Text (file, 1, 1)) e.Message)
    text
    |> Result.bind (Parser.parseProgram file)
    |> Result.bind (fun program ->
        match input with
        | Some shape -> parseShape shape |> Result.map (fun s -> { program with Input = s })
        | None -> Ok program)

let report (error: TextWriter) diagnostic =
    error.WriteLine(Diagnostic.format diagnostic)
    exitBadInput

/// `receptor analyze FILE [--input c,h,w] [--json]`
let analyze (output: TextWriter) (error: TextWriter) file input asJson =
    match loadProgram file input |> Result.bind Analysis.ofProgram with
    | Error diagnostic -> report error diagnostic
    | Ok analysis ->
        output.Write(if asJson then Report.json analysis + "\n" else Report.table analysis)
        exitOk

let private count (n: int) = n.ToString("N0", CultureInfo.InvariantCulture)

let private percent (fraction: float) = (100.0 * fraction).ToString("F2", CultureInfo.InvariantCulture) + "%"

let private fail (error: TextWriter) message = report error (Diagnostic.at Nowhere message)

/// `receptor data fetch NAME [--dir D]`: makes sure the data set is in its cache folder.
let fetchData (output: TextWriter) (error: TextWriter) (name: string) (dir: string option) =
    match name.ToLowerInvariant() with
    | "mnist" ->
        let dir = dir |> Option.defaultWith Mnist.defaultDirectory
        match Mnist.ensure dir |> Result.bind (fun _ -> Mnist.load dir) with
        | Ok (train, test) ->
            output.WriteLine $"MNIST in {dir}: {count train.Count} training and {count test.Count} test images"
            exitOk
        | Error message ->
            error.WriteLine $"error: {message}"
            exitFailed
    | _ -> fail error $"unknown data set '{name}'; the one to fetch is mnist"

/// What `receptor train` was asked, as written on the command line; None: the default.
type TrainArguments =
    { File: string
      Data: string
      Epochs: int option
      Batch: int option
      LearningRate: float option
      Optimizer: string option
      Schedule: string option
      Seed: int option
      Device: string option
      Checkpoint: string option
      Resume: bool
      Complexity: float option
      /// Train on the first N training images only.
      Images: int option }

module TrainArguments =
    /// Training FILE on a data set with every option at its default.
    let defaults file data =
        { File = file
          Data = data
          Epochs = None
          Batch = None
          LearningRate = None
          Optimizer = None
          Schedule = None
          Seed = None
          Device = None
          Checkpoint = None
          Resume = false
          Complexity = None
          Images = None }

/// Shows training progress: Run gives the training function the callback to report through.
type ProgressDisplay =
    abstract Run: ((Trainer.Progress -> unit) -> 'T) -> 'T

/// Where an epoch stands: `epoch 3/10  loss 0.1234  accuracy 96.50%  1,234 images/s`.
let progressLine epoch epochs (loss: float) accuracy (imagesPerSecond: float) =
    let loss = loss.ToString("F4", CultureInfo.InvariantCulture)
    $"epoch {epoch}/{epochs}  loss {loss}  accuracy {percent accuracy}  {count (int imagesPerSecond)} images/s"

/// One line per finished epoch, for logs and tests.
let lineDisplay (output: TextWriter) =
    { new ProgressDisplay with
        member _.Run train =
            train (fun progress ->
                match progress with
                | Trainer.EpochDone e ->
                    output.WriteLine $"{progressLine e.Epoch e.Epochs e.Loss e.Accuracy e.ImagesPerSecond}  {e.Seconds:F1} s"
                | Trainer.Resumed (epoch, step) -> output.WriteLine $"resumed after epoch {epoch} (step {step})"
                | Trainer.StepDone _ | Trainer.Saved _ -> ()) }

let private parseWith (option: string) (parse: string -> 'a option) (expected: string) (text: string option) fallback =
    match text with
    | None -> Ok fallback
    | Some t ->
        match parse t with
        | Some value -> Ok value
        | None -> Error (Diagnostic.at Nowhere $"{option} expects {expected}, got '{t}'")

let private trainOptions (a: TrainArguments) : Result<TrainOptions, Diagnostic> =
    let d = TrainOptions.defaults
    parseWith "--optimizer" Optimizer.parse "sgd or adam" a.Optimizer d.Optimizer
    |> Result.bind (fun optimizer ->
        parseWith "--schedule" Schedule.parse "cosine or constant" a.Schedule d.Schedule
        |> Result.bind (fun schedule ->
            parseWith "--device" Device.parse "auto, cpu or cuda" a.Device d.Device
            |> Result.bind (fun device ->
                { d with
                    Epochs = defaultArg a.Epochs d.Epochs
                    BatchSize = defaultArg a.Batch d.BatchSize
                    LearningRate = defaultArg a.LearningRate (Optimizer.defaultLearningRate optimizer)
                    Optimizer = optimizer
                    Schedule = schedule
                    Seed = defaultArg a.Seed d.Seed
                    Device = device
                    Complexity = defaultArg a.Complexity d.Complexity }
                |> TrainOptions.validate
                |> Result.mapError (Diagnostic.at Nowhere))))

/// The side of square synthetic images for a network input.
let private syntheticSide (name: string) minimum (input: Shape) =
    match input with
    | Spatial (_, h, w) when max h w >= minimum -> Ok (max h w)
    | Spatial (_, h, w) -> Error $"--data {name} needs an input of at least {minimum}×{minimum}, the network takes {h}×{w}"
    | Flat _ -> Error $"--data {name} makes images; the network takes a flat input"

/// The training and test sets of a data name and a line describing them, or the exit code and message:
/// an unknown name is bad input, MNIST that cannot be fetched a failure of the environment.
let loadData (name: string) (input: Shape) : Result<Dataset * Dataset * string, int * Diagnostic> =
    let describe what (train: Dataset, test: Dataset) = train, test, $"{what}: {count train.Count} training, {count test.Count} test images"
    let badInput result = result |> Result.mapError (fun message -> exitBadInput, Diagnostic.at Nowhere message)
    match name.ToLowerInvariant() with
    | "mnist" ->
        let dir = Mnist.defaultDirectory ()
        Mnist.ensure dir
        |> Result.bind (fun _ -> Mnist.load dir)
        |> Result.map (describe $"MNIST ({dir})")
        |> Result.mapError (fun message -> exitFailed, Diagnostic.at Nowhere message)
    | "synthetic-blobs" ->
        syntheticSide name 4 input
        |> Result.map (fun side -> describe "synthetic blobs (4 classes)" (Synthetic.blobs 1 2000 4 side, Synthetic.blobs 2 500 4 side))
        |> badInput
    | "far-pair" ->
        syntheticSide name 16 input
        |> Result.map (fun side -> describe "far pairs (2 classes)" (Synthetic.farPair 1 4000 side, Synthetic.farPair 2 1000 side))
        |> badInput
    | _ -> badInput (Error $"--data expects mnist, synthetic-blobs or far-pair, got '{name}'")

let private describeOptions (o: TrainOptions) (device: string) =
    let optimizer =
        match o.Optimizer with
        | Sgd -> "sgd (nesterov momentum 0.9)"
        | Adam -> "adam"
    let invariant (x: float) = x.ToString(CultureInfo.InvariantCulture)
    let epochs = if o.Epochs = 1 then "1 epoch" else $"{o.Epochs} epochs"
    let complexity = if o.Complexity > 0.0 then $", DynOPool complexity λ {invariant o.Complexity}" else ""
    $"{optimizer}, lr {invariant o.LearningRate} ({Schedule.name o.Schedule}), batch {o.BatchSize}, weight decay {invariant o.WeightDecay}{complexity}, seed {o.Seed}, {device}, {epochs}"

let private checkpointing (a: TrainArguments) : Result<Trainer.Checkpointing option, Diagnostic> =
    match a.Checkpoint, a.Resume with
    | None, true -> Error (Diagnostic.at Nowhere "--resume needs --checkpoint PATH")
    | None, false -> Ok None
    | Some path, resume -> Ok (Some { Path = path; Resume = resume })

/// Prints how a finished run ended and returns the exit code.
let private conclude (output: TextWriter) (error: TextWriter) network testSet (outcome: Trainer.Outcome) =
    match outcome.Status with
    | Trainer.Diverged (epoch, step) ->
        error.WriteLine $"error: training diverged at epoch {epoch}, step {step}: the loss is not finite"
        match outcome.LastCheckpoint with
        | Some (path, saved) -> error.WriteLine $"  last good checkpoint: {path} (epoch {saved})"
        | None -> error.WriteLine "  hint: --checkpoint PATH keeps the last good weights; a smaller --lr may help"
        exitDiverged
    | Trainer.Completed ->
        let rate = if outcome.Seconds > 0.0 then float outcome.Images / outcome.Seconds else 0.0
        output.WriteLine $"trained to epoch {outcome.Epochs} in {outcome.Seconds:F1} s ({count (int rate)} images/s)"
        match Trainer.evaluate network testSet with
        | Error message -> fail error message
        | Ok test ->
            output.WriteLine("test loss " + test.Loss.ToString("F4", CultureInfo.InvariantCulture))
            match test.MeanIoU with
            | None -> output.WriteLine $"test accuracy {percent test.Accuracy} ({count test.Count} images)"
            | Some iou -> output.WriteLine $"test accuracy {percent test.Accuracy} on ink pixels, mean IoU {percent iou} ({count test.Count} images)"
            exitOk

/// `receptor train FILE --data NAME [options]`: trains, then prints the accuracy on the held-out images.
let train (output: TextWriter) (error: TextWriter) (display: ProgressDisplay) (a: TrainArguments) =
    let badInput result = result |> Result.mapError (fun diagnostic -> exitBadInput, diagnostic)
    let prepared =
        loadProgram a.File None
        |> Result.bind (fun program -> Shapes.checkProgram program |> Result.map (fun _ -> program))
        |> Result.bind (fun program -> trainOptions a |> Result.map (fun options -> program, options))
        |> Result.bind (fun (program, options) -> checkpointing a |> Result.map (fun c -> program, options, c))
        |> Result.bind (fun prepared ->
            match a.Images with
            | Some n when n < 2 -> Error (Diagnostic.at Nowhere $"--images expects at least 2, got {n}")
            | _ -> Ok prepared)
        |> Result.bind (fun (program, options, c) ->
            Trainer.resolveDevice options.Device
            |> Result.mapError (Diagnostic.at Nowhere)
            |> Result.map (fun device -> program, options, c, device))
        |> badInput
        |> Result.bind (fun (program, options, c, device) ->
            loadData a.Data program.Input
            |> Result.map (fun (trainSet, testSet, line) ->
                let data =
                    match a.Images with
                    | None -> trainSet, testSet, line
                    | Some n -> Dataset.take n trainSet, testSet, $"{line}; training on the first {count (min n trainSet.Count)}"
                program, options, c, device, data))
        |> Result.bind (fun (program, options, c, device, (trainSet, _, _ as data)) ->
            Batches.fit program.Input trainSet
            |> Result.mapError (fun message -> Diagnostic.at Nowhere $"--data {a.Data}: {message}")
            |> Result.map (fun fitted -> program, options, c, device, data, fitted.Note)
            |> badInput)
        |> Result.bind (fun (program, options, c, device, data, note) ->
            Trainer.compile options.Seed program
            |> Result.map (fun network -> network, program, options, c, device, data, note)
            |> badInput)
    match prepared with
    | Error (code, diagnostic) ->
        error.WriteLine(Diagnostic.format diagnostic)
        code
    | Ok (network, program, options, checkpointing, device, (trainSet, testSet, dataLine), note) ->
        use network = network
        match Trainer.taskOf network trainSet with
        | Error message -> fail error $"{a.File}: {message}"
        | Ok task ->
            output.WriteLine $"{program.Name}: {count (int (Torch.Network.parameterCount network))} parameters, input {Shape.format program.Input}"
            output.WriteLine dataLine
            output.WriteLine (Objective.describe task)
            note |> Option.iter (fun n -> output.WriteLine $"note: {n}")
            output.WriteLine(describeOptions options ((string device.``type``).ToLowerInvariant()))
            match display.Run (Trainer.train options checkpointing network trainSet) with
            | Error message -> fail error message
            | Ok outcome -> conclude output error network testSet outcome
