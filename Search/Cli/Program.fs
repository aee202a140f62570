/// The `receptor` command line: argument parsing and the live progress display; the commands themselves
/// are in Receptor.Search.Commands.
module Receptor.Cli.Program

open System
open System.Globalization
open Argu
open Spectre.Console
open Receptor.Core.Training
open Receptor.Search

type InitArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Method of name: string
    | Rules of name: string
    | Law of name: string
    | Data of name: string
    | Seeds of count: int
    | Batch of size: int
    | Report
    | Residual of policy: string
    | Plot of png: string
    | Methods of names: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w or n"
            | Method _ -> "autoinit (default), he, he-fan-out, glorot, torch-default, lsuv, fixup, skipinit or gradinit (needs --data mnist or synthetic)"
            | Rules _ -> "moment rules: exact (default) or autoinit-2023"
            | Law _ -> "weight law: normal (default), truncated-normal, uniform or orthogonal"
            | Data _ -> "input for measuring (and LSUV, GradInit): gaussian (default), mnist or synthetic"
            | Seeds _ -> "seeds to measure over (default 4)"
            | Batch _ -> "samples per seed (default 64)"
            | Report -> "predicted beside measured mean and variance at every node"
            | Residual _ -> "residual policy: restore, sqrt-n, zero-gamma or in-degree"
            | Plot _ -> "write variance against depth, measured and predicted, for --methods to this PNG"
            | Methods _ -> "methods for --plot, separated by commas (default autoinit,he,torch-default)"

type EocArgs =
    | [<MainCommand; ExactlyOnce>] Activation of expression: string
    | Sigma_B of bias_sd: float
    | Sigma_W of weight_sd: float
    | Plot of png: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Activation _ -> "an activation as the language writes it: tanh, prelu(0.25), act(x * sigmoid(x))"
            | Sigma_B _ -> "standard deviation of the biases (default 0)"
            | Sigma_W _ -> "also show q* and χ₁ at this weight standard deviation"
            | Plot _ -> "write χ₁ against σ_w to this PNG"

type StudyInitArgs =
    | [<Mandatory>] Out of folder: string
    | Depths of depths: string
    | Width of channels: int
    | Images of count: int
    | Epochs of count: int
    | Gradinit_Iters of count: int
    | Seed of seed: int

    interface IArgParserTemplate with
        member this.Usage =
            let d = InitStudy.defaults ""
            match this with
            | Out _ -> "the folder for the variance-by-depth figures"
            | Depths _ -> "numbers of convolutions, separated by commas (default 20,50)"
            | Width _ -> $"channels of every convolution (default {d.Width})"
            | Images _ -> $"training images, the first of MNIST's 8,000 (default {d.Images})"
            | Epochs _ -> $"training epochs (default {d.Epochs})"
            | Gradinit_Iters _ -> $"GradInit iterations (default {d.GradInitIterations})"
            | Seed _ -> $"seeds the weights, GradInit's batches and the data order (default {d.Seed})"

type FieldStudyArgs =
    | Variants of folder: string
    | Epochs of count: int
    | Samples of count: int
    | Seed of seed: int
    | Out of folder: string

    interface IArgParserTemplate with
        member this.Usage =
            let d = FieldStudy.StudyOptions.defaults
            match this with
            | Variants _ -> $"the folder of variant .rcp files, one row each (default {d.Variants})"
            | Epochs _ -> $"training epochs on far-pair per variant (default {d.Epochs})"
            | Samples _ -> $"ERF samples at initialisation and after training (default {d.Samples})"
            | Seed _ -> $"training seed (default {d.Seed})"
            | Out _ -> $"where field-study.json, .md and .png go (default {d.Out})"

type StudyArgs =
    | [<CliPrefix(CliPrefix.None)>] Init of ParseResults<StudyInitArgs>
    | [<CliPrefix(CliPrefix.None)>] Fields of ParseResults<FieldStudyArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Init _ -> "initialisers × activations on plain CNNs: variance by depth at init, accuracy after training"
            | Fields _ -> "train every field-layer variant on far-pair and set its test accuracy against its ERF"

type AnalyzeArgs =
    | [<MainCommand; ExactlyOnce; Last>] File of path: string
    | Input of shape: string
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w or n"
            | Json -> "print the report as JSON"

