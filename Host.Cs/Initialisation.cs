using Microsoft.FSharp.Core;
using Receptor.Core.Signal;
using Receptor.Dsl;

namespace Receptor.Host;

/// <summary>One node's mean and variance as the analysis predicts them beside TorchSharp's measurement.</summary>
/// <param name="Path">The node's layer path.</param>
/// <param name="PredictedMean">The predicted mean over samples, channels and positions.</param>
/// <param name="PredictedVariance">The predicted variance.</param>
/// <param name="MeasuredMean">The measured mean, pooled over the seeds.</param>
/// <param name="MeasuredVariance">The measured variance, pooled over the seeds.</param>
/// <param name="MeasuredVarianceError">The standard error of the measured variance over the seeds.</param>
/// <param name="Agrees">Whether prediction and measurement agree by the rule the tests use (15 %, or four standard errors).</param>
public sealed record NodeComparison(
    string Path, double PredictedMean, double PredictedVariance, double MeasuredMean, double MeasuredVariance,
    double MeasuredVarianceError, bool Agrees);

/// <summary>A weighted layer's measured output variance against the variance the method aims it at.</summary>
/// <param name="Path">The layer path.</param>
/// <param name="Kind">The layer kind, such as <c>conv</c>.</param>
/// <param name="Target">The aimed-at variance: 1, or a ReLU-gated readout's smaller one under AutoInit.</param>
/// <param name="MeasuredVariance">The measured variance of the layer's output.</param>
/// <param name="RelativeError">|target − measured| / measured, as the zoo table computes it.</param>
public sealed record LayerOnTarget(string Path, string Kind, double Target, double MeasuredVariance, double RelativeError)
{
    /// <summary>Whether the layer is within 15 % of its target, the share the zoo table judges by.</summary>
    public bool WithinTolerance => RelativeError <= Agreement.targetShare;
}

/// <summary>An initialisation's predicted moments against those measured on its draws (<c>receptor init --report</c>).</summary>
/// <param name="Description">The method, rules and weight law.</param>
/// <param name="Seeds">Draws measured, one per seed 1…Seeds.</param>
/// <param name="Batch">Standard-normal samples per draw, measured in training mode.</param>
/// <param name="Nodes">Every node predicted and measured, in evaluation order.</param>
/// <param name="Layers">Every weighted layer whose output is its node's.</param>
/// <param name="NodesAgreeing">Nodes whose prediction agrees with the measurement.</param>
/// <param name="LayersOnTarget">Weighted layers within 15 % of their target.</param>
/// <param name="MedianError">The median relative error of the weighted layers against their targets.</param>
public sealed record InitialisationComparison(
    string Description, int Seeds, int Batch, IReadOnlyList<NodeComparison> Nodes, IReadOnlyList<LayerOnTarget> Layers,
    int NodesAgreeing, int LayersOnTarget, double MedianError);

/// <summary>Predicts an initialisation's moments and measures its draws.</summary>
public static class Initialisation
{
    /// <summary>Draws the initialisation once per seed, measures every node in training mode on a fresh batch per seed and sets the prediction beside it.</summary>
    /// <param name="source">The program, as in an <c>.rcp</c> file.</param>
    /// <param name="options">The initialisation, any method; null for AutoInit under the exact rules. Residual policies are compared by <c>receptor init --report --residual</c>.</param>
    /// <param name="seeds">Draws to measure, at least 2.</param>
    /// <param name="batch">Samples per draw, at least 2.</param>
    /// <param name="fileName">The name used in error positions.</param>
    /// <param name="data">Labelled images to initialise and measure on (their per-pixel moments enter the prediction; GradInit learns on them); null for standard-normal input.</param>
    /// <param name="cancellationToken">Cancels before the measurement starts.</param>
    /// <exception cref="ReceptorException">The text does not parse or check, an option is unknown, the images do not fit the network, or GradInit is asked for without images.</exception>
    public static Task<InitialisationComparison> CompareAsync(
        string source, InitialisationOptions? options = null, int seeds = 8, int batch = 8, string fileName = "<source>",
        TrainingData? data = null, CancellationToken cancellationToken = default)
    {
        Core.Torch.NativeRuntime.configure();
        var chosen = options ?? new InitialisationOptions();
        if (seeds < 2 || batch < 2)
            throw new ReceptorException("seeds and batch must be at least 2", null, null, null, null, null);
        if (chosen.Residual is not null)
            throw new ReceptorException("residual policies are not compared here: use receptor init --report --residual", null, null, null, null, null);
        return Task.Run(() =>
        {
            var program = Failures.Unwrap(Parser.parseProgram(fileName, source));
            var spec = Failures.Unwrap(InitSpecModule.parse(chosen.Method, chosen.Rules, chosen.Law, FSharpOption<string>.None));
            var input = data is null
                ? Agreement.SourceModule.gaussian(program.Input, batch)
                : Failures.Unwrap(Agreement.SourceModule.labelled(program.Input, batch, "training images", data.Train));
            var labelled = data is null ? FSharpOption<Core.Data.Dataset>.None : FSharpOption<Core.Data.Dataset>.Some(data.Train);
            var method = Failures.Unwrap(Core.Signal.Initialisation.methodFor(spec, labelled));
            cancellationToken.ThrowIfCancellationRequested();
            var (prediction, measured) = Failures.Unwrap(Agreement.measureMethod(method, seeds, input, program));
            var verdict = Agreement.verdict(prediction, measured);
            var nodes = Agreement.pairs(prediction, measured)
                .Select(pair => new NodeComparison(
                    pair.Item1.Path, pair.Item1.Mean, pair.Item1.Variance, pair.Item2.Mean, pair.Item2.Variance, pair.Item2.VarianceError,
                    Measurement.agreesWithin(Measurement.reportShare, pair.Item1, pair.Item2)))
                .ToList();
            var measuredAt = measured.ToDictionary(m => m.Path);
            var layers = prediction.Layers
                .Where(l => l.Item1.Output && measuredAt.ContainsKey(l.Item1.Path))
                .Select(l => new LayerOnTarget(
                    l.Item1.Path, l.Item1.Kind, l.Item2.Target, measuredAt[l.Item1.Path].Variance,
                    Agreement.relativeError(l.Item2.Target, measuredAt[l.Item1.Path].Variance)))
                .ToList();
            return new InitialisationComparison(
                InitSpecModule.describe(spec), seeds, batch, nodes, layers, verdict.Agreeing, verdict.OnTarget, verdict.MedianError);
        }, cancellationToken);
    }
}
