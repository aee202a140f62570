using Xunit;

namespace Receptor.Host.Tests;

public class ApiTests
{
    private const string SmallNet = "input(3, 16, 16)\nnetwork small =\n    conv(3, 16, padding=1) >> relu >> conv(3, 16, padding=1) >> relu >> gavgpool >> flatten >> dense(10)\n";

    [Fact]
    public void Analyze_counts_lenet5_as_the_zoo_file_states()
    {
        var report = Architecture.Analyze(Repository.Read("Examples", "zoo", "lenet5.rcp"), "lenet5.rcp");
        Assert.Equal("lenet5", report.Name);
        Assert.Equal(61_706, report.Parameters);
        Assert.Equal(new[] { 10 }, report.OutputShape);
        Assert.Contains("c1", Architecture.Table(Repository.Read("Examples", "zoo", "lenet5.rcp")));
    }

    [Fact]
    public void A_network_built_in_csharp_is_the_one_its_text_writes()
    {
        var block = Layer.Residual(Layer.Conv(3, 16, padding: 1, bias: false).Then(Layer.BatchNorm).Then(Layer.Relu)).Then(Layer.Relu);
        var built = Layer.Conv(3, 16, padding: 1)
            .Then(Layer.Repeat(3, block).Named("stage"))
            .Then(Layer.Concat(Layer.Identity, Layer.MaxPool(3, stride: 1).Then(Layer.Of("zeropad(1)"))))
            .Then(Layer.GlobalAvgPool).Then(Layer.Flatten).Then(Layer.Dense(10))
            .Program("built", 3, 32, 32);
        var report = Architecture.Analyze(built);
        // conv 3·9·16+16 = 448, three blocks of 16·9·16 + 32 (batch norm) = 2,336 each, dense 32·10+10 = 330.
        Assert.Equal(448 + 3 * 2_336 + 330, report.Parameters);
        Assert.Contains(report.Layers, l => l.Path.StartsWith("stage/", StringComparison.Ordinal));
        Assert.Equal(built, Architecture.Format(built));
        Assert.Throws<ReceptorException>(() => Layer.Of("conv(3"));
    }

    [Fact]
    public void Bad_text_throws_with_its_line_column_and_hint()
    {
        var e = Assert.Throws<ReceptorException>(() => Architecture.Analyze("input(1, 8, 8)\nnetwork n = conv(3, 4) >> reluu\n", "n.rcp"));
        Assert.Equal("n.rcp", e.File);
        Assert.Equal(2, e.Line);
        Assert.NotNull(e.Column);
        Assert.Contains("relu", e.Hint ?? e.Message);
    }

    [Fact]
    public async Task Initialisation_comparison_agrees_on_a_small_network()
    {
        var comparison = await Initialisation.CompareAsync(SmallNet, seeds: 4, batch: 16);
        Assert.StartsWith("autoinit", comparison.Description);
        Assert.NotEmpty(comparison.Nodes);
        Assert.Equal(comparison.Nodes.Count, comparison.NodesAgreeing);
        Assert.Equal(comparison.Nodes.Count(n => n.Agrees), comparison.NodesAgreeing);
        Assert.All(comparison.Layers, l => Assert.True(l.WithinTolerance, $"{l.Path}: {l.MeasuredVariance} against {l.Target}"));
        await Assert.ThrowsAsync<ReceptorException>(() => Initialisation.CompareAsync(SmallNet, new InitialisationOptions("no-such-method")));
    }

