/// Issue "Initialisation wired into training": a network trained on MNIST from a named initialisation
/// (TrainOptions.Start), its test accuracy and wall time. The acceptance figure is All-CNN-C for 3 epochs
/// from AutoInit against PyTorch's default.
module Receptor.Bench.TrainInitBench

open System.Diagnostics
open System.IO
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Signal
open Receptor.Core.Training

type Options =
    { File: string
      /// A method of InitSpec.methods, or None with From.
      Init: string
      From: string option
      Epochs: int
      Batch: int
      Optimizer: Optimizer
      /// None for the optimiser's default.
      LearningRate: float option
      /// Train on the first N training images (all when None).
      Images: int option
      Seed: int
      /// Steps of linear learning-rate warmup.
      Warmup: int }

    static member Parse(args: string list) : Result<Options, string> =
        let rec parse (options: Options) args =
            match args with
            | [] -> Ok options
            | "--init" :: method :: rest -> parse { options with Init = method } rest
            | "--from" :: path :: rest -> parse { options with From = Some path } rest
            | "--epochs" :: n :: rest -> number n |> Result.bind (fun n -> parse { options with Epochs = n } rest)
            | "--images" :: n :: rest -> number n |> Result.bind (fun n -> parse { options with Images = Some n } rest)
            | "--batch" :: n :: rest -> number n |> Result.bind (fun n -> parse { options with Batch = n } rest)
            | "--optimizer" :: name :: rest ->
                match Optimizer.parse name with
                | Some optimizer -> parse { options with Optimizer = optimizer } rest
                | None -> Error $"train-init: unknown optimizer '{name}' (sgd, adam)"
            | "--lr" :: x :: rest ->
                match System.Double.TryParse (x, System.Globalization.CultureInfo.InvariantCulture) with
                | true, lr -> parse { options with LearningRate = Some lr } rest
                | _ -> Error $"train-init: '{x}' is not a number"
            | "--seed" :: n :: rest -> number n |> Result.bind (fun n -> parse { options with Seed = n } rest)
            | "--warmup" :: n :: rest -> number n |> Result.bind (fun n -> parse { options with Warmup = n } rest)
            | other :: _ -> Error $"train-init: unexpected '{other}'"
        and number (text: string) =
            match System.Int32.TryParse text with
            | true, n -> Ok n
            | _ -> Error $"train-init: '{text}' is not a whole number"
        match args with
        | file :: rest -> parse { File = file; Init = "autoinit"; From = None; Epochs = 3; Batch = TrainOptions.defaults.BatchSize; Optimizer = Sgd; LearningRate = None; Images = None; Seed = 1; Warmup = 0 } rest
        | [] -> Error "usage: train-init FILE [--init METHOD | --from PATH] [--epochs N] [--batch N] [--optimizer sgd|adam] [--lr X] [--images N] [--seed N]"

let private start (options: Options) =
    match options.From with
    | Some path -> Ok (From path)
    | None -> InitSpec.parse options.Init "exact" "normal" None |> Result.map Initialise

/// Trains, printing each epoch as it ends; returns the lines of the summary.
let run (options: Options) (log: string -> unit) : Result<string list, string> =
    let clock = Stopwatch.StartNew ()
    let dir = Mnist.defaultDirectory ()
    Parser.parseProgram options.File (File.ReadAllText options.File)
    |> Result.mapError Diagnostic.format
    |> Result.bind (fun program -> start options |> Result.map (fun start -> program, start))
    |> Result.bind (fun (program, start) ->
        Mnist.ensure dir
        |> Result.bind (fun _ -> Mnist.load dir)
        |> Result.map (fun (train, test) -> program, start, (match options.Images with Some n -> Dataset.take n train | None -> train), test))
    |> Result.bind (fun (program, start, train, test) ->
        let trainOptions =
            { TrainOptions.defaults with
                Start = start
                Epochs = options.Epochs
                BatchSize = options.Batch
                Optimizer = options.Optimizer
                LearningRate = defaultArg options.LearningRate (Optimizer.defaultLearningRate options.Optimizer)
                Seed = options.Seed
                Warmup = options.Warmup
                Device = Cpu }
        Trainer.start trainOptions program train
        |> Result.mapError Diagnostic.format
        |> Result.bind (fun network ->
            use network = network
            let started = clock.Elapsed.TotalSeconds
            let report progress =
                match progress with
                | Trainer.StepDone s when s.Step % 25 = 0 -> log $"epoch {s.Epoch} step {s.Step}/{s.Steps}  loss {s.Loss:F4}  accuracy {100.0 * s.Accuracy:F2}%%"
                | Trainer.EpochDone e -> log $"epoch {e.Epoch}/{e.Epochs}  loss {e.Loss:F4}  accuracy {100.0 * e.Accuracy:F2}%%  {e.Seconds:F1} s"
                | _ -> ()
            Trainer.train trainOptions None network train report
            |> Result.bind (fun outcome -> Trainer.evaluate network test |> Result.map (fun evaluation -> outcome, evaluation))
            |> Result.map (fun (outcome, evaluation) ->
                let origin =
                    match start with
                    | Initialise spec -> InitSpec.describe spec
                    | From path -> $"from {path}"
                [ $"{program.Name} on MNIST ({train.Count} training, {test.Count} test images), {options.Epochs} epochs, batch {options.Batch}, {Optimizer.name options.Optimizer} lr {trainOptions.LearningRate} (cosine), start: {origin}, seed {options.Seed}"
                  $"status {outcome.Status}; start {started:F1} s, training {outcome.Seconds:F1} s, wall {clock.Elapsed.TotalSeconds:F1} s"
                  $"test accuracy {100.0 * evaluation.Accuracy:F2}%% (loss {evaluation.Loss:F4})" ])))
