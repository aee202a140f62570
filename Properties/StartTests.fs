/// Where a run's weights start: an initialisation drawn on the training images, or a checkpoint of the same
/// architecture (an initialisation saved alone, or a run's). What the sidecars record of it, and that the
/// format-1 sidecars of earlier runs still read.
module Receptor.Properties.StartTests

open System.IO
open System.Text.Json.Nodes
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Signal
open Receptor.Core.Training

let private program text = Parser.parseProgram "<test>" text |> Repository.unwrap

let private tiny =
    lazy (program "input(1, 12, 12)\nnetwork tiny = conv(3, 8, padding=1) >> relu >> maxpool(2) >> flatten >> dense(4)")

let private tinyBn =
    lazy (
        program
            "input(1, 12, 12)\nnetwork tinybn = conv(3, 8, padding=1, bias=false) >> bn >> relu >> maxpool(2) >> flatten >> dense(4)")

/// Two residual blocks: residual policies that rescale the sums change the tree.
let private residualNet =
    lazy (
        program
            "input(1, 12, 12)\nnetwork res = conv(3, 8, padding=1) >> repeat(2, residual(relu >> conv(3, 8, padding=1) >> relu >> conv(3, 8, padding=1))) >> gavgpool >> flatten >> dense(4)")

let private blobs = lazy (Synthetic.blobs 11 512 4 12)

let private options = { TrainOptions.defaults with Epochs = 1; BatchSize = 32; LearningRate = 0.05; Device = Cpu; Seed = 3 }

let private spec method residual =
    InitSpec.parse method "exact" "normal" residual |> Result.defaultWith failtest

let private unwrapText result = result |> Result.defaultWith (fun (message: string) -> failtest message)

/// Every parameter and buffer, by name, as plain arrays.
let private snapshot (network: Network) =
    use _ = torch.NewDisposeScope ()
    network.state_dict ()
    |> Seq.map (fun entry -> entry.Key, entry.Value.detach().cpu().to_type(torch.float64).data<float>().ToArray ())
    |> Map.ofSeq

let private inTemporaryFolder f =
    let dir = Directory.CreateTempSubdirectory "receptor-start-test-"
    try f dir.FullName finally dir.Delete true

let private save path specification seed prog =
    Checkpoint.initialiseAndSave path specification seed StandardNormal prog |> Repository.unwrap |> ignore

/// The variance of each node's output on the first batch the run trains on, in training mode.
let private firstBatchVariances (network: Network) (data: Dataset) =
    use _ = torch.NewDisposeScope ()
    use _ = torch.no_grad ()
    let fitted = Batches.fit network.Input data |> unwrapText
    let first = (Batches.order options.Seed 1 data.Count).[.. options.BatchSize - 1]
    let input, _ = Batches.tensors fitted first torch.CPU
    let variances = ResizeArray ()
    network.train ()
    network.Observe (input, fun path y -> variances.Add (path, y.var().item<float32> () |> float)) |> ignore
    Map.ofSeq variances

