using System.Runtime.CompilerServices;
using Microsoft.FSharp.Core;
using Receptor.Search;

namespace Receptor.Host;

/// <summary>How a study searches and what each trial does (the options of <c>receptor search run</c>).</summary>
/// <param name="Data">The data each candidate trains on: mnist or synthetic-blobs.</param>
/// <param name="Strategy">random, evolution (aging evolution) or asha.</param>
/// <param name="Trials">Trials to evaluate; candidates the constraints reject do not count.</param>
/// <param name="Epochs">Epochs each candidate trains for.</param>
/// <param name="Init">The initialisation each candidate is drawn with, as <c>receptor train --init</c> takes it.</param>
/// <param name="Validation">Training images held out to score candidates.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="LearningRate">Null for the optimiser's default.</param>
/// <param name="Seed">Seeds the proposals and each trial's draw.</param>
/// <param name="MaxMultiplyAccumulates">Candidates above are rejected before training; null for no limit.</param>
/// <param name="MaxParameters">Candidates above are rejected before training; null for no limit.</param>
/// <param name="MinReceptiveField">Candidates whose output units see fewer pixels are rejected; null for no limit.</param>
/// <param name="Population">Aging evolution's population.</param>
/// <param name="Tournament">Aging evolution's tournament size.</param>
/// <param name="Eta">ASHA's reduction factor.</param>
/// <param name="TrialSeconds">A trial running longer ends timed out; null for no limit.</param>
/// <param name="Name">The study's name; null for the space's network's.</param>
public sealed record StudyOptions(
    string Data = "mnist", string Strategy = "evolution", int Trials = 20, int Epochs = 1, string Init = "autoinit",
    int Validation = 1000, int BatchSize = 64, double? LearningRate = null, int Seed = 1, long? MaxMultiplyAccumulates = null,
    long? MaxParameters = null, int? MinReceptiveField = null, int Population = 20, int Tournament = 5, int Eta = 3,
    double? TrialSeconds = null, string? Name = null);

/// <summary>One epoch of a trial, scored on the held-out images.</summary>
public sealed record EpochRecord(int Epoch, double ValidationAccuracy, double ValidationLoss, double TrainingLoss);

/// <summary>A trial as the store holds it.</summary>
/// <param name="Id">The store's id.</param>
/// <param name="Number">1, 2, … in the order proposed.</param>
/// <param name="State">waiting, running, finished, diverged, failed, timed-out or rejected.</param>
/// <param name="Attempt">How many times a worker claimed it.</param>
/// <param name="Worker">The worker that holds or held it.</param>
/// <param name="BestValidationAccuracy">The best epoch's accuracy on the held-out images; null before the first epoch.</param>
/// <param name="Parameters">Learnable parameters.</param>
/// <param name="MultiplyAccumulates">Multiply-accumulates per image.</param>
/// <param name="ReceptiveField">The smaller side of the output units' theoretical receptive field.</param>
/// <param name="Architecture">The candidate in canonical text.</param>
/// <param name="Fingerprint">The network's fingerprint (unique in the study).</param>
/// <param name="Message">Why it was rejected, diverged, failed or timed out.</param>
/// <param name="Started">When its attempt started.</param>
/// <param name="Ended">When it ended.</param>
/// <param name="WallSeconds">Its attempt's wall time.</param>
/// <param name="Epochs">Its epochs so far.</param>
public sealed record TrialRecord(
    long Id, int Number, string State, int Attempt, string? Worker, double? BestValidationAccuracy, long Parameters,
    long MultiplyAccumulates, int ReceptiveField, string Architecture, string Fingerprint, string? Message,
    DateTimeOffset? Started, DateTimeOffset? Ended, double? WallSeconds, IReadOnlyList<EpochRecord> Epochs);

/// <summary>A study's state.</summary>
/// <param name="Name">The study's name.</param>
/// <param name="Store">Where it is stored (no password).</param>
/// <param name="Budget">Trials to evaluate.</param>
/// <param name="Counts">Trials by state, every state included.</param>
/// <param name="Best">The best finished trial so far.</param>
public sealed record StudyStatus(string Name, string Store, int Budget, IReadOnlyDictionary<string, int> Counts, TrialRecord? Best);

/// <summary>A change of one trial seen by <see cref="SearchStudy.EventsAsync"/>.</summary>
/// <param name="Trial">The trial after the change.</param>
/// <param name="Previous">Its state before (null for a trial not seen before).</param>
public sealed record TrialEvent(TrialRecord Trial, string? Previous);

