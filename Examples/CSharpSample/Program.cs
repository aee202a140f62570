// Analyses an architecture from C#: dotnet run --project Examples/CSharpSample -- Examples/zoo/resnet18.rcp
using Receptor.Host;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: receptor-csharp-sample FILE.rcp");
    return 2;
}

try
{
    var report = await Architecture.AnalyzeFileAsync(args[0]);
    Console.WriteLine($"{report.Name}: {report.Parameters:N0} parameters, {report.MultiplyAccumulates / 1e9:F2} G MACs");
    var widest = report.Layers.Where(l => !l.ReceptiveField.IsGlobal).MaxBy(l => l.ReceptiveField.Height);
    if (widest is not null)
        Console.WriteLine($"largest local receptive field: {widest.ReceptiveField.Height} px at {widest.Path}");
    return 0;
}
catch (ReceptorException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
