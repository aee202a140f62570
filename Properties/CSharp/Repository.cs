namespace Receptor.Host.Tests;

/// <summary>The repository's files, found from the test binary.</summary>
internal static class Repository
{
    internal static string Root { get; } = Find(new DirectoryInfo(AppContext.BaseDirectory));

    private static string Find(DirectoryInfo? dir) =>
        dir is null ? throw new InvalidOperationException("no folder above the tests holds Dsl.sln")
        : File.Exists(Path.Combine(dir.FullName, "Dsl.sln")) ? dir.FullName
        : Find(dir.Parent);

    internal static string Read(params string[] parts) => File.ReadAllText(Path.Combine([Root, .. parts]));

    internal static string TempFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"receptor-host-tests-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        return folder;
    }
}
