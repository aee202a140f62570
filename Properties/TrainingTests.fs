/// The trainer on small synthetic problems: it learns, it is reproducible, it stops on divergence and keeps
/// the last good checkpoint, it resumes where it stopped, it leaks no tensors; and the train command.
module Receptor.Properties.TrainingTests

open System
open System.IO
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Training
open Receptor.Cli
open Receptor.Cli.Commands

let private program text = Parser.parseProgram "<test>" text |> Repository.unwrap

/// 2,000 parameters or so: enough to learn the blobs in a few steps.
let private tinyText =
    """input(1, 12, 12)
network tiny = conv(3, 8, padding=1) >> relu >> maxpool(2) >> flatten >> dense(4)"""

let private tiny = lazy (program tinyText)

/// The same tiny network with batch normalisation and dropout, so that buffers and random draws count.
let private tinyBn =
    lazy (
        program
            """input(1, 12, 12)
network tinybn = conv(3, 8, padding=1, bias=false) >> bn >> relu >> maxpool(2) >> dropout(0.2) >> flatten >> dense(4)""")

let private blobs = lazy (Synthetic.blobs 11 512 4 12)

let private options =
    { TrainOptions.defaults with Epochs = 2; BatchSize = 32; LearningRate = 0.05; Device = Cpu; Seed = 3 }

let private compile (options: TrainOptions) prog = Trainer.compile options.Seed prog |> Repository.unwrap

let private train options checkpointing network data =
    Trainer.train options checkpointing network data ignore |> Result.defaultWith failtest

/// Every parameter and buffer of the network, by name, as plain arrays.
let private snapshot (network: Network) =
    use _ = torch.NewDisposeScope()
    Seq.append (network.named_parameters () |> Seq.map (fun struct (n, p) -> struct (n, p :> torch.Tensor))) (network.named_buffers ())
    |> Seq.filter (fun struct (_, t) -> t.dtype = torch.ScalarType.Float32)
    |> Seq.map (fun struct (n, t) -> n, t.detach().cpu().data<float32>().ToArray())
    |> Map.ofSeq

let private inTemporaryFolder f =
    let dir = Directory.CreateTempSubdirectory "receptor-training-test-"
    try f dir.FullName finally dir.Delete true

