/// `receptor train FILE --data NAME [options]`: trains, then prints the accuracy on the held-out images.
module Receptor.Cli.Commands.Train

open System.Globalization
open System.IO
open Argu
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data
open Receptor.Core.Signal
open Receptor.Core.Training
open Receptor.Cli
open Receptor.Cli.Common

/// What `receptor train` was asked, as written on the command line.
type Options =
    { File: string
      Data: string
      Epochs: int
      Batch: int
      /// None: the optimizer's own default.
      LearningRate: float option
      Optimizer: string
      Schedule: string
      Seed: int
      Device: string
      Checkpoint: string option
      Resume: bool
      Complexity: float
      /// Train on the first N training images only.
      Images: int option
      /// The initialisation the weights start from (InitSpec.methods), its moment rules, weight law and
      /// residual policy.
      Init: string
      Rules: string
      Law: string
      Residual: string option
      /// A checkpoint whose weights the run starts from instead (`receptor init --save`, or any run's).
      From: string option }

/// The library's training defaults, written as the command line writes them. File and Data are required on
/// the command line.
let defaults =
    let d = TrainOptions.defaults
    { File = ""
      Data = ""
      Epochs = d.Epochs
      Batch = d.BatchSize
      LearningRate = None
      Optimizer = Optimizer.name d.Optimizer
      Schedule = Schedule.name d.Schedule
      Seed = d.Seed
      Device = Device.name d.Device
      Checkpoint = None
      Resume = false
      Complexity = d.Complexity
      Images = None
      Init = InitSpec.defaults.Method
      Rules = Initialisers.rulesName InitSpec.defaults.Rules
      Law = Initialisers.lawName InitSpec.defaults.Law
      Residual = None
      From = None }

type Args =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | [<Mandatory>] Data of name: string
    | Epochs of count: int
    | Batch of size: int
    | Lr of rate: float
    | Optimizer of name: string
    | Schedule of name: string
    | Seed of seed: int
    | Device of name: string
    | Checkpoint of path: string
    | Resume
    | Complexity of lambda: float
    | Images of count: int
    | Init of method: string
    | Rules of name: string
    | Law of name: string
    | Residual of policy: string
    | From of checkpoint: string

    interface IArgParserTemplate with
        member this.Usage =
            let d = defaults
            let invariant (x: float) = x.ToString(CultureInfo.InvariantCulture)
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Data _ -> $"{DataSources.names DataSources.labelled} (receptor data list describes them)"
            | Epochs _ -> $"epochs in all, counting those of a resumed checkpoint (default {d.Epochs})"
            | Batch _ -> $"mini-batch size (default {d.Batch})"
            | Lr _ ->
                let sgd, adam = Optimizer.defaultLearningRate Sgd, Optimizer.defaultLearningRate Adam
                $"initial learning rate (default {invariant sgd} with sgd, {invariant adam} with adam)"
            | Optimizer _ -> $"sgd (nesterov momentum 0.9) or adam (default {d.Optimizer})"
            | Schedule _ -> $"cosine or constant (default {d.Schedule})"
            | Seed _ -> $"seeds the initial weights and the data order (default {d.Seed})"
            | Device _ -> $"auto, cpu or cuda (default {d.Device})"
            | Checkpoint _ -> "save weights after every epoch at PATH (with PATH.optim and PATH.json)"
            | Resume -> "continue from the checkpoint at --checkpoint PATH"
            | Complexity _ ->
                $"add λ·Σ r_h·r_w of the DynOPool layers to the loss, so that they learn to shrink (default {invariant d.Complexity})"
            | Images _ -> "train on the first N training images (default: all)"
            | Init _ ->
                let methods = String.concat ", " InitSpec.methods
                $"initialise the weights by {methods} on the training images (default {d.Init})"
            | Rules _ -> $"moment rules of --init: exact or autoinit-2023 (default {d.Rules})"
            | Law _ -> $"weight law of --init: normal, truncated-normal, uniform, orthogonal or weibull (default {d.Law})"
            | Residual _ -> "residual policy of --init: restore, sqrt-n, zero-gamma or in-degree (default: none)"
            | From _ -> "start from the weights of this checkpoint (receptor init --save, or a run's) instead of --init"