/// <summary>An architecture search: a space, its trials in a store (SQLite file or PostgreSQL), and workers.</summary>
public sealed class SearchStudy : IDisposable
{
    private readonly TrialStore store;

    private SearchStudy(TrialStore store) => this.store = store;

    /// <summary>The study's name.</summary>
    public string Name => store.Study.Name;

    /// <summary>Where the study is stored, as it can be shown (no password).</summary>
    public string Store => store.Location;

    /// <summary>Writes a study of a space to a store, or opens it when the store holds it with the same settings.</summary>
    /// <param name="spaceSource">The search space, as in an <c>.rcp</c> file with choice points.</param>
    /// <param name="storage">sqlite:PATH (or a path), postgres://USER:PASSWORD@HOST/DB, postgres:env:NAME or postgres:file:PATH.</param>
    /// <param name="options">The search; null for the defaults.</param>
    /// <param name="fileName">The name used in error positions.</param>
    /// <exception cref="ReceptorException">The space does not parse, an option is invalid, or the store refuses the study.</exception>
    public static SearchStudy Create(string spaceSource, string storage, StudyOptions? options = null, string fileName = "<space>") =>
        Create(spaceSource, Failures.Unwrap(StorageModule.parse(storage)), options, fileName);

    internal static SearchStudy Create(string spaceSource, Storage storage, StudyOptions? options, string fileName)
    {
        var o = options ?? new StudyOptions();
        var space = Failures.Unwrap(Space.parse(fileName, spaceSource));
        var strategy = o.Strategy.ToLowerInvariant() switch
        {
            "random" => Strategies.Strategy.RandomSearch,
            "evolution" => Strategies.Strategy.NewEvolution(o.Population, o.Tournament),
            "asha" => Strategies.Strategy.NewAsha(o.Eta),
            _ => throw new ReceptorException($"Strategy expects random, evolution or asha, got '{o.Strategy}'", null, null, null, null, null),
        };
        if (o.Trials < 1 || o.Epochs < 1 || o.Validation < 1 || o.BatchSize < 1)
            throw new ReceptorException("Trials, Epochs, Validation and BatchSize must be at least 1", null, null, null, null, null);
        var constraints = new Constraints.Constraints(
            Option(o.MaxParameters), Option(o.MaxMultiplyAccumulates), Option(o.MinReceptiveField), FSharpOption<Tuple<double, double>>.None);
        var objective = new TrainObjective(o.Data, o.Init, o.Validation, o.BatchSize, Option(o.LearningRate), 1);
        var definition = new Studies.Definition(
            o.Name is null ? FSharpOption<string>.None : FSharpOption<string>.Some(o.Name), strategy, o.Epochs, constraints,
            FSharpOption<Strategies.Ranking>.None, objective, o.Trials, o.Seed, Option(o.TrialSeconds));
        var study = Studies.define(space, spaceSource, definition);
        return new SearchStudy(Failures.Unwrap(TrialStore.Create(storage, study)));
    }

    /// <summary>Opens a study in a store (<c>STORE#NAME</c> where the store holds several).</summary>
    /// <exception cref="ReceptorException">The store cannot be reached, or holds no such study.</exception>
    public static SearchStudy Open(string storage) => Open(Failures.Unwrap(StorageModule.parse(storage)));

    internal static SearchStudy Open(Storage storage) => new(Failures.Unwrap(TrialStore.Open(storage)));

    /// <summary>Runs one worker of the study in this process until every trial has ended; other workers (<c>receptor search worker</c>) may run beside it anywhere.</summary>
    /// <param name="progress">Told of every trial that ends.</param>
    /// <param name="cancellationToken">Stops the worker: the trial under way goes back to the queue.</param>
    /// <returns>How many trials this worker recorded.</returns>
    /// <exception cref="ReceptorException">The study's data or initialisation is unknown, or the store cannot be reached.</exception>
    public Task<int> RunAsync(IProgress<TrialRecord>? progress = null, CancellationToken cancellationToken = default)
    {
        Core.Torch.NativeRuntime.configure();
        return Task.Run(async () =>
        {
            // The worker writes through a connection of its own; this instance keeps reading.
            using var workerStore = Failures.Unwrap(TrialStore.Open(store.Storage));
            var options = Worker.defaults();
            options = new Worker.Options(
                options.Name, options.Heartbeat, options.Stale, options.Poll, cancellationToken, FSharpOption<string>.Some("cpu"), options.Log);
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var endedBefore = Trials().Where(t => IsEnded(t.State)).Select(t => t.Id).ToHashSet();
            var reporting = progress is null ? Task.CompletedTask : Report(progress, endedBefore, watching.Token);
            try
            {
                var summary = Failures.Unwrap(Studies.work(workerStore, options));
                return summary.Recorded;
            }
            finally
            {
                watching.Cancel();
                await reporting.ConfigureAwait(false);
            }
        }, CancellationToken.None);
    }