let private batchTests =
    testList "batches" [
        test "28×28 padded to 32×32 puts pixel (0, 0) at (2, 2) and zeros around; cropping back restores it" {
            let data = Synthetic.blobs 5 3 2 28
            let padded = Batches.fit (Spatial (1, 32, 32)) data |> Result.defaultWith failtest
            Expect.equal (padded.Data.Height, padded.Data.Width) (32, 32) "size"
            Expect.isSome padded.Note "the fit is reported"
            let image = Dataset.image 1 padded.Data
            let original = Dataset.image 1 data
            Expect.equal image[2 * 32 + 2] original[0] "pixel (0, 0) moved to (2, 2)"
            Expect.equal image[0] 0.0f "border is zero"
            let back = Batches.fit (Spatial (1, 28, 28)) padded.Data |> Result.defaultWith failtest
            Expect.equal back.Data.Images data.Images "centre crop undoes the padding"
        }
        test "a mismatched channel count is an error unless the images are grey; a matching flat input is not" {
            let data = Synthetic.blobs 5 3 2 8
            let twoChannels = { data with Channels = 2; Height = 4 }
            Expect.isError (Batches.fit (Spatial (3, 4, 8)) twoChannels) "3 channels from 2"
            Expect.isError (Batches.fit (Spatial (1, 4, 8)) twoChannels) "1 channel from 2"
            Expect.isOk (Batches.fit (Flat 64) data) "flat 64 = 1×8×8"
            Expect.isError (Batches.fit (Flat 65) data) "flat 65"
        }
        test "grey images for a 3-channel network: each image repeated on the three channels, then padded, and said so" {
            let data = Synthetic.blobs 5 3 2 28
            let fitted = Batches.fit (Spatial (3, 32, 32)) data |> Result.defaultWith failtest
            Expect.equal (fitted.Data.Channels, fitted.Data.Height, fitted.Data.Width) (3, 32, 32) "shape"
            Expect.equal fitted.Dims [| 3L; 32L; 32L |] "tensor dims"
            let plane = 32 * 32
            let padded = (Batches.fit (Spatial (1, 32, 32)) data |> Result.defaultWith failtest).Data
            for n in 0 .. data.Count - 1 do
                let image = Dataset.image n fitted.Data
                for c in 0 .. 2 do
                    Expect.equal image[c * plane .. (c + 1) * plane - 1] (Dataset.image n padded) $"image {n}, channel {c}"
            match fitted.Note with
            | Some note ->
                Expect.stringContains note "grey images repeated on all 3 channels" "the replication is reported"
                Expect.stringContains note "padded to 32×32" "so is the padding"
            | None -> failtest "no note"
            let same = Batches.fit (Spatial (3, 28, 28)) data |> Result.defaultWith failtest
            Expect.equal same.Note (Some "grey images repeated on all 3 channels") "only the replication at 28×28"
        }
        test "the epoch order is a seeded permutation that changes with the epoch" {
            let a, b = Batches.order 4 1 100, Batches.order 4 1 100
            Expect.equal a b "same seed and epoch"
            Expect.equal (Array.sort a) (Array.init 100 id) "a permutation"
            Expect.notEqual (Batches.order 4 2 100) a "another epoch"
        }
        test "cosine schedule: full rate at step 0, half at the middle, near 0 at the end" {
            Expect.floatClose Accuracy.veryHigh (Schedule.learningRate Cosine 0.1 0 100) 0.1 "start"
            Expect.floatClose Accuracy.veryHigh (Schedule.learningRate Cosine 0.1 50 100) 0.05 "middle"
            Expect.isLessThan (Schedule.learningRate Cosine 0.1 99 100) 1e-4 "end"
            Expect.equal (Schedule.learningRate Constant 0.1 99 100) 0.1 "constant"
        }
        test "warm-up rises linearly to the schedule's rate, then leaves it alone" {
            Expect.floatClose Accuracy.veryHigh (Schedule.warmedUp 10 0.1 0) 0.01 "first step"
            Expect.floatClose Accuracy.veryHigh (Schedule.warmedUp 10 0.1 4) 0.05 "halfway"
            Expect.equal (Schedule.warmedUp 10 0.1 10) 0.1 "after"
            Expect.equal (Schedule.warmedUp 0 0.1 0) 0.1 "none"
        }
        test "the architecture fingerprint ignores layout and comments, not layers" {
            let fingerprint text =
                let p = program text
                Checkpoint.fingerprint p.Input (Shapes.checkProgram p |> Repository.unwrap)
            let relaid = tinyText.Replace(" >> ", "\n    >> ") + "\n# a comment"
            Expect.equal (fingerprint relaid) (fingerprint tinyText) "same module"
            Expect.notEqual (fingerprint (tinyText.Replace("conv(3, 8", "conv(3, 9"))) (fingerprint tinyText) "other width"
        }
    ]

/// A fully convolutional net for the 12×12 blobs: 5 per-pixel scores (4 classes and the background).
let private tinySegmenterText =
    """input(1, 12, 12)
network segmenter = conv(3, 8, padding=1) >> relu >> conv(3, 5, padding=1)"""