    [Fact]
    public async Task Every_method_is_compared_gradinit_on_labelled_images()
    {
        const string grey = "input(1, 16, 16)\nnetwork grey =\n    conv(3, 32, padding=1) >> relu >> conv(3, 32, padding=1) >> relu >> gavgpool >> flatten >> dense(4)\n";
        // GradInit learns for 390 steps per draw: a tiny network keeps that short.
        const string tiny = "input(1, 8, 8)\nnetwork tiny =\n    conv(3, 4, padding=1) >> relu >> gavgpool >> flatten >> dense(4)\n";
        var blobs = TrainingData.Blobs(8, classes: 4, trainingImages: 256, testImages: 32);
        var lsuv = await Initialisation.CompareAsync(grey, new InitialisationOptions("lsuv"), seeds: 4, batch: 32);
        Assert.StartsWith("lsuv", lsuv.Description);
        Assert.Equal(lsuv.Nodes.Count, lsuv.NodesAgreeing);
        await Assert.ThrowsAsync<ReceptorException>(() => Initialisation.CompareAsync(tiny, new InitialisationOptions("gradinit")));
        var gradinit = await Initialisation.CompareAsync(tiny, new InitialisationOptions("gradinit"), seeds: 2, batch: 16, data: blobs);
        Assert.StartsWith("gradinit", gradinit.Description);
        Assert.NotEmpty(gradinit.Nodes);
        Assert.All(gradinit.Nodes, n => Assert.True(double.IsFinite(n.MeasuredVariance) && double.IsFinite(n.PredictedVariance), n.Path));
    }

    [Fact]
    public async Task Effective_field_is_a_png_with_its_statistics()
    {
        var field = await ReceptiveFields.EffectiveAsync(SmallNet, new EffectiveFieldOptions(Layer: null, Samples: 4));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, field.Png.Take(4));
        Assert.True(field.LuoSize > 0 && field.LuoSize <= field.TheoreticalSize + 1e-9, $"ERF {field.LuoSize} within TRF {field.TheoreticalSize}");
        // Two 3×3 convolutions see 5×5 pixels.
        Assert.Equal(5.0, field.TheoreticalSize, 6);
        Assert.NotEmpty(field.Heatmap);
    }

    [Fact]
    public void Edge_of_chaos_of_relu_is_at_root_two()
    {
        var result = ReceptiveFields.EdgeOfChaos("relu");
        Assert.NotNull(result.CriticalSigmaW);
        Assert.Equal(Math.Sqrt(2.0), result.CriticalSigmaW!.Value, 3);
        Assert.Throws<ReceptorException>(() => ReceptiveFields.EdgeOfChaos("conv(3, 4)"));
    }

    [Fact]
    public async Task A_search_runs_reports_its_trials_and_streams_their_changes()
    {
        var folder = Repository.TempFolder();
        var space = Repository.Read("Examples", "spaces", "mnist-small.rcp");
        var options = new StudyOptions(Data: "synthetic-blobs", Strategy: "random", Trials: 3, Epochs: 1, Validation: 200);
        using var study = SearchStudy.Create(space, $"sqlite:{Path.Combine(folder, "s.study.db")}", options);
        var ended = new List<TrialRecord>();
        var recorded = await study.RunAsync(new SynchronousProgress<TrialRecord>(ended.Add));
        Assert.Equal(3, recorded);
        Assert.Equal(3, ended.Select(t => t.Id).Distinct().Count());
        var status = study.Status();
        Assert.Equal(3, status.Counts["finished"]);
        Assert.NotNull(status.Best);
        Assert.Equal(study.Leaderboard(1)[0].Id, status.Best!.Id);
        var csv = study.ExportCsv();
        Assert.All(study.Trials(), t => Assert.Contains(t.Fingerprint, csv));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var events = new List<TrialEvent>();
        await foreach (var change in study.EventsAsync(TimeSpan.FromMilliseconds(50), cancel.Token))
        {
            events.Add(change);
            if (events.Count == 3)
                break;
        }
        Assert.All(events, e => Assert.Equal("finished", e.Trial.State));
        Assert.All(events, e => Assert.Null(e.Previous));
        using var again = SearchStudy.Open($"sqlite:{Path.Combine(folder, "s.study.db")}");
        Assert.Equal(status.Best.Id, again.Trial(status.Best.Id)!.Id);
        Assert.Throws<ReceptorException>(() => SearchStudy.Open($"sqlite:{Path.Combine(folder, "missing.db")}"));
    }

    /// <summary>Reports on the caller's thread, so that the list is complete when the run returns.</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value)
        {
            lock (this)
                report(value);
        }
    }
}