type FetchArgs =
    | [<MainCommand; ExactlyOnce>] Name of data: string
    | Dir of path: string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Name _ -> "the data set: mnist"
            | Dir _ -> "the folder to keep it in (default: $RECEPTOR_DATA, else ~/.cache/receptor/mnist)"

type DataArgs =
    | [<CliPrefix(CliPrefix.None)>] Fetch of ParseResults<FetchArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Fetch _ -> "download a data set into its cache folder, unless it is there already"

type TrainArgs =
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

    interface IArgParserTemplate with
        member this.Usage =
            let d = TrainOptions.defaults
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Data _ -> "mnist, synthetic-blobs or far-pair"
            | Epochs _ -> $"epochs in all, counting those of a resumed checkpoint (default {d.Epochs})"
            | Batch _ -> $"mini-batch size (default {d.BatchSize})"
            | Lr _ ->
                let sgd, adam = Optimizer.defaultLearningRate Sgd, Optimizer.defaultLearningRate Adam
                let invariant (x: float) = x.ToString(CultureInfo.InvariantCulture)
                $"initial learning rate (default {invariant sgd} with sgd, {invariant adam} with adam)"
            | Optimizer _ -> $"sgd (nesterov momentum 0.9) or adam (default {Optimizer.name d.Optimizer})"
            | Schedule _ -> $"cosine or constant (default {Schedule.name d.Schedule})"
            | Seed _ -> $"seeds the initial weights and the data order (default {d.Seed})"
            | Device _ -> "auto, cpu or cuda (default auto)"
            | Checkpoint _ -> "save weights after every epoch at PATH (with PATH.optim and PATH.json)"
            | Resume -> "continue from the checkpoint at --checkpoint PATH"
            | Complexity _ -> "add λ·Σ r_h·r_w of the DynOPool layers to the loss, so that they learn to shrink (default 0)"
            | Images _ -> "train on the first N training images (default: all)"

type RfArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Unit of row_column: string
    | Layer of path: string
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w"
            | Unit _ -> "the output unit whose input region to show (default: the central unit)"
            | Layer _ -> "the layer's path (default: the last spatial layer)"
            | Json -> "print the report as JSON"

type ErfArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Input of shape: string
    | Checkpoint of path: string
    | Data of source: string
    | Samples of count: int
    | Batch of count: int
    | Layer of path: string
    | Out of png: string
    | Seed of seed: int64
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Input _ -> "override the input shape: c,h,w"
            | Checkpoint _ -> "TorchSharp weights (module.save) shared by every sample; default: a fresh initialisation per sample"
            | Data _ -> "gaussian (default) or mnist"
            | Samples _ -> "samples to average over (default 16)"
            | Batch _ -> "samples per forward/backward pass (default: all)"
            | Layer _ -> "the layer's path (default: the last spatial layer)"
            | Out _ -> "write the heatmap, linear and log scale, to this PNG"
            | Seed _ -> "random seed (default 1)"
            | Json -> "print the record as JSON"

type GrowthArgs =
    | Family of names: string
    | Depths of depths: string
    | Samples of count: int
    | Out of png: string
    | Seed of seed: int64
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Family _ -> "plain, strided, dilated, residual or dropout; several separated by commas (default plain)"
            | Depths _ -> "depths separated by commas (default 2,4,8,16,32)"
            | Samples _ -> "initialisations per depth (default 16)"
            | Out _ -> "write the log-log growth figure to this PNG"
            | Seed _ -> "random seed (default 1)"
            | Json -> "print the curves as JSON"

type AllConvArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Out of path: string
    | Average

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | File _ -> "an architecture in the text syntax (.rcp)"
            | Out _ -> "write the rewritten program to this file instead of printing it"
            | Average -> "replace average pooling too"

type RewriteArgs =
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("all-conv")>] All_Conv of ParseResults<AllConvArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | All_Conv _ -> "max pooling becomes a strided convolution of the same geometry (Springenberg et al. 2015)"