let options (a: ParseResults<Args>) =
    let d = defaults
    { File = a.GetResult File
      Data = a.GetResult Data
      Epochs = a.GetResult(Epochs, d.Epochs)
      Batch = a.GetResult(Batch, d.Batch)
      LearningRate = a.TryGetResult Lr |> Option.orElse d.LearningRate
      Optimizer = a.GetResult(Optimizer, d.Optimizer)
      Schedule = a.GetResult(Schedule, d.Schedule)
      Seed = a.GetResult(Seed, d.Seed)
      Device = a.GetResult(Device, d.Device)
      Checkpoint = a.TryGetResult Checkpoint |> Option.orElse d.Checkpoint
      Resume = a.Contains Resume
      Complexity = a.GetResult(Complexity, d.Complexity)
      Images = a.TryGetResult Images |> Option.orElse d.Images
      Init = a.GetResult(Init, d.Init)
      Rules = a.GetResult(Rules, d.Rules)
      Law = a.GetResult(Law, d.Law)
      Residual = a.TryGetResult Residual |> Option.orElse d.Residual
      From = a.TryGetResult From |> Option.orElse d.From }

let private parseWith (option: string) (parse: string -> 'a option) (expected: string) (text: string) =
    match parse text with
    | Some value -> Ok value
    | None -> Error (Diagnostic.at Nowhere $"{option} expects {expected}, got '{text}'")

/// Where the weights start: a checkpoint, or the initialisation the options name.
let private startOf (o: Options) : Result<Start, Diagnostic> =
    let d = defaults
    let initialisation = o.Init <> d.Init || o.Rules <> d.Rules || o.Law <> d.Law || o.Residual.IsSome
    match o.From with
    | Some _ when initialisation ->
        Error (Diagnostic.at Nowhere "--from starts from a checkpoint's weights; --init, --rules, --law and --residual choose an initialisation instead")
    | Some path -> Ok (Start.From path)
    | None -> InitSpec.parse o.Init o.Rules o.Law o.Residual |> Result.map Start.Initialise |> Result.mapError (Diagnostic.at Nowhere)

let private trainOptions (o: Options) : Result<TrainOptions, Diagnostic> =
    startOf o
    |> Result.bind (fun start ->
    parseWith "--optimizer" Optimizer.parse "sgd or adam" o.Optimizer
    |> Result.bind (fun optimizer ->
        parseWith "--schedule" Schedule.parse "cosine or constant" o.Schedule
        |> Result.bind (fun schedule ->
            parseWith "--device" Device.parse "auto, cpu or cuda" o.Device
            |> Result.bind (fun device ->
                { TrainOptions.defaults with
                    Start = start
                    Epochs = o.Epochs
                    BatchSize = o.Batch
                    LearningRate = defaultArg o.LearningRate (Optimizer.defaultLearningRate optimizer)
                    Optimizer = optimizer
                    Schedule = schedule
                    Seed = o.Seed
                    Device = device
                    Complexity = o.Complexity }
                |> TrainOptions.validate
                |> Result.mapError (Diagnostic.at Nowhere)))))

/// The training and test sets of a `--data` name and a line describing them, or the exit code and message:
/// an unknown name or an unsuitable source is bad input, MNIST that cannot be fetched a failure of the
/// environment.
let loadData (name: string) (input: Shape) : Result<Dataset * Dataset * string, int * Diagnostic> =
    DataSources.parse "--data" DataSources.labelled "labelled images" name
    |> Result.mapError (fun message -> exitBadInput, Diagnostic.at Nowhere message)
    |> Result.bind (fun images ->
        images.Load input
        |> Result.mapError (function
            | DataSources.Unavailable message -> exitFailed, Diagnostic.at Nowhere message
            | DataSources.Unsuitable message -> exitBadInput, Diagnostic.at Nowhere $"--data {message}"))
    |> Result.map (fun splits ->
        let title =
            match splits.Folder with
            | Some folder -> $"{splits.Title} ({folder})"
            | None -> $"{splits.Title} ({splits.Train.Classes} classes)"
        splits.Train, splits.Test, $"{title}: {count splits.Train.Count} training, {count splits.Test.Count} test images")

let private describeOptions (o: TrainOptions) (device: string) =
    let optimizer =
        match o.Optimizer with
        | Sgd -> "sgd (nesterov momentum 0.9)"
        | Adam -> "adam"
    let invariant (x: float) = x.ToString(CultureInfo.InvariantCulture)
    let epochs = if o.Epochs = 1 then "1 epoch" else $"{o.Epochs} epochs"
    let complexity = if o.Complexity > 0.0 then $", DynOPool complexity λ {invariant o.Complexity}" else ""
    $"{optimizer}, lr {invariant o.LearningRate} ({Schedule.name o.Schedule}), batch {o.BatchSize}, weight decay {invariant o.WeightDecay}{complexity}, seed {o.Seed}, {device}, {epochs}"

let private checkpointing (o: Options) : Result<Trainer.Checkpointing option, Diagnostic> =
    match o.Checkpoint, o.Resume with
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

let run (output: TextWriter) (error: TextWriter) (display: Progress.Display) (o: Options) =
    let badInput result = result |> Result.mapError (fun diagnostic -> exitBadInput, diagnostic)
    let prepared =
        loadProgram o.File None
        |> Result.bind (fun program -> Shapes.checkProgram program |> Result.map (fun _ -> program))
        |> Result.bind (fun program -> trainOptions o |> Result.map (fun options -> program, options))
        |> Result.bind (fun (program, options) -> checkpointing o |> Result.map (fun c -> program, options, c))
        |> Result.bind (fun prepared ->
            match o.Images with
            | Some n when n < 2 -> Error (Diagnostic.at Nowhere $"--images expects at least 2, got {n}")
            | _ -> Ok prepared)
        |> Result.bind (fun (program, options, c) ->
            Trainer.resolveDevice options.Device
            |> Result.mapError (Diagnostic.at Nowhere)
            |> Result.map (fun device -> program, options, c, device))
        |> badInput
        |> Result.bind (fun (program, options, c, device) ->
            loadData o.Data program.Input
            |> Result.map (fun (trainSet, testSet, line) ->
                let data =
                    match o.Images with
                    | None -> trainSet, testSet, line
                    | Some n -> Dataset.take n trainSet, testSet, $"{line}; training on the first {count (min n trainSet.Count)}"
                program, options, c, device, data))
        |> Result.bind (fun (program, options, c, device, (trainSet, _, _ as data)) ->
            Batches.fit program.Input trainSet
            |> Result.mapError (fun message -> Diagnostic.at Nowhere $"--data {o.Data}: {message}")
            |> Result.map (fun fitted -> program, options, c, device, data, fitted.Note)
            |> badInput)
        |> Result.bind (fun (program, options, c, device, data, note) ->
            let trainSet, _, _ = data
            Trainer.start options program trainSet
            |> Result.map (fun network -> network, program, options, c, device, data, note)
            |> badInput)
    match prepared with
    | Error (code, diagnostic) ->
        error.WriteLine(Diagnostic.format diagnostic)
        code
    | Ok (network, program, options, checkpointing, device, (trainSet, testSet, dataLine), note) ->
        use network = network
        match Trainer.taskOf network trainSet with
        | Error message -> fail error $"{o.File}: {message}"
        | Ok task ->
            output.WriteLine $"{program.Name}: {count (int (Torch.Network.parameterCount network))} parameters, input {Shape.format program.Input}"
            output.WriteLine dataLine
            output.WriteLine (Objective.describe task)
            note |> Option.iter (fun n -> output.WriteLine $"note: {n}")
            output.WriteLine(describeOptions options ((string device.``type``).ToLowerInvariant()))
            match options.Start with
            | Start.Initialise spec -> output.WriteLine $"weights initialised by {InitSpec.describe spec}, seed {options.Seed}"
            | Start.From path -> output.WriteLine $"weights from {path}"
            match display.Run (Trainer.train options checkpointing network trainSet) with
            | Error message -> fail error message
            | Ok outcome -> conclude output error network testSet outcome