    /// <summary>Reports each trial that ends after the run started (the last ones once more after the worker stops).</summary>
    private async Task Report(IProgress<TrialRecord> progress, HashSet<long> reported, CancellationToken cancellationToken)
    {
        void Ended(IEnumerable<TrialRecord> trials)
        {
            foreach (var t in trials.Where(t => IsEnded(t.State) && reported.Add(t.Id)))
                progress.Report(t);
        }

        try
        {
            await foreach (var e in EventsAsync(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false))
                Ended(new[] { e.Trial });
        }
        catch (OperationCanceledException)
        {
        }
        Ended(Trials());
    }

    private static bool IsEnded(string state) => state is not ("waiting" or "running");

    /// <summary>The study's trials by state, and its best finished trial.</summary>
    public StudyStatus Status()
    {
        var counts = store.Counts().ToDictionary(c => TrialStateModule.name(c.Item1), c => c.Item2);
        var best = store.Leaderboard(1).Select(Record).FirstOrDefault();
        return new StudyStatus(Name, Store, store.Study.Budget, counts, best);
    }

    /// <summary>Every trial, in the order proposed.</summary>
    public IReadOnlyList<TrialRecord> Trials() => store.Trials().Select(Record).ToList();

    /// <summary>One trial by id; null when the study has none such.</summary>
    public TrialRecord? Trial(long id)
    {
        var found = store.Trial(id);
        return OptionModule.IsSome(found) ? Record(found.Value) : null;
    }

    /// <summary>The best finished trials by best validation accuracy, ties to fewer multiply-accumulates.</summary>
    public IReadOnlyList<TrialRecord> Leaderboard(int top = 10) =>
        top < 1 ? throw new ReceptorException("top must be at least 1", null, null, null, null, null) : store.Leaderboard(top).Select(Record).ToList();

    /// <summary>Every trial as CSV, one row a trial (<c>receptor search export --csv</c>).</summary>
    public string ExportCsv() => Export.csv(store.Trials());

    /// <summary>Every trial with its epochs as JSON (<c>receptor search export --json</c>).</summary>
    public string ExportJson() => Export.json(store.Trials());

    /// <summary>The trials' changes as they happen: first every trial as it stands, then each trial whose state or epochs change, until cancelled.</summary>
    /// <param name="poll">How often the store is read; null for every half second.</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    public async IAsyncEnumerable<TrialEvent> EventsAsync(TimeSpan? poll = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var seen = new Dictionary<long, (string State, int Epochs, int Attempt)>();
        while (!cancellationToken.IsCancellationRequested)
        {
            var trials = await Task.Run(Trials, cancellationToken).ConfigureAwait(false);
            foreach (var trial in trials)
            {
                var now = (trial.State, trial.Epochs.Count, trial.Attempt);
                var known = seen.TryGetValue(trial.Id, out var before);
                if (known && before == now)
                    continue;
                seen[trial.Id] = now;
                yield return new TrialEvent(trial, known ? before.State : null);
            }
            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the study's connection.</summary>
    public void Dispose() => ((IDisposable)store).Dispose();

    private static TrialRecord Record(Trial t)
    {
        var best = Export.bestAccuracy(t);
        return new TrialRecord(
            t.Id, t.Number, TrialStateModule.name(t.State), t.Attempt, Text(t.Worker), OptionModule.IsSome(best) ? best.Value : null,
            t.Candidate.Parameters, t.Candidate.Macs, t.Candidate.ReceptiveField, t.Candidate.Architecture, t.Candidate.Fingerprint,
            Text(t.Message), Time(t.Started), Time(t.Ended), OptionModule.IsSome(t.WallSeconds) ? t.WallSeconds.Value : null,
            t.Epochs.Select(e => new EpochRecord(e.Epoch, e.ValidationAccuracy, e.ValidationLoss, e.TrainingLoss)).ToList());
    }

    private static string? Text(FSharpOption<string> value) => OptionModule.IsSome(value) ? value.Value : null;

    private static DateTimeOffset? Time(FSharpOption<DateTimeOffset> value) => OptionModule.IsSome(value) ? value.Value : null;

    private static FSharpOption<T> Option<T>(T? value) where T : struct =>
        value.HasValue ? FSharpOption<T>.Some(value.Value) : FSharpOption<T>.None;
}