type Arguments =
    | [<CliPrefix(CliPrefix.None)>] Analyze of ParseResults<AnalyzeArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Init of ParseResults<InitArgs>
    | [<CliPrefix(CliPrefix.None)>] Eoc of ParseResults<EocArgs>
    | [<CliPrefix(CliPrefix.None)>] Study of ParseResults<StudyArgs>
    | [<CliPrefix(CliPrefix.None)>] Rf of ParseResults<RfArgs>
    | [<CliPrefix(CliPrefix.None)>] Erf of ParseResults<ErfArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("erf-growth")>] Erf_Growth of ParseResults<GrowthArgs>
    | [<CliPrefix(CliPrefix.None)>] Rewrite of ParseResults<RewriteArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Analyze _ -> "shapes, parameters, MACs and receptive fields of every layer"
            | Data _ -> "data sets: fetch"
            | Train _ -> "train a network and report its accuracy on held-out images (exit 3 if it diverges)"
            | Init _ -> "initialise by a named method; --report compares predicted and measured moments per node"
            | Eoc _ -> "edge of chaos of an activation: fixed point q*, χ₁ and the critical σ_w"
            | Study _ -> "studies that train many networks: init (initialisers × activations), fields (far-pair accuracy against the ERF)"
            | Rf _ -> "theoretical receptive fields: per-layer table, alignment, the input region of one unit"
            | Erf _ -> "effective receptive field: gradient heatmap, Gaussian fit, sizes, ERF/TRF"
            | Erf_Growth _ -> "ERF against depth for families of stacked 3×3 convolutions"
            | Rewrite _ -> "rewrite a program's tree and print it in the text syntax: all-conv"

