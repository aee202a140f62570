using Receptor.Core;
using Receptor.Dsl;

namespace Receptor.Host;

/// <summary>Parses, prints and analyses architectures written in Receptor's text syntax.</summary>
public static class Architecture
{
    /// <summary>Parses and analyses a program text.</summary>
    /// <param name="source">The program, as in an <c>.rcp</c> file.</param>
    /// <param name="fileName">The name used in error positions.</param>
    /// <exception cref="ReceptorException">The text does not parse or does not check.</exception>
    public static ArchitectureReport Analyze(string source, string fileName = "<source>")
    {
        var result = Receptor.Core.Analysis.ofText(fileName, source);
        return ToReport(Failures.Unwrap(result));
    }

    /// <summary>Reads, parses and analyses an <c>.rcp</c> file.</summary>
    public static async Task<ArchitectureReport> AnalyzeFileAsync(string path, CancellationToken cancellationToken = default)
    {
        var source = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        return Analyze(source, path);
    }

    /// <summary>Parses and analyses a program text, and lays the analysis out as <c>receptor analyze</c> prints it.</summary>
    /// <exception cref="ReceptorException">The text does not parse or does not check.</exception>
    public static string Table(string source, string fileName = "<source>") =>
        Receptor.Core.Reporting.Report.table(Failures.Unwrap(Receptor.Core.Analysis.ofText(fileName, source)));

    /// <summary>Parses a program and prints it in canonical form.</summary>
    public static string Format(string source, string fileName = "<source>") =>
        Printer.program(Failures.Unwrap(Parser.parseProgram(fileName, source)));

    private static IReadOnlyList<int> Dimensions(Shape shape) => shape switch
    {
        Shape.Spatial s => new[] { s.channels, s.height, s.width },
        Shape.Flat f => new[] { f.features },
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    private static ReceptiveField Field(Field field) => field switch
    {
        Receptor.Core.Field.Local local => new ReceptiveField(
            false, local.height.Size, local.width.Size, local.height.Stride, local.width.Stride,
            local.height.Padding, local.width.Padding),
        _ => new ReceptiveField(true, double.PositiveInfinity, double.PositiveInfinity, 0, 0, 0, 0),
    };

    private static ArchitectureReport ToReport(AnalysisReport report) => new(
        report.Name,
        Dimensions(report.Input),
        Dimensions(report.Output),
        report.Totals.Parameters,
        report.Totals.Macs,
        report.Totals.Flops,
        report.Totals.Memory,
        Field(report.Field),
        report.Nodes
            .Select(n => new LayerReport(n.Path, n.Op, Dimensions(n.Output), n.Parameters, n.Macs, n.Flops, n.Memory, Field(n.Field)))
            .ToList(),
        report.Misalignments.Select(m => $"{m.Path}: {m.Message}").ToList());
}