let private objectiveTests =
    let tensor (values: float32[]) (shape: int64[]) = torch.tensor (values, System.ReadOnlySpan shape)
    testList "objective" [
        test "the output shape decides the task: class scores, per-pixel maps with a background channel, or an error naming both" {
            let data = blobs.Value
            Expect.equal (Objective.taskOf (Flat 4) data) (Ok Objective.Classification) "flat 4"
            Expect.equal (Objective.taskOf (Spatial (5, 6, 7)) data) (Ok (Objective.Segmentation (4, 6, 7))) "5 maps of 6×7"
            for shape, fragment in [ Flat 3, "the data has 4 classes"; Spatial (4, 6, 6), "(5 channels or more)" ] do
                match Objective.taskOf shape data with
                | Ok task -> failtest $"{Shape.format shape} gave {task}"
                | Error message -> Expect.stringContains message fragment "says what fits"
        }
        test "per-pixel targets: ink at or above ½ in the first channel takes the label, the rest the background; resampled by nearest neighbour" {
            use _ = torch.NewDisposeScope ()
            // Two images of 1×2×4 (label 3 and 1); the second channel is noise that must not count.
            let first = [| 0.5f; 0.49f; 1.0f; 0.0f;   0.0f; 0.7f; 0.2f; 0.6f |]
            let second = [| 0.0f; 0.0f; 0.0f; 0.9f;   0.55f; 0.0f; 0.0f; 0.0f |]
            let noise = Array.create 8 1.0f
            let input = tensor (Array.concat [ first; noise; second; noise ]) [| 2L; 2L; 2L; 4L |]
            let labels = torch.tensor [| 3L; 1L |]
            let full = Objective.targets (Objective.Segmentation (4, 2, 4)) input labels
            Expect.equal (full.data<int64>().ToArray ()) [| 3L; 4L; 3L; 4L; 4L; 3L; 4L; 3L;   4L; 4L; 4L; 1L; 1L; 4L; 4L; 4L |] "2×4 targets"
            let half = Objective.targets (Objective.Segmentation (4, 1, 2)) input labels
            // Nearest neighbour on 2×4 → 1×2 reads pixels (0, 0) and (0, 2).
            Expect.equal (half.data<int64>().ToArray ()) [| 3L; 3L; 4L; 4L |] "1×2 targets"
            Expect.equal (Objective.targets Objective.Classification input labels).shape [| 2L |] "classification keeps the labels"
        }
        test "the segmentation loss weighs the ink's and the background's mean cross-entropies equally" {
            use _ = torch.NewDisposeScope ()
            let rng = Random 7
            let logits = Array.init (1 * 3 * 2 * 3) (fun _ -> float32 (rng.NextDouble () * 4.0 - 2.0))
            let target = [| 0L; 2L; 2L; 1L; 2L; 2L |] // background is class 2: two ink pixels, four background
            let crossEntropy pixel =
                let score c = float logits[c * 6 + pixel]
                let scores = Array.init 3 score
                log (Array.sumBy exp scores) - scores[int target[pixel]]
            let ink = (crossEntropy 0 + crossEntropy 3) / 2.0
            let background = [ 1; 2; 4; 5 ] |> List.averageBy crossEntropy
            let loss = Objective.loss (Objective.Segmentation (2, 2, 3)) (tensor logits [| 1L; 3L; 2L; 3L |]) (torch.tensor(target).view (1L, 2L, 3L))
            Expect.floatClose Accuracy.medium (float (loss.item<float32> ())) ((ink + background) / 2.0) "½ (ink mean + background mean)"
        }
        test "accuracy counts ink pixels; IoU per class counts intersections and unions" {
            use _ = torch.NewDisposeScope ()
            // Classes 0, 1 and background 2; predictions by the largest score.
            let predicted = [| 0; 1; 2; 2; 0; 2 |]
            let target = [| 0L; 0L; 2L; 1L; 0L; 2L |]
            let logits = Array.zeroCreate<float32> 18
            predicted |> Array.iteri (fun pixel c -> logits[c * 6 + pixel] <- 1.0f)
            let task = Objective.Segmentation (2, 2, 3)
            let scores, labels = tensor logits [| 1L; 3L; 2L; 3L |], torch.tensor(target).view (1L, 2L, 3L)
            let predictedClasses = scores.argmax 1L
            Expect.equal (Objective.score task predictedClasses labels) (2L, 4L) "pixels 0 and 4 right of the four ink pixels"
            // class 0: predicted {0, 4}, labelled {0, 1, 4}; class 1: {1} and {3}; background: {2, 3, 5} and {2, 5}.
            Expect.equal (Objective.overlaps task predictedClasses labels) [| 2L, 3L; 0L, 2L; 2L, 3L |] "(intersection, union) per class"
        }
        test "a fully convolutional net trains on per-pixel targets and reports its mean IoU" {
            // One far-pair mark per 12×12 image, labelled by its shape: a pixel's class needs the mark around
            // it, which the 11×11 field of the dilated stack sees.
            let rng = Random 5
            let count, size = 512, 12
            let labels = Array.init count (fun n -> n % Synthetic.marks.Length)
            let images = Array.zeroCreate<float32> (count * size * size)
            for n in 0 .. count - 1 do
                let row, column = rng.Next (size - 4), rng.Next (size - 4)
                Synthetic.marks[labels[n]] |> Array.iteri (fun dy line ->
                    line |> String.iteri (fun dx c -> if c = '#' then images[(n * size + row + dy) * size + column + dx] <- 1.0f))
            let data = { Images = images; Labels = labels; Count = count; Channels = 1; Height = size; Width = size; Classes = 4 }
            let segmenter =
                program "input(1, 12, 12)\nnetwork marks = conv(3, 16, padding=1) >> relu >> conv(3, 16, padding=2, dilation=2) >> relu >> conv(3, 5, padding=2, dilation=2)"
            let o = { options with Epochs = 6; Optimizer = Adam; LearningRate = 0.01 }
            use network = compile o segmenter
            let before = Trainer.evaluate network data |> Result.defaultWith failtest
            let outcome = train o None network data
            let after = Trainer.evaluate network data |> Result.defaultWith failtest
            Expect.equal outcome.Status Trainer.Completed "completed"
            Expect.isLessThan after.Loss (0.5 * before.Loss) $"loss {before.Loss:F3} → {after.Loss:F3}"
            match before.MeanIoU, after.MeanIoU with
            | Some b, Some a -> Expect.isGreaterThan a (b + 0.3) $"mean IoU {b:P1} → {a:P1}"
            | _ -> failtest "a segmentation evaluates to a mean IoU"
            Expect.isGreaterThan after.Accuracy 0.8 (sprintf "ink pixels labelled right (%.1f%%, chance 25%%)" (100.0 * after.Accuracy))
        }
    ]