/// A live Spectre.Console display: one progress bar per epoch with its loss, accuracy and speed.
let private liveDisplay =
    { new Commands.ProgressDisplay with
        member _.Run train =
            let describe epoch epochs loss accuracy rate = Markup.Escape(Commands.progressLine epoch epochs loss accuracy rate)
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

let private train (a: ParseResults<TrainArgs>) =
    let arguments: Commands.TrainArguments =
        { File = a.GetResult TrainArgs.File
          Data = a.GetResult TrainArgs.Data
          Epochs = a.TryGetResult TrainArgs.Epochs
          Batch = a.TryGetResult TrainArgs.Batch
          LearningRate = a.TryGetResult TrainArgs.Lr
          Optimizer = a.TryGetResult TrainArgs.Optimizer
          Schedule = a.TryGetResult TrainArgs.Schedule
          Seed = a.TryGetResult TrainArgs.Seed
          Device = a.TryGetResult TrainArgs.Device
          Checkpoint = a.TryGetResult TrainArgs.Checkpoint
          Resume = a.Contains TrainArgs.Resume
          Complexity = a.TryGetResult TrainArgs.Complexity
          Images = a.TryGetResult TrainArgs.Images }
    let display =
        if Console.IsOutputRedirected || not AnsiConsole.Profile.Capabilities.Interactive then Commands.lineDisplay Console.Out
        else liveDisplay
    Commands.train Console.Out Console.Error display arguments

[<EntryPoint>]
let main argv =
    Receptor.Core.Torch.NativeRuntime.configure ()
    let parser = ArgumentParser.Create<Arguments>(programName = "receptor")
    try
        let arguments = parser.ParseCommandLine(argv, raiseOnUsage = true)
        match arguments.GetSubCommand() with
        | Analyze a ->
            Commands.analyze Console.Out Console.Error (a.GetResult AnalyzeArgs.File) (a.TryGetResult AnalyzeArgs.Input) (a.Contains AnalyzeArgs.Json)
        | Data d ->
            match d.GetSubCommand() with
            | Fetch f -> Commands.fetchData Console.Out Console.Error (f.GetResult Name) (f.TryGetResult Dir)
        | Train t -> train t
        | Init a ->
            let d = InitCommands.defaults (a.GetResult InitArgs.File)
            InitCommands.run Console.Out Console.Error
                { d with
                    Input = a.TryGetResult InitArgs.Input
                    Method = a.GetResult (InitArgs.Method, d.Method)
                    Rules = a.GetResult (InitArgs.Rules, d.Rules)
                    Law = a.GetResult (InitArgs.Law, d.Law)
                    Data = a.GetResult (InitArgs.Data, d.Data)
                    Seeds = a.GetResult (InitArgs.Seeds, d.Seeds)
                    Batch = a.GetResult (InitArgs.Batch, d.Batch)
                    Report = a.Contains InitArgs.Report
                    Residual = a.TryGetResult InitArgs.Residual
                    Plot = a.TryGetResult InitArgs.Plot
                    Methods = a.TryGetResult InitArgs.Methods }
        | Eoc a ->
            EocCommands.run Console.Out Console.Error (a.GetResult EocArgs.Activation) (a.GetResult(EocArgs.Sigma_B, defaultValue = 0.0))
                (a.TryGetResult EocArgs.Sigma_W) (a.TryGetResult EocArgs.Plot)
        | Study s ->
            match s.GetSubCommand () with
            | StudyArgs.Init a ->
                let d = InitStudy.defaults (a.GetResult StudyInitArgs.Out)
                let depth (text: string) =
                    match Int32.TryParse (text.Trim (), NumberStyles.None, CultureInfo.InvariantCulture) with
                    | true, n when n > 0 -> Some n
                    | _ -> None
                let depths = a.TryGetResult StudyInitArgs.Depths |> Option.map (fun text -> text, text.Split ',' |> Array.map depth)
                match depths with
                | Some (text, parsed) when parsed |> Array.exists Option.isNone ->
                    Console.Error.WriteLine $"--depths: expected positive whole numbers separated by commas, got '{text}'"
                    Commands.exitBadInput
                | _ ->
                    InitStudy.study Console.Out Console.Error
                        { d with
                            Depths = depths |> Option.map (snd >> Array.choose id >> List.ofArray) |> Option.defaultValue d.Depths
                            Width = a.GetResult (StudyInitArgs.Width, d.Width)
                            Images = a.GetResult (StudyInitArgs.Images, d.Images)
                            Epochs = a.GetResult (StudyInitArgs.Epochs, d.Epochs)
                            GradInitIterations = a.GetResult (StudyInitArgs.Gradinit_Iters, d.GradInitIterations)
                            Seed = a.GetResult (StudyInitArgs.Seed, d.Seed) }
            | Fields f ->
                let d = FieldStudy.StudyOptions.defaults
                FieldStudy.command Console.Out Console.Error
                    { Variants = f.GetResult(FieldStudyArgs.Variants, defaultValue = d.Variants)
                      Epochs = f.GetResult(FieldStudyArgs.Epochs, defaultValue = d.Epochs)
                      Samples = f.GetResult(FieldStudyArgs.Samples, defaultValue = d.Samples)
                      Seed = f.GetResult(FieldStudyArgs.Seed, defaultValue = d.Seed)
                      Out = f.GetResult(FieldStudyArgs.Out, defaultValue = d.Out) }
        | Rf a ->
            FieldCommands.rf Console.Out Console.Error (a.GetResult RfArgs.File) (a.TryGetResult RfArgs.Input)
                (a.TryGetResult RfArgs.Unit) (a.TryGetResult RfArgs.Layer) (a.Contains RfArgs.Json)
        | Erf a ->
            FieldCommands.erf Console.Out Console.Error (a.GetResult ErfArgs.File) (a.TryGetResult ErfArgs.Input)
                { Checkpoint = a.TryGetResult ErfArgs.Checkpoint
                  Data = a.TryGetResult ErfArgs.Data
                  Samples = a.GetResult(ErfArgs.Samples, defaultValue = 16)
                  Batch = a.TryGetResult ErfArgs.Batch
                  Layer = a.TryGetResult ErfArgs.Layer
                  Out = a.TryGetResult ErfArgs.Out
                  Seed = a.GetResult(ErfArgs.Seed, defaultValue = 1L)
                  Json = a.Contains ErfArgs.Json }
        | Erf_Growth a ->
            FieldCommands.growth Console.Out Console.Error (a.TryGetResult Family) (a.TryGetResult Depths)
                (a.GetResult(GrowthArgs.Samples, defaultValue = 16)) (a.TryGetResult GrowthArgs.Out)
                (a.GetResult(GrowthArgs.Seed, defaultValue = 1L)) (a.Contains GrowthArgs.Json)
        | Rewrite r ->
            match r.GetSubCommand() with
            | All_Conv a ->
                RewriteCommands.allConv Console.Out Console.Error (a.GetResult AllConvArgs.File) (a.TryGetResult AllConvArgs.Out)
                    (a.Contains AllConvArgs.Average)
    with
    | :? ArguParseException as e ->
        // Argu reports usage requests and bad command lines the same way; only the latter is an error.
        if e.ErrorCode = ErrorCode.HelpText then
            Console.Out.WriteLine e.Message
            Commands.exitOk
        else
            Console.Error.WriteLine e.Message
            Commands.exitBadInput
