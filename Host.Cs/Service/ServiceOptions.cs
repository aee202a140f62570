namespace Receptor.Host.Service;

/// <summary>How <c>receptor serve</c> runs.</summary>
/// <param name="Port">The TCP port; 0 picks a free one (see <see cref="ReceptorService.Address"/>).</param>
/// <param name="Address">The address bound: loopback unless told otherwise.</param>
/// <param name="StudyFolder">Where studies are kept (one SQLite file each) and the access token is written; nothing outside it is read or written.</param>
/// <param name="Storage">A PostgreSQL store holding the studies instead of files in the folder; null for the folder.</param>
public sealed record ServiceOptions(int Port = 5080, string Address = "127.0.0.1", string StudyFolder = "studies", string? Storage = null)
{
    /// <summary>Request bodies larger than this are refused with 413.</summary>
    public long MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>Brackets nested deeper than this in a posted architecture are refused with 400 before parsing.</summary>
    public int MaxNesting { get; init; } = 200;

    /// <summary>An analysis running longer is abandoned with 422.</summary>
    public TimeSpan AnalysisTime { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Measurements (initialisation reports, ERFs) costing more multiply-accumulates than this in all (the network's MACs × samples) are refused with 422; ResNet-50 at 224×224 over 4 × 8 samples costs 1.3·10¹¹.</summary>
    public double MaxMeasuredMacs { get; init; } = 2e11;

    /// <summary>Measurements run at most this many at once; a request that finds them busy for a second answers 503.</summary>
    public int ConcurrentMeasurements { get; init; } = 2;
}