let private trainerTests =
    testList "trainer" [
        test "a few steps on the blobs lower the loss" {
            use network = compile options tiny.Value
            let before = Trainer.evaluate network blobs.Value |> Result.defaultWith failtest
            let outcome = train { options with Epochs = 1 } None network blobs.Value
            let after = Trainer.evaluate network blobs.Value |> Result.defaultWith failtest
            Expect.equal outcome.Status Trainer.Completed "completed"
            Expect.equal outcome.Steps 16 "512 images in batches of 32"
            Expect.isLessThan after.Loss (0.5 * before.Loss) $"loss {before.Loss:F3} → {after.Loss:F3}"
        }
        test "the same seed gives the same parameters, bit for bit; another seed does not" {
            let run seed =
                let o = { options with Seed = seed }
                use network = compile o tinyBn.Value
                train o None network blobs.Value |> ignore
                snapshot network
            let first = run 3
            Expect.equal (run 3) first "seed 3 twice"
            Expect.notEqual (run 4) first "seed 4"
        }
        test "progress: every step, then every epoch, with rates" {
            use network = compile options tiny.Value
            let reports = ResizeArray()
            Trainer.train options None network blobs.Value reports.Add |> Result.defaultWith failtest |> ignore
            let steps = reports |> Seq.choose (function Trainer.StepDone s -> Some s | _ -> None) |> List.ofSeq
            let epochs = reports |> Seq.choose (function Trainer.EpochDone e -> Some e | _ -> None) |> List.ofSeq
            Expect.equal steps.Length 32 "16 steps × 2 epochs"
            Expect.equal (epochs |> List.map _.Epoch) [ 1; 2 ] "epochs"
            Expect.all steps (fun s -> s.ImagesPerSecond > 0.0 && s.Accuracy >= 0.0 && s.Accuracy <= 1.0) "rates"
            Expect.isLessThan (List.last steps).LearningRate (List.head steps).LearningRate "cosine lowers the rate"
        }
        test "a loss that overflows stops the run as Diverged, keeping the last good checkpoint loadable" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine(dir, "tiny.pt")
                use network = compile options tiny.Value
                let first = train { options with Epochs = 1 } (Some { Path = path; Resume = false }) network blobs.Value
                Expect.equal first.LastCheckpoint (Some (path, 1)) "checkpoint after epoch 1"
                let good = snapshot network
                let wild = { options with Epochs = 3; LearningRate = 1e6 }
                let outcome = train wild (Some { Path = path; Resume = true }) network blobs.Value
                match outcome.Status with
                | Trainer.Diverged (epoch, step) ->
                    Expect.equal epoch 2 "diverged in the first resumed epoch"
                    Expect.isGreaterThanOrEqual step 1 "a step number"
                | Trainer.Completed -> failtest "lr = 1e6 should diverge"
                Expect.equal outcome.LastCheckpoint (Some (path, 1)) "the last good checkpoint is epoch 1's"
                let sidecar = Checkpoint.read path |> Result.defaultWith failtest
                Expect.equal (sidecar.Run |> Option.map _.Epoch) (Some 1) "the sidecar still says epoch 1"
                use reloaded = compile { options with Seed = 99 } tiny.Value
                Checkpoint.load path reloaded None |> Result.defaultWith failtest
                Expect.equal (snapshot reloaded) good "the checkpoint holds epoch 1's weights")
        }
        test "a run that diverges in its first epoch keeps the epoch-0 checkpoint" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine(dir, "tiny.pt")
                use network = compile options tiny.Value
                let initial = snapshot network
                let outcome = train { options with LearningRate = 1e6 } (Some { Path = path; Resume = false }) network blobs.Value
                Expect.equal outcome.Status (Trainer.Diverged (1, (match outcome.Status with Trainer.Diverged (_, s) -> s | _ -> 0))) "diverged in epoch 1"
                Expect.equal outcome.LastCheckpoint (Some (path, 0)) "epoch 0"
                use reloaded = compile { options with Seed = 99 } tiny.Value
                Checkpoint.load path reloaded None |> Result.defaultWith failtest
                Expect.equal (snapshot reloaded) initial "the initial weights")
        }
        test "resume continues from the saved epoch: resumed from epoch 1's checkpoint, a run ends where the uninterrupted one does" {
            inTemporaryFolder (fun dir ->
                let path, copy = Path.Combine(dir, "tinybn.pt"), Path.Combine(dir, "epoch1.pt")
                let keepEpoch1 progress =
                    match progress with
                    | Trainer.Saved (_, 1) ->
                        let source, target = Checkpoint.files path, Checkpoint.files copy
                        File.Copy(source.Weights, target.Weights)
                        File.Copy(source.OptimizerState, target.OptimizerState)
                        File.Copy(source.Sidecar, target.Sidecar)
                    | _ -> ()
                let straight =
                    use network = compile options tinyBn.Value
                    Trainer.train options (Some { Path = path; Resume = false }) network blobs.Value keepEpoch1
                    |> Result.defaultWith failtest |> ignore
                    snapshot network
                use fresh = compile { options with Seed = 99 } tinyBn.Value
                let reports = ResizeArray()
                let outcome =
                    Trainer.train options (Some { Path = copy; Resume = true }) fresh blobs.Value reports.Add
                    |> Result.defaultWith failtest
                Expect.contains reports (Trainer.Resumed (1, 16)) "resumed after epoch 1, step 16"
                Expect.equal (outcome.Epochs, outcome.Steps, outcome.Images) (2, 32, 512) "ran epoch 2 only"
                Expect.equal (snapshot fresh) straight "same weights and buffers as the uninterrupted run")
        }
        test "resume refuses a checkpoint of another architecture or optimiser" {
            inTemporaryFolder (fun dir ->
                let path = Path.Combine(dir, "tiny.pt")
                use network = compile options tiny.Value
                train { options with Epochs = 1 } (Some { Path = path; Resume = false }) network blobs.Value |> ignore
                use other = compile options tinyBn.Value
                match Trainer.train options (Some { Path = path; Resume = true }) other blobs.Value ignore with
                | Error message -> Expect.stringContains message "different architecture" "architecture"
                | Ok _ -> failtest "resumed another architecture"
                match Trainer.train { options with Optimizer = Adam } (Some { Path = path; Resume = true }) network blobs.Value ignore with
                | Error message -> Expect.stringContains message "--optimizer sgd" "optimiser"
                | Ok _ -> failtest "resumed with another optimiser")
        }
        test "Adam trains too" {
            let o = { options with Optimizer = Adam; LearningRate = 0.01; Epochs = 1 }
            use network = compile o tiny.Value
            train o None network blobs.Value |> ignore
            let after = Trainer.evaluate network blobs.Value |> Result.defaultWith failtest
            Expect.isGreaterThan after.Accuracy 0.9 "accuracy on the blobs"
        }
    ]