let tests: Test =
    testSequenced
    <| testList "training start" [
        test "InitSpec.parse reads every method, and names what it does not know" {
            for method in InitSpec.methods do
                Expect.equal (spec method None).Method method method
            Expect.equal (spec "Kaiming" None).Method "he" "an alias reads as its method's name"
            for parsed, fragment in
                [ InitSpec.parse "autonit" "exact" "normal" None, "unknown method 'autonit' (autoinit, he,"
                  InitSpec.parse "he" "exact" "gaussian" None, "unknown weight law 'gaussian'"
                  InitSpec.parse "he" "exact" "normal" (Some "half"), "unknown residual policy 'half'"
                  InitSpec.parse "he" "loose" "normal" None, "unknown rules 'loose'" ] do
                match parsed with
                | Ok s -> failtest $"parsed {s}"
                | Error message -> Expect.stringContains message fragment "says what it does not know"
        }
        test "initialised and saved, a run started from the checkpoint starts from exactly those weights, its epochs counted from zero" {
            inTemporaryFolder (fun dir ->
                let initial, run, atStart = Path.Combine (dir, "init.pt"), Path.Combine (dir, "run.pt"), Path.Combine (dir, "start.pt")
                save initial (spec "he" None) 7 tinyBn.Value
                let loaded path =
                    use network = Trainer.compile 99 tinyBn.Value |> Repository.unwrap
                    Checkpoint.load path network None |> unwrapText
                    snapshot network
                let saved = loaded initial
                let fromSaved = { options with Start = From initial }
                use network = Trainer.start fromSaved tinyBn.Value blobs.Value |> Repository.unwrap
                Expect.equal (snapshot network) saved "the started network holds the saved weights and buffers"
                // The run saves epoch 0 before its first step: a copy of it is what the run started from.
                let keepEpoch0 progress =
                    match progress with
                    | Trainer.Saved (_, 0) ->
                        let source, target = Checkpoint.files run, Checkpoint.files atStart
                        for from, into in [ source.Weights, target.Weights; source.OptimizerState, target.OptimizerState; source.Sidecar, target.Sidecar ] do
                            File.Copy (from, into)
                    | _ -> ()
                let outcome = Trainer.train fromSaved (Some { Path = run; Resume = false }) network blobs.Value keepEpoch0 |> unwrapText
                Expect.equal (outcome.Epochs, outcome.Steps) (1, 16) "one epoch of 16 steps, counted from zero"
                Expect.equal (loaded atStart) saved "epoch 0 of the run holds the saved weights"
                Expect.notEqual (snapshot network) saved "and training moved them"
                let sidecar = Checkpoint.read run |> unwrapText
                Expect.equal sidecar.From (Some (Path.GetFullPath initial)) "the run records where it started"
                Expect.equal (sidecar.Init |> Option.map (fun r -> r.Method, r.Seed)) (Some ("he", 7)) "and the initialisation that checkpoint records"
                Expect.equal (sidecar.Run |> Option.map _.Epoch) (Some 1) "and its epoch")
        }
        test "Initialisation.apply draws a compiled network's weights again: the same seed the same weights, another seed others" {
            let autoinit = spec "autoinit" None
            use network = Initialisation.compile autoinit (Images blobs.Value) tiny.Value |> Repository.unwrap
            let drawn seed =
                Initialisation.apply autoinit seed (Images blobs.Value) network |> Repository.unwrap |> ignore
                snapshot network
            let first = drawn 4
            Expect.equal (drawn 4) first "seed 4 twice"
            Expect.notEqual (drawn 5) first "seed 5"
        }
        test "a checkpoint of another architecture is refused, naming both fingerprints" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "tiny.pt")
                save path (spec "autoinit" None) 1 tiny.Value
                match Trainer.start { options with Start = From path } tinyBn.Value blobs.Value with
                | Ok network ->
                    network.Dispose ()
                    failtest "started another architecture"
                | Error d ->
                    let message = Diagnostic.format d
                    Expect.stringContains message $"{path} was saved from a different architecture (fingerprint" "clear error"
                    Expect.stringContains message "this network" "both fingerprints")
        }
        test "the sidecar records the initialisation: saved alone, and in every checkpoint of a run started from it" {
            inTemporaryFolder (fun dir ->
                let initial, run = Path.Combine (dir, "init.pt"), Path.Combine (dir, "run.pt")
                save initial (spec "glorot" (Some "in-degree")) 5 residualNet.Value
                let sidecar = Checkpoint.read initial |> unwrapText
                let expected: Checkpoint.InitRecord = { Method = "glorot"; Rules = "exact"; Law = "normal"; Residual = Some "in-degree"; Seed = 5 }
                Expect.equal sidecar.Init (Some expected) "method, rules, law, residual policy, seed"
                Expect.equal (sidecar.Run, sidecar.From) (None, None) "no run"
                Expect.isFalse (File.Exists (Checkpoint.files initial).OptimizerState) "no optimiser state"
                let json = JsonNode.Parse (File.ReadAllText (Checkpoint.files initial).Sidecar)
                Expect.equal (json["Init"].["Method"].GetValue<string> ()) "glorot" "plain JSON"
                Expect.equal (json["Format"].GetValue<int> ()) 2 "format 2"
                let trained = { options with Start = Initialise (spec "lsuv" None) }
                use network = Trainer.start trained residualNet.Value blobs.Value |> Repository.unwrap
                Trainer.train trained (Some { Path = run; Resume = false }) network blobs.Value ignore |> unwrapText |> ignore
                let recorded = (Checkpoint.read run |> unwrapText).Init |> Option.map (fun r -> r.Method, r.Seed)
                Expect.equal recorded (Some ("lsuv", options.Seed)) "a run records the method it started from"
                let resumed = { options with Epochs = 2; Start = Initialise (spec "he" None) }
                Trainer.train resumed (Some { Path = run; Resume = true }) network blobs.Value ignore |> unwrapText |> ignore
                let kept = (Checkpoint.read run |> unwrapText).Init |> Option.map _.Method
                Expect.equal kept (Some "lsuv") "a resumed run keeps the origin of its first checkpoint")
        }
        test "a run refuses to resume an initialisation, or to both start from a checkpoint and resume one" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "init.pt")
                save path (spec "he" None) 1 tiny.Value
                use network = Trainer.start { options with Start = From path } tiny.Value blobs.Value |> Repository.unwrap
                match Trainer.train options (Some { Path = path; Resume = true }) network blobs.Value ignore with
                | Error message -> Expect.stringContains message "holds an initialisation, not a run to resume" "initialisation"
                | Ok _ -> failtest "resumed an initialisation"
                match Trainer.train { options with Start = From path } (Some { Path = path; Resume = true }) network blobs.Value ignore with
                | Error message -> Expect.stringContains message "give one" "both"
                | Ok _ -> failtest "started and resumed at once")
        }
        test "a format-1 sidecar (the run's fields at the top level, no origin) still reads, and its run resumes" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "old.pt")
                use network = Trainer.compile options.Seed tiny.Value |> Repository.unwrap
                Trainer.train options (Some { Path = path; Resume = false }) network blobs.Value ignore |> unwrapText |> ignore
                let file = (Checkpoint.files path).Sidecar
                let current = Checkpoint.read path |> unwrapText
                let architecture = current.Architecture
                File.WriteAllText (
                    file,
                    $$"""{"Format": 1, "Architecture": "{{architecture}}", "Epoch": 1, "Step": 16, "Epochs": 1, "Optimizer": "sgd", "LearningRate": 0.05, "Schedule": "cosine", "BatchSize": 32, "WeightDecay": 0.0005, "Seed": 3}""")
                let old = Checkpoint.read path |> unwrapText
                Expect.equal (old.Format, old.Init, old.From) (1, None, None) "format 1, no origin"
                Expect.equal old.Run current.Run "the run's state"
                let outcome = Trainer.train { options with Epochs = 2 } (Some { Path = path; Resume = true }) network blobs.Value ignore |> unwrapText
                Expect.equal (outcome.Epochs, outcome.Steps) (2, 32) "resumed after epoch 1"
                Expect.equal (Checkpoint.read path |> unwrapText).Format 2 "rewritten as format 2")
        }
        test "a checkpoint saved under a residual policy that rescales the sums starts a run: the recorded policy rebuilds the tree" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine (dir, "sqrtn.pt")
                let sqrtN = spec "he" (Some "sqrt-n")
                save path sqrtN 2 residualNet.Value
                use plain = Trainer.compile 2 residualNet.Value |> Repository.unwrap
                let recordedArchitecture = (Checkpoint.read path |> unwrapText).Architecture
                Expect.notEqual (Checkpoint.fingerprint plain.Input plain.Tree) recordedArchitecture "sqrt-n changed the sums"
                use network = Trainer.start { options with Start = From path } residualNet.Value blobs.Value |> Repository.unwrap
                Expect.equal (Checkpoint.fingerprint network.Input network.Tree) recordedArchitecture "the same tree")
        }
        test "every method starts a run on the blobs and the run trains (SkipInit's α included)" {
            // GradInit's 390 iterations on a dense layer, the others on the residual net.
            let dense = program "input(1, 4, 4)\nnetwork onelayer = flatten >> dense(4)"
            let smallBlobs = Synthetic.blobs 11 512 4 4
            for method in InitSpec.methods do
                let prog, data = if method = "gradinit" then dense, smallBlobs else residualNet.Value, blobs.Value
                let o = { options with Start = Initialise (spec method None) }
                use network = Trainer.start o prog data |> Repository.unwrap
                let outcome = Trainer.train o None network data ignore |> unwrapText
                Expect.equal outcome.Status Trainer.Completed method
            use skip = Trainer.start { options with Start = Initialise (spec "skipinit" None) } residualNet.Value blobs.Value |> Repository.unwrap
            let alphas = skip.named_parameters () |> Seq.filter (fun struct (name, _) -> name.EndsWith "alpha") |> Seq.length
            Expect.equal alphas 2 "one α per residual"
        }
        test "grey images start a colour network and a flat one: the input moments are per position, pooled over the channels" {
            let grey = Batches.fit (Spatial (1, 12, 12)) blobs.Value |> unwrapText
            let colour = Batches.fit (Spatial (3, 12, 12)) blobs.Value |> unwrapText
            let greyMoments, colourMoments = Measurement.pixelMoments grey, Measurement.pixelMoments colour
            Expect.equal colourMoments.Mean.Length 144 "one mean per position"
            for p in 0 .. 143 do
                Expect.floatClose Accuracy.high colourMoments.Mean[p] greyMoments.Mean[p] "repeated channels keep the pixel's mean"
                Expect.floatClose Accuracy.high colourMoments.Variance[p] greyMoments.Variance[p] "and its variance"
            let flat = Batches.fit (Flat 144) blobs.Value |> unwrapText
            Expect.equal (Measurement.pixelMoments flat).Mean.Length 1 "a flat input is one position"
            for text in [ "input(3, 12, 12)\nnetwork colour = conv(3, 8, padding=1) >> relu >> flatten >> dense(4)"
                          "input(144)\nnetwork mlp = dense(32) >> relu >> dense(4)" ] do
                use network = Trainer.start options (program text) blobs.Value |> Repository.unwrap
                Expect.equal (Trainer.train options None network blobs.Value ignore |> unwrapText).Status Trainer.Completed text
        }
        test "from AutoInit the first batch's pre-activations have variance near 1 through a plain stack; from PyTorch's default they fade" {
            let conv = "conv(3, 64, padding=1)"
            let deep = program $"input(1, 12, 12)\nnetwork deep = {conv} >> relu >> {conv} >> relu >> {conv} >> relu >> {conv} >> relu >> {conv} >> flatten >> dense(4)"
            // One draw on smooth blobs varies by tens of per cent: each layer's variance averaged over eight seeds.
            let variances method =
                [ for seed in 1 .. 8 ->
                      let o = { options with Seed = seed; Start = Initialise (spec method None) }
                      use network = Trainer.start o deep blobs.Value |> Repository.unwrap
                      let measured = firstBatchVariances network blobs.Value
                      [ for layer in 1 .. 5 -> measured[$"conv{layer}"] ] ]
                |> List.transpose
                |> List.map List.average
            let auto, torchDefault = variances "autoinit", variances "torch-default"
            for layer, v in List.indexed auto do
                Expect.floatClose { absolute = 0.0; relative = 0.25 } v 1.0 $"conv{layer + 1} from autoinit: {auto}"
            Expect.isLessThan (List.max torchDefault) 0.1 $"from torch-default: {torchDefault}"
            Expect.isLessThan (List.last torchDefault) (List.head torchDefault / 10.0) "fading with depth"
        }
    ]
