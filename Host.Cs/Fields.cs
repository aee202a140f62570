using Microsoft.FSharp.Core;
using Receptor.Core.Fields;
using Receptor.Core.Reporting;
using Receptor.Core.Signal;
using Receptor.Dsl;
using TorchSharp;

namespace Receptor.Host;

/// <summary>What an effective receptive field is measured on.</summary>
/// <param name="Layer">The layer path whose central unit is explained; null for the last spatial layer.</param>
/// <param name="Samples">Samples (initialisations and inputs) to average over.</param>
/// <param name="Seed">Seeds the draws.</param>
/// <param name="CheckpointPath">TorchSharp weights shared by every sample; null for a fresh initialisation per sample.</param>
public sealed record EffectiveFieldOptions(string? Layer = null, int Samples = 16, long Seed = 1, string? CheckpointPath = null);

/// <summary>The effective receptive field (Luo et al.) of one unit: the heatmap of |∂unit/∂input| and its statistics.</summary>
/// <param name="Layer">The layer whose central unit was explained.</param>
/// <param name="Samples">Samples averaged.</param>
/// <param name="LuoSize">The ERF's size by Luo et al.'s rule, in pixels.</param>
/// <param name="TheoreticalSize">The theoretical field's size, in pixels.</param>
/// <param name="Ratio">ERF over TRF.</param>
/// <param name="SigmaRow">The fitted Gaussian's standard deviation along the rows.</param>
/// <param name="SigmaColumn">Along the columns.</param>
/// <param name="RSquared">The Gaussian fit's R².</param>
/// <param name="Heatmap">The gradient magnitudes, rows of the cropped input region.</param>
/// <param name="Png">The heatmap drawn, linear and log scale side by side, with the theoretical field dashed.</param>
public sealed record EffectiveField(
    string Layer, int Samples, double LuoSize, double TheoreticalSize, double Ratio, double SigmaRow, double SigmaColumn,
    double RSquared, IReadOnlyList<IReadOnlyList<double>> Heatmap, byte[] Png);

/// <summary>The edge of chaos of an activation in a deep, wide network (Poole et al.; Schoenholz et al.).</summary>
/// <param name="Activation">The activation as given.</param>
/// <param name="SigmaB">The biases' standard deviation.</param>
/// <param name="CriticalSigmaW">The weight standard deviation where χ₁ = 1; null when there is none.</param>
/// <param name="FixedPoint">The variance q* at the critical point; null when there is none.</param>
/// <param name="Reason">Why there is no critical point; null when there is one.</param>
public sealed record EdgeOfChaosResult(string Activation, double SigmaB, double? CriticalSigmaW, double? FixedPoint, string? Reason);

/// <summary>Theoretical and effective receptive fields, and the edge of chaos.</summary>
public static class ReceptiveFields
{
    /// <summary>Every node's theoretical receptive field (size, stride, padding), as <see cref="Architecture.Analyze"/> reports them.</summary>
    /// <exception cref="ReceptorException">The text does not parse or check.</exception>
    public static IReadOnlyList<LayerReport> Theoretical(string source, string fileName = "<source>") =>
        Architecture.Analyze(source, fileName).Layers;

    /// <summary>Measures the effective receptive field of a layer's central unit on standard-normal inputs.</summary>
    /// <exception cref="ReceptorException">The text does not parse or check, the layer is unknown, or the weights do not load.</exception>
    public static Task<EffectiveField> EffectiveAsync(
        string source, EffectiveFieldOptions? options = null, string fileName = "<source>", CancellationToken cancellationToken = default)
    {
        Core.Torch.NativeRuntime.configure();
        var chosen = options ?? new EffectiveFieldOptions();
        if (chosen.Samples < 1)
            throw new ReceptorException("Samples must be at least 1", null, null, null, null, null);
        return Task.Run(() =>
        {
            var program = Failures.Unwrap(Parser.parseProgram(fileName, source));
            var tree = Failures.Unwrap(Expand.program(program));
            var weights = chosen.CheckpointPath is null
                ? ErfWeights.FreshPerSample
                : ErfWeights.NewShared(FuncConvert.FromFunc<torch.nn.Module, FSharpResult<Unit, Diagnostic>>(network =>
                {
                    try
                    {
                        network.load(chosen.CheckpointPath);
                        return FSharpResult<Unit, Diagnostic>.NewOk(null!);
                    }
                    catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
                    {
                        return FSharpResult<Unit, Diagnostic>.NewError(
                            DiagnosticModule.at(Place.NewText(chosen.CheckpointPath, 1, 1), $"cannot load these weights into the network: {e.Message}"));
                    }
                }));
            cancellationToken.ThrowIfCancellationRequested();
            var request = new ErfRequest(
                program.Name, tree, program.Input, chosen.Layer is null ? FSharpOption<string>.None : FSharpOption<string>.Some(chosen.Layer),
                chosen.Samples, chosen.Samples, chosen.Seed, ErfInput.Gaussian, weights, true);
            var map = Failures.Unwrap(Erf.measure(request));
            var summary = ErfSummaryModule.ofMap(map);
            var file = Path.Combine(Path.GetTempPath(), $"receptor-erf-{Guid.NewGuid():N}.png");
            try
            {
                Failures.Unwrap(Plots.heatmap(file, map, summary));
                var png = File.ReadAllBytes(file);
                var rows = Enumerable.Range(0, map.Values.GetLength(0))
                    .Select(r => (IReadOnlyList<double>)Enumerable.Range(0, map.Values.GetLength(1)).Select(c => map.Values[r, c]).ToList())
                    .ToList();
                return new EffectiveField(
                    map.Layer.Path, map.Samples, summary.Size.Luo, summary.TheoreticalSize, summary.Ratio, summary.Fit.SigmaRow,
                    summary.Fit.SigmaColumn, summary.Fit.RSquared, rows, png);
            }
            finally
            {
                File.Delete(file);
            }
        }, cancellationToken);
    }

    /// <summary>The weight scale at which an activation sits at the edge of chaos (χ₁ = 1), as <c>receptor eoc</c> finds it.</summary>
    /// <param name="activation">As the language writes it: <c>tanh</c>, <c>prelu(0.25)</c>, <c>act(x * sigmoid(x))</c> or a bare expression of x.</param>
    /// <param name="sigmaB">The biases' standard deviation, at least 0.</param>
    /// <exception cref="ReceptorException">The activation does not parse or is not an activation.</exception>
    public static EdgeOfChaosResult EdgeOfChaos(string activation, double sigmaB = 0.0)
    {
        if (!(sigmaB >= 0.0))
            throw new ReceptorException("sigmaB must be at least 0", null, null, null, null, null);
        var parsed = Failures.Unwrap(Core.Signal.EdgeOfChaos.parseActivation(activation));
        return Core.Signal.EdgeOfChaos.critical(parsed, sigmaB) switch
        {
            Core.Signal.EdgeOfChaos.Critical.Critical c => new EdgeOfChaosResult(activation, sigmaB, c.weightSd, c.q, null),
            Core.Signal.EdgeOfChaos.Critical.NoCritical n => new EdgeOfChaosResult(activation, sigmaB, null, null, n.reason),
            _ => throw new InvalidOperationException("unknown edge-of-chaos outcome"),
        };
    }
}
