// Receptor from C#: analyse a network, compare its initialisation's predicted moments with measured ones, train it
// one epoch on MNIST, and run a three-trial architecture search on MNIST.
//   dotnet run --project Examples/CSharpSample -- Examples/zoo/mnist4bn.rcp Examples/spaces/mnist-small.rcp
using Receptor.Host;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: receptor-csharp-sample NETWORK.rcp SPACE.rcp");
    return 2;
}

try
{
    var network = await File.ReadAllTextAsync(args[0]);
    var report = Architecture.Analyze(network, args[0]);
    Console.WriteLine($"{report.Name}: {report.Parameters:N0} parameters, {report.MultiplyAccumulates / 1e6:F2} M MACs, receptive field {report.ReceptiveField.Height} px");

    var comparison = await Initialisation.CompareAsync(network, seeds: 4, batch: 16, fileName: args[0]);
    Console.WriteLine($"{comparison.Description}: {comparison.NodesAgreeing} of {comparison.Nodes.Count} nodes agree with the prediction, "
        + $"{comparison.LayersOnTarget} of {comparison.Layers.Count} weighted layers within 15 % of their target");

    var mnist = await TrainingData.MnistAsync();
    var progress = new Progress<EpochProgress>(e => Console.WriteLine($"epoch {e.Epoch}/{e.Epochs}: loss {e.Loss:F4}, training accuracy {e.Accuracy:P2}"));
    var trained = await Training.TrainAsync(args[0], mnist, new TrainingOptions(Epochs: 1), progress);
    Console.WriteLine($"after one epoch: test accuracy {trained.TestAccuracy:P2} on {mnist.TestImages:N0} images");

    var store = Path.Combine(Path.GetTempPath(), $"receptor-sample-{Guid.NewGuid():N}.study.db");
    var space = await File.ReadAllTextAsync(args[1]);
    using var study = SearchStudy.Create(space, $"sqlite:{store}", new StudyOptions(Strategy: "random", Trials: 3, Epochs: 1), args[1]);
    var trials = new Progress<TrialRecord>(t => Console.WriteLine($"trial {t.Number} {t.State}: validation accuracy {t.BestValidationAccuracy:P2}, {t.MultiplyAccumulates:N0} MACs"));
    await study.RunAsync(trials);
    var best = study.Leaderboard(1)[0];
    Console.WriteLine($"best of {study.Name}: trial {best.Number}, {best.BestValidationAccuracy:P2} ({study.Store})");
    return 0;
}
catch (ReceptorException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