/// The live tensor count of this thread (TorchSharp counts creation and disposal per thread).
let private live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount

let private leakTest =
    test "no tensor leaks: 20 compile/dispose cycles and 200 training steps (with a checkpoint and a resume) leave the live count where it was" {
        let lenet = Repository.readZoo "lenet5.rcp" ||> Parser.parseProgram |> Repository.unwrap
        let start = live ()
        for _ in 1..20 do
            use network = compile options lenet
            ()
        let afterCompiles = live ()
        let data = Synthetic.blobs 12 1600 4 12
        let o = { options with Epochs = 2; BatchSize = 16; Optimizer = Adam; LearningRate = 0.01 }
        // One epoch with a checkpoint, then a resumed second: saving and loading are counted too.
        let steps =
            inTemporaryFolder (fun dir ->
                let path = Path.Combine(dir, "leak.pt")
                use network = compile o tinyBn.Value
                train { o with Epochs = 1 } (Some { Path = path; Resume = false }) network data |> ignore
                let outcome = train o (Some { Path = path; Resume = true }) network data
                Trainer.evaluate network data |> Result.defaultWith failtest |> ignore
                outcome.Steps)
        Expect.equal steps 200 "200 steps"
        let stats = DisposeScopeManager.Statistics
        Expect.equal afterCompiles start $"live tensors after 20 compile/dispose cycles ({stats})"
        Expect.equal (live ()) start $"live tensors after training ({stats})"
    }

