using System.Collections.Concurrent;
using Receptor.Search;

namespace Receptor.Host.Service;

/// <summary>The studies the service serves: one SQLite file each in the study folder, or every study of one PostgreSQL store.</summary>
internal sealed class StudyCatalog : IAsyncDisposable
{
    private readonly string folder;
    private readonly string? postgres;
    private readonly ConcurrentDictionary<string, (Task Run, CancellationTokenSource Stop)> running = new();

    internal StudyCatalog(string folder, string? postgres)
    {
        this.folder = Path.GetFullPath(folder);
        this.postgres = postgres;
    }

    /// <summary>The storage of a study; its name has been checked (<see cref="Limits.IsStudyName"/>), so a file stays in the folder.</summary>
    internal string StorageOf(string name) =>
        postgres is null ? "sqlite:" + Path.Combine(folder, name + ".study.db") : postgres + "#" + name;

    internal IReadOnlyList<string> Names()
    {
        if (postgres is not null)
            return Failures.Unwrap(TrialStore.Names(Failures.Unwrap(StorageModule.parse(postgres)))).ToList();
        return Directory.Exists(folder)
            ? Directory.GetFiles(folder, "*.study.db").Select(f => Path.GetFileName(f)[..^".study.db".Length]).Order().ToList()
            : [];
    }

    internal bool Exists(string name) => Names().Contains(name);

    internal SearchStudy Open(string name) => SearchStudy.Open(StorageOf(name));

    internal SearchStudy Create(string name, string space, StudyOptions options) =>
        SearchStudy.Create(space, StorageOf(name), options with { Name = name }, $"{name}.rcp");

    internal bool IsRunning(string name) => running.TryGetValue(name, out var r) && !r.Run.IsCompleted;

    /// <summary>Starts one worker of the study in the service's process, unless one runs already.</summary>
    internal bool Start(string name)
    {
        if (IsRunning(name))
            return false;
        var stop = new CancellationTokenSource();
        var run = Task.Run(async () =>
        {
            using var study = Open(name);
            await study.RunAsync(cancellationToken: stop.Token).ConfigureAwait(false);
        });
        running[name] = (run, stop);
        return true;
    }

    /// <summary>Stops the workers: their trials under way go back to the queue.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var (run, stop) in running.Values)
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
    }
}
