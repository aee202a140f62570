/// The C# face: named result types and one exception type carrying the place of the error.
module Receptor.Properties.HostTests

open System.IO
open Expecto
open Receptor.Host

/// The ReceptorException that the action throws.
let private thrown action =
    try
        action () |> ignore
        failtest "expected a ReceptorException"
    with :? ReceptorException as e -> e

/// The result of a task, its exception unwrapped.
let private await (task: System.Threading.Tasks.Task<'T>) = task.GetAwaiter().GetResult ()

/// Records each report as it comes (System.Progress would post them to the thread pool).
type private Recorder<'T>() =
    let reports = ResizeArray<'T>()
    member _.Reports = List.ofSeq reports
    interface System.IProgress<'T> with
        member _.Report value = reports.Add value

/// Two architecture files for the 12×12 blobs in a temporary folder: f gets the folder and their paths.
let private withArchitectures f =
    let dir = Directory.CreateTempSubdirectory "receptor-host-test-"
    try
        let tiny, other = Path.Combine (dir.FullName, "tiny.rcp"), Path.Combine (dir.FullName, "other.rcp")
        File.WriteAllText (tiny, "input(1, 12, 12)\nnetwork tiny = conv(3, 8, padding=1) >> relu >> maxpool(2) >> flatten >> dense(4)\n")
        File.WriteAllText (other, "input(1, 12, 12)\nnetwork other = conv(3, 6, padding=1) >> relu >> maxpool(2) >> flatten >> dense(4)\n")
        f dir.FullName tiny other
    finally
        dir.Delete true

let private trainingTests =
    testList "training" [
        test "Training.InitialiseAndSaveAsync saves a checkpoint that records its method; TrainAsync starts from it and scores the test images" {
            withArchitectures (fun dir tiny _ ->
                let checkpoint = Path.Combine (dir, "tiny.pt")
                let report = await (Training.InitialiseAndSaveAsync (tiny, checkpoint, InitialisationOptions (Method = "he", Residual = null), 7))
                Expect.equal report.Description "he (rules exact, law normal)" "description"
                Expect.equal (report.Layers |> Seq.map _.Path |> List.ofSeq) [ "conv"; "dense" ] "the weighted layers"
                Expect.floatClose Accuracy.high report.Layers[0].WeightStd (sqrt (2.0 / 9.0)) "He: √(2 / fan-in)"
                Expect.stringContains (File.ReadAllText (checkpoint + ".json")) "\"Method\": \"he\"" "the sidecar names the method"
                let progress = Recorder<EpochProgress>()
                let options = TrainingOptions (Epochs = 2, BatchSize = 32, Device = "cpu", FromCheckpoint = checkpoint)
                let result = await (Training.TrainAsync (tiny, TrainingData.Blobs 12, options, progress))
                Expect.isFalse result.Diverged "completed"
                Expect.equal (result.Epochs, result.Steps) (2, 126) "2 epochs of 63 steps, counted from zero"
                Expect.equal (progress.Reports |> List.map _.Epoch) [ 1; 2 ] "every epoch reported"
                Expect.isGreaterThan result.TestAccuracy 0.5 "learnt the blobs")
        }
        test "TrainAsync from an initialisation by name" {
            withArchitectures (fun _ tiny _ ->
                let options = TrainingOptions (Epochs = 1, BatchSize = 32, Device = "cpu", Init = InitialisationOptions (Method = "lsuv"))
                let result = await (Training.TrainAsync (tiny, TrainingData.Blobs (12, trainingImages = 256, testImages = 64), options))
                Expect.equal (result.Diverged, result.Epochs) (false, 1) "one epoch")
        }
        test "TrainingData.MnistAsync reads the cached digits" {
            let mnist = await (TrainingData.MnistAsync ())
            Expect.equal (mnist.TrainingImages, mnist.TestImages) (8000, 2000) "the 8,000 / 2,000 split"
        }
        test "unknown names, two starts at once and a checkpoint of another architecture are ReceptorExceptions" {
            withArchitectures (fun dir tiny other ->
                let checkpoint = Path.Combine (dir, "tiny.pt")
                let unknown = thrown (fun () -> await (Training.InitialiseAndSaveAsync (tiny, checkpoint, InitialisationOptions (Method = "autonit"))))
                Expect.stringContains unknown.Message "unknown method 'autonit'" "method"
                await (Training.InitialiseAndSaveAsync (tiny, checkpoint)) |> ignore
                let data = TrainingData.Blobs (12, trainingImages = 64, testImages = 16)
                let both = TrainingOptions (Device = "cpu", Init = InitialisationOptions (), FromCheckpoint = checkpoint)
                Expect.stringContains (thrown (fun () -> await (Training.TrainAsync (tiny, data, both)))).Message "give one" "both"
                let optimizer = TrainingOptions (Device = "cpu", Optimizer = "rmsprop")
                Expect.stringContains (thrown (fun () -> await (Training.TrainAsync (tiny, data, optimizer)))).Message "Optimizer expects sgd or adam" "optimiser"
                let fromOther = TrainingOptions (Epochs = 1, Device = "cpu", FromCheckpoint = checkpoint)
                Expect.stringContains (thrown (fun () -> await (Training.TrainAsync (other, data, fromOther)))).Message "different architecture" "architecture")
        }
    ]

let tests: Test =
    testList "host" [
        trainingTests
        test "Architecture.Analyze reports ResNet-18's totals and per-layer receptive fields" {
            let path, text = Repository.readZoo "resnet18.rcp"
            let report = Architecture.Analyze (text, path)
            Expect.equal report.Parameters 11_689_512L "parameters"
            Expect.equal (List.ofSeq report.OutputShape) [ 1000 ] "output shape"
            let layer4 = report.Layers |> Seq.find (fun l -> l.Path = "layer4/basic/relu")
            Expect.equal layer4.ReceptiveField.Height 435.0 "field of layer4"
            // Global pooling over 7×7 units 32 pixels apart: the union of their fields, 435 + 6·32.
            Expect.equal report.ReceptiveField.Height 627.0 "field of the output"
            Expect.isEmpty report.Warnings "no misalignment"
        }
        test "a syntax error becomes a ReceptorException with file, line and column" {
            let e = thrown (fun () -> Architecture.Analyze ("input(1, 8, 8)\nnetwork n = cnov(3, 4)\n", "bad.rcp"))
            Expect.equal (e.File, e.Line, e.Column) ("bad.rcp", System.Nullable 2, System.Nullable 13) "place"
            Expect.equal e.Hint "did you mean 'conv'?" "hint"
        }
        test "a shape error becomes a ReceptorException with the layer path" {
            let text = "input(1, 8, 8)\nnetwork n = conv(1, 2) >> stage: add(conv(1, 4), conv(1, 3))\n"
            let e = thrown (fun () -> Architecture.Analyze (text, "bad.rcp"))
            Expect.equal e.LayerPath "stage" "path"
            Expect.stringContains e.Message "branch shapes" "message"
        }
        test "Architecture.Format prints the canonical form, which parses to the same report" {
            let _, text = Repository.readZoo "mobilenetv2.rcp"
            let formatted = Architecture.Format text
            Expect.equal (Architecture.Analyze formatted).Parameters (Architecture.Analyze text).Parameters "parameters"
        }
    ]