/// The layers whose modules build their own autograd (deform's RowSums) or sample, transform and resize
/// (DCLS, SK, dendritic, nonlocal, DynOPool), in one small net.
let private fieldLayersText =
    """input(1, 12, 12)
network fieldlayers =
    deform(3, 6, padding=1, modulated=true) >> relu >> dcls(3, 6, 5, padding=2) >> sk(6, groups=2) >> dendconv(3, 6, padding=1)
    >> fraclap(s=0.5) >> dynopool(0.5) >> gavgpool >> flatten >> dense(4)"""

let private fieldLayersLeakTest =
    test "no tensor leaks with the field layers: 100 training steps and an evaluation leave the live count where it was" {
        let start = live ()
        let o = { options with Epochs = 1; BatchSize = 16; Optimizer = Adam; LearningRate = 0.01 }
        let steps =
            use network = compile o (program fieldLayersText)
            let outcome = train o None network (Synthetic.blobs 13 1600 4 12)
            Trainer.evaluate network blobs.Value |> Result.defaultWith failtest |> ignore
            outcome.Steps
        Expect.equal steps 100 "100 steps"
        Expect.equal (live ()) start $"live tensors after training ({DisposeScopeManager.Statistics})"
    }

let private commandTests =
    let run arguments =
        let output, error = new StringWriter(), new StringWriter()
        let code = Train.run output error (Progress.lines output) arguments
        code, output.ToString(), error.ToString()
    let withTiny f =
        inTemporaryFolder (fun dir ->
            let file = Path.Combine(dir, "tiny.rcp")
            File.WriteAllText(file, tinyText)
            f dir file)
    testList "train command" [
        test "a missing file is bad input: exit 2 and the file named" {
            let code, _, error = run { Train.defaults with File = "no/such.rcp"; Data = "synthetic-blobs" }
            Expect.equal code 2 "exit code"
            Expect.stringContains error "no/such.rcp:1:1: error" "positioned message"
        }
        test "a syntax error is bad input with its position" {
            inTemporaryFolder (fun dir ->
                let file = Path.Combine(dir, "bad.rcp")
                File.WriteAllText(file, "input(1, 12, 12)\nnetwork bad = cnov(3, 8)")
                let code, _, error = run { Train.defaults with File = file; Data = "synthetic-blobs" }
                Expect.equal code 2 "exit code"
                Expect.stringContains error $"{file}:2:" "line 2")
        }
        test "bad options and data names are bad input, named" {
            withTiny (fun _ file ->
                let defaults = { Train.defaults with File = file; Data = "synthetic-blobs" }
                for arguments, fragment in
                    [ { defaults with Data = "cifar" }, "--data"
                      { defaults with Epochs = 0 }, "--epochs"
                      { defaults with Optimizer = "rmsprop" }, "--optimizer"
                      { defaults with Resume = true }, "--resume"
                      { defaults with Images = Some 1 }, "--images" ] do
                    let code, _, error = run arguments
                    Expect.equal code 2 $"exit code for {fragment}"
                    Expect.stringContains error fragment "the option is named")
        }
        test "init --save writes a checkpoint that train --from starts from; --from with --init is bad input" {
            withTiny (fun dir file ->
                let checkpoint = Path.Combine (dir, "start.pt")
                let output, error = new StringWriter(), new StringWriter()
                let saved = Init.run output error { Init.defaults with File = file; Method = "he"; Law = "uniform"; Save = Some checkpoint }
                Expect.equal saved 0 $"init exit code ({error})"
                Expect.stringContains (File.ReadAllText (checkpoint + ".json")) "\"Method\": \"he\"" "the sidecar records the method"
                let code, output, error = run { Train.defaults with File = file; Data = "synthetic-blobs"; Epochs = 1; Device = "cpu"; From = Some checkpoint }
                Expect.equal code 0 $"train exit code ({error})"
                Expect.stringContains output $"weights from {checkpoint}" "says where the weights start"
                let code, _, error = run { Train.defaults with File = file; Data = "synthetic-blobs"; From = Some checkpoint; Init = "lsuv" }
                Expect.equal code 2 "both a checkpoint and a method"
                Expect.stringContains error "--from" "the option is named")
        }
        test "train --init names the initialisation the weights start from" {
            withTiny (fun _ file ->
                let code, output, error =
                    run { Train.defaults with File = file; Data = "synthetic-blobs"; Epochs = 1; Device = "cpu"; Init = "glorot"; Law = "truncated-normal" }
                Expect.equal code 0 $"exit code ({error})"
                Expect.stringContains output "weights initialised by glorot (rules exact, law truncated-normal)" "the start line"
                let code, _, error = run { Train.defaults with File = file; Data = "synthetic-blobs"; Init = "kaiming-magic" }
                Expect.equal code 2 "an unknown method"
                Expect.stringContains error "kaiming-magic" "named")
        }
        test "training a tiny model on synthetic blobs: exit 0 and the accuracy line" {
            withTiny (fun _ file ->
                let code, output, error = run { Train.defaults with File = file; Data = "synthetic-blobs"; Epochs = 1; Device = "cpu" }
                Expect.equal code 0 $"exit code ({error})"
                Expect.stringContains output "epoch 1/1" "the epoch line"
                Expect.isMatch output @"test accuracy \d+\.\d\d% \(500 images\)" "the accuracy line")
        }
        test "a fully convolutional model trains per pixel: the task, the ink accuracy and the mean IoU are printed" {
            inTemporaryFolder (fun dir ->
                let file = Path.Combine(dir, "segmenter.rcp")
                File.WriteAllText(file, tinySegmenterText)
                let arguments = { Train.defaults with File = file; Data = "synthetic-blobs"; Epochs = 1; Device = "cpu"; Images = Some 256 }
                let code, output, error = run arguments
                Expect.equal code 0 $"exit code ({error})"
                Expect.stringContains output "task: per-pixel segmentation at 12×12" "the task"
                Expect.stringContains output "training on the first 256" "--images"
                Expect.isMatch output @"test accuracy \d+\.\d\d% on ink pixels, mean IoU \d+\.\d\d% \(500 images\)" "the accuracy line")
        }
        test "divergence exits 3 and names the last good checkpoint" {
            withTiny (fun dir file ->
                let path = Path.Combine(dir, "ck.pt")
                let arguments =
                    { Train.defaults with
                        File = file
                        Data = "synthetic-blobs"
                        Epochs = 1
                        LearningRate = Some 1e6
                        Checkpoint = Some path }
                let code, _, error = run arguments
                Expect.equal code 3 "exit code"
                Expect.stringContains error "diverged at epoch 1" "the message"
                Expect.stringContains error $"{path} (epoch 0)" "the checkpoint")
        }
        test "data fetch of an unknown set is bad input" {
            use output = new StringWriter()
            use error = new StringWriter()
            Expect.equal (Data.run output error (Data.Fetch { Data.defaults with Name = "cifar" })) 2 "exit code"
        }
    ]

let private mnistTest =
    test "LeNet-5 on MNIST: one epoch with the defaults reaches 90% on the 2,000 held-out digits" {
        let dir = Mnist.defaultDirectory ()
        let train, test =
            Mnist.load dir
            |> Result.defaultWith (fun e -> failtest $"{e}\nscripts/test.sh fetches MNIST first: receptor data fetch mnist")
        let lenet = Repository.readZoo "lenet5.rcp" ||> Parser.parseProgram |> Repository.unwrap
        let o = { TrainOptions.defaults with Epochs = 1 }
        use network = compile o lenet
        let outcome = Trainer.train o None network train ignore |> Result.defaultWith failtest
        let result = Trainer.evaluate network test |> Result.defaultWith failtest
        Expect.equal outcome.Status Trainer.Completed "completed"
        Expect.isGreaterThanOrEqual result.Accuracy 0.90 $"test accuracy {result.Accuracy:P2}"
    }

// TorchSharp's dispose scopes and statistics belong to one thread: these run in sequence.
let tests: Test =
    testSequenced
    <| testList "training" [ batchTests; objectiveTests; trainerTests; leakTest; fieldLayersLeakTest; commandTests; mnistTest ]
