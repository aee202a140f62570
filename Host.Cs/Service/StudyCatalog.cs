using Receptor.Search;

namespace Receptor.Host.Service;

/// <summary>The studies the service serves: one SQLite file each in the study folder, or every study of one PostgreSQL store.</summary>
internal sealed class StudyCatalog : IAsyncDisposable
{
    private readonly string folder;
    private readonly Storage? postgres;
    private readonly Dictionary<string, (Task Run, CancellationTokenSource Stop)> running = new();
    private readonly Dictionary<string, SearchStudy> shared = new();
    private int streams;

    /// <summary>Event streams served at once, at most.</summary>
    internal const int MaxStreams = 64;

    internal StudyCatalog(string folder, Storage? postgres)
    {
        this.folder = Path.GetFullPath(folder);
        this.postgres = postgres;
    }

    /// <summary>The storage of a study, built as a value (never re-parsed from text, where a '#' in the folder's
    /// name would be read as a study's); the name has been checked (<see cref="Limits.IsStudyName"/>), so a file
    /// stays in the folder.</summary>
    internal Storage StorageOf(string name) =>
        StorageModule.withStudy(name, postgres ?? StorageModule.sqlite(Path.Combine(folder, name + ".study.db")));

    internal IReadOnlyList<string> Names()
    {
        if (postgres is not null)
            return Failures.Unwrap(TrialStore.Names(postgres)).ToList();
        return Directory.Exists(folder)
            ? Directory.GetFiles(folder, "*.study.db").Select(f => Path.GetFileName(f)[..^".study.db".Length]).Order().ToList()
            : [];
    }

    internal bool Exists(string name)
    {
        lock (shared)
            if (shared.ContainsKey(name))
                return true;
        return Names().Contains(name);
    }

    /// <summary>The study, opened once and shared by every request and event stream that reads it (one connection
    /// a study, however many dashboards watch it); the catalog closes it.</summary>
    internal SearchStudy Study(string name)
    {
        lock (shared)
        {
            if (!shared.TryGetValue(name, out var study))
            {
                study = SearchStudy.Open(StorageOf(name));
                shared[name] = study;
            }
            return study;
        }
    }

    /// <summary>Creates (or finds with the same settings) the study; the store it opens becomes the shared one.</summary>
    internal SearchStudy Create(string name, string space, StudyOptions options)
    {
        var created = SearchStudy.Create(space, StorageOf(name), options with { Name = name }, $"{name}.rcp");
        lock (shared)
        {
            if (shared.TryGetValue(name, out var open))
            {
                created.Dispose();
                return open;
            }
            shared[name] = created;
            return created;
        }
    }

    /// <summary>Counts an event stream in; false when the service already serves as many as it takes.</summary>
    internal bool TryAddStream()
    {
        if (Interlocked.Increment(ref streams) <= MaxStreams)
            return true;
        Interlocked.Decrement(ref streams);
        return false;
    }

    internal void RemoveStream() => Interlocked.Decrement(ref streams);

    internal bool IsRunning(string name)
    {
        lock (running)
            return running.TryGetValue(name, out var r) && !r.Run.IsCompleted;
    }

    /// <summary>Starts one worker of the study in the service's process, unless one runs already (checked and
    /// recorded under one lock, so that two requests never start two).</summary>
    internal bool Start(string name)
    {
        lock (running)
        {
            if (running.TryGetValue(name, out var r) && !r.Run.IsCompleted)
                return false;
            var stop = new CancellationTokenSource();
            var run = Task.Run(async () =>
            {
                try
                {
                    await Study(name).RunAsync(cancellationToken: stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is ReceptorException or OperationCanceledException)
                {
                    // The study's trials say what became of them; why the worker stopped goes to the log.
                    Console.Error.WriteLine($"study '{name}': worker stopped: {e.Message}");
                }
            });
            running[name] = (run, stop);
            return true;
        }
    }

    /// <summary>Stops the workers: their trials under way go back to the queue.</summary>
    public async ValueTask DisposeAsync()
    {
        List<(Task Run, CancellationTokenSource Stop)> workers;
        lock (running)
            workers = running.Values.ToList();
        foreach (var (run, stop) in workers)
        {
            stop.Cancel();
            try
            {
                await run.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // A worker's failure is in its study's trials; shutting down goes on.
            }
            stop.Dispose();
        }
        lock (shared)
        {
            foreach (var study in shared.Values)
                study.Dispose();
            shared.Clear();
        }
    }
}
