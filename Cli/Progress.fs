/// How `receptor train` shows its progress: a live Spectre.Console display on a terminal, one line per
/// epoch in logs and tests.
module Receptor.Cli.Progress

open System
open System.Globalization
open System.IO
open Spectre.Console
open Receptor.Core.Training
open Receptor.Cli.Common

/// Shows training progress: Run gives the training function the callback to report through.
type Display =
    abstract Run: ((Trainer.Progress -> unit) -> 'T) -> 'T

/// Where an epoch stands: `epoch 3/10  loss 0.1234  accuracy 96.50%  1,234 images/s`.
let line epoch epochs (loss: float) accuracy (imagesPerSecond: float) =
    let loss = loss.ToString("F4", CultureInfo.InvariantCulture)
    $"epoch {epoch}/{epochs}  loss {loss}  accuracy {percent accuracy}  {count (int imagesPerSecond)} images/s"

/// One line per finished epoch, for logs and tests.
let lines (output: TextWriter) =
    { new Display with
        member _.Run train =
            train (fun progress ->
                match progress with
                | Trainer.EpochDone e ->
                    output.WriteLine $"{line e.Epoch e.Epochs e.Loss e.Accuracy e.ImagesPerSecond}  {e.Seconds:F1} s"
                | Trainer.Resumed (epoch, step) -> output.WriteLine $"resumed after epoch {epoch} (step {step})"
                | Trainer.StepDone _ | Trainer.Saved _ -> ()) }

/// One progress bar per epoch with its loss, accuracy and speed, redrawn as the steps go.
let private live =
    { new Display with
        member _.Run train =
            let describe epoch epochs loss accuracy rate = Markup.Escape(line epoch epochs loss accuracy rate)
            AnsiConsole
                .Progress()
                .AutoClear(false)
                .Columns(TaskDescriptionColumn(), ProgressBarColumn(), PercentageColumn(), ElapsedTimeColumn())
                .Start(fun context ->
                    let current = ref None
                    train (fun progress ->
                        match progress with
                        | Trainer.StepDone s ->
                            let task =
                                match current.Value with
                                | Some (epoch, task) when epoch = s.Epoch -> task
                                | _ ->
                                    let task = context.AddTask(describe s.Epoch s.Epochs 0.0 0.0 0.0, maxValue = float s.Steps)
                                    current.Value <- Some (s.Epoch, task)
                                    task
                            task.Value <- float s.Step
                            task.Description <- describe s.Epoch s.Epochs s.Loss s.Accuracy s.ImagesPerSecond
                        | Trainer.EpochDone e ->
                            current.Value
                            |> Option.iter (fun (_, task) -> task.Description <- describe e.Epoch e.Epochs e.Loss e.Accuracy e.ImagesPerSecond)
                        | Trainer.Resumed (epoch, step) ->
                            context.AddTask($"resumed after epoch {epoch} (step {step})", maxValue = 1.0).Value <- 1.0
                        | Trainer.Saved _ -> ())) }

/// The live display on an interactive console, lines on standard output otherwise.
let forConsole () =
    if Console.IsOutputRedirected || not AnsiConsole.Profile.Capabilities.Interactive then lines Console.Out else live
