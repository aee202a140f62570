/// The search end to end with the Train objective: `receptor search run` proposes, rejects, trains and
/// records; every finished trial carries its epochs, device and times; a diverging candidate is recorded as
/// diverged; the hold-out is disjoint from what is trained on; a long sweep in one worker keeps TorchSharp's
/// live tensors flat and its memory bounded.
module Receptor.Properties.SearchTests

open System
open System.IO
open Expecto
open TorchSharp
open Receptor.Core.Data
open Receptor.Search
open Receptor.Cli.Commands

/// Networks for 1×8×8 blobs in 4 classes: 3 kernels × 2 widths × with or without a second unit.
let private tinySpace =
    """input(1, 8, 8)

network tiny =
    conv(choice(1, 3, 5), choice(4, 8), padding=same) >> relu >> optional(conv(3, 8, padding=1) >> relu)
    >> gavgpool >> flatten >> dense(4)
"""

let private temporary name =
    let path = Path.Combine(Path.GetTempPath(), $"receptor-{name}-{Guid.NewGuid():N}.db")
    path

let private study name budget strategy objective : Study =
    { Name = name
      Space = tinySpace
      Strategy = strategy
      Objective = objective
      Budget = budget
      MaxAttempts = 2
      TrialSeconds = None
      Seed = 1
      Created = DateTimeOffset.UtcNow }

let private blobs = { Data = "synthetic-blobs"; Init = "autoinit"; Validation = 200; BatchSize = 64; LearningRate = None; Repeats = 1 }

let private live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount

let tests: Test =
    testSequenced
    <| testList "search" [
        test "the hold-out is a seeded split: disjoint, complete, the same for the same seed" {
            let data = Synthetic.blobs 1 300 4 8
            let split = Evaluation.holdOut 0 50 data |> Result.defaultWith failtest
            Expect.equal (split.Train.Count, split.Validation.Count) (250, 50) "sizes"
            let key (d: Dataset) i = Dataset.image i d |> Array.map string |> String.concat ","
            let trained = set [ for i in 0 .. split.Train.Count - 1 -> key split.Train i ]
            Expect.isTrue ([ 0 .. 49 ] |> List.forall (fun i -> not (trained.Contains (key split.Validation i)))) "no held-out image is trained on"
            let again = Evaluation.holdOut 0 50 data |> Result.defaultWith failtest
            Expect.equal again.Validation.Labels split.Validation.Labels "same seed, same split"
            Expect.isError (Evaluation.holdOut 0 300 data) "a hold-out of everything is refused"
        }
        test "search run: every trial ends, finished ones carry their epochs, device and times, the best is printed" {
            let path = temporary "run"
            File.WriteAllText(path + ".rcp", tinySpace)
            let options =
                { File = path + ".rcp"
                  Strategy = Strategies.RandomSearch
                  Trials = 6
                  Epochs = 2
                  Workers = 1
                  Storage = Some (Storage.sqlite path)
                  Init = "autoinit"
                  Data = "synthetic-blobs"
                  Validation = 200
                  Batch = 64
                  LearningRate = None
                  Repeats = 1
                  Constraints = { Constraints.none with MaxMacs = Some 20_000L }
                  Ranking = None
                  Seed = 1
                  TrialSeconds = None
                  Retrain = Some 1
                  Plot = Some (path + ".png") }
                : SearchRun.RunOptions
            use output = new StringWriter()
            use error = new StringWriter()
            let code = SearchRun.run output error options
            Expect.equal code 0 $"exit code; {error}"
            let text = output.ToString()
            Expect.stringContains text "leaderboard:" "leaderboard"
            Expect.stringContains text "test accuracy" "retrained and tested"
            Expect.isTrue (File.Exists (path + ".png")) "the Pareto figure"
            use store = TrialStore.Open path |> Result.defaultWith failtest
            let trials = store.Trials()
            Expect.equal (trials |> List.filter (fun t -> t.State <> Rejected) |> List.length) 6 "the budget: rejected candidates do not count"
            Expect.all trials (fun t -> TrialState.isEnded t.State) "all ended"
            let finished = trials |> List.filter (fun t -> t.State = Finished)
            Expect.isNonEmpty finished "some finished"
            for t in finished do
                Expect.equal (t.Epochs |> List.map (fun e -> e.Epoch)) [ 1; 2 ] $"trial {t.Number}: both epochs"
                Expect.equal t.Device (Some "cpu") "device"
                Expect.isTrue (t.WallSeconds |> Option.exists (fun s -> s > 0.0)) "wall time"
                Expect.isTrue (t.Candidate.Macs <= 20_000L) "within the budget"
            for t in trials |> List.filter (fun t -> t.State = Rejected) do
                Expect.stringContains (defaultArg t.Message "") "MACs" "rejected for its MACs"
            Expect.equal (trials |> List.distinctBy (fun t -> t.Candidate.Fingerprint)).Length trials.Length "no network twice"
        }
        test "a diverging candidate is recorded as diverged, with the epochs it reached" {
            let path = temporary "diverge"
            let s = study "diverge" 1 "random" (Train { blobs with LearningRate = Some 1e12 })
            use store = TrialStore.Create(path, s) |> Result.defaultWith failtest
            let propose = Strategies.proposer s 1 |> Result.defaultWith failtest
            let evaluate = Objectives.evaluator (fun o -> Evaluation.evaluator s o) s |> Result.defaultWith failtest
            Worker.run store (Worker.defaults ()) propose evaluate |> ignore
            let trial = store.Trials() |> List.exactlyOne
            Expect.equal trial.State Diverged $"diverged, not failed: {trial.Message}"
            Expect.stringContains (defaultArg trial.Message "") "not finite" "says why"
        }
        test "with repeats, a trial's epochs are the means of its seeds' runs" {
            let s = study "repeats" 1 "queue" (Train blobs)
            let space = Space.parse "tiny" tinySpace |> Result.defaultWith (fun d -> failtest (Receptor.Dsl.Diagnostic.format d))
            let sample = Space.sample (Rng 2) space
            let candidate = Strategies.candidate { Strategy = Strategies.Queue; Epochs = 2; Constraints = Constraints.none; Ranking = None } "autoinit" sample
            let split = Evaluation.split blobs space.Program.Input |> Result.defaultWith failtest
            let trial seed : Trial =
                { Id = 1L; Study = s.Name; Number = 1; Candidate = candidate; State = Running; Attempt = 1; Worker = Some "w"; Seed = seed
                  Epochs = []; Message = None; Device = None; Started = None; Ended = None; WallSeconds = None; CpuSeconds = None }
            let run objective seed =
                match Evaluation.train objective split { Trial = trial seed; Worker = "w"; Attempt = 1 } Threading.CancellationToken.None ignore with
                | Completed metrics -> metrics
                | other -> failtest $"{other}"
            let one, other = run blobs 5, run blobs 1005
            let both = run { blobs with Repeats = 2 } 5
            Expect.equal (both |> List.map (fun m -> m.Epoch)) [ 1; 2 ] "both epochs"
            for m, (a, b) in List.zip both (List.zip one other) do
                Expect.floatClose Accuracy.veryHigh m.ValidationAccuracy ((a.ValidationAccuracy + b.ValidationAccuracy) / 2.0) $"epoch {m.Epoch}: the mean accuracy"
                Expect.floatClose Accuracy.veryHigh m.TrainingLoss ((a.TrainingLoss + b.TrainingLoss) / 2.0) $"epoch {m.Epoch}: the mean loss"
        }
        test "a 200-trial sweep in one worker keeps live tensors flat and memory growth under 100 MB" {
            let path = temporary "sweep"
            // Queue: the same handful of networks, each enqueued under many seeds (fingerprints made distinct).
            let s = study "sweep" 200 "queue" (Train { blobs with Validation = 1800 })
            use store = TrialStore.Create(path, s) |> Result.defaultWith failtest
            let space = Space.parse "tiny" tinySpace |> Result.defaultWith (fun d -> failtest (Receptor.Dsl.Diagnostic.format d))
            let rng = Rng 3
            for n in 1 .. 200 do
                let sample = Space.sample rng space
                let candidate = Strategies.candidate { Strategy = Strategies.Queue; Epochs = 1; Constraints = Constraints.none; Ranking = None } "autoinit" sample
                store.Enqueue { candidate with Fingerprint = $"{candidate.Fingerprint}-{n}" } |> ignore
            let evaluate = Objectives.evaluator (fun o -> Evaluation.evaluator s o) s |> Result.defaultWith failtest
            let resident () =
                GC.Collect()
                GC.WaitForPendingFinalizers()
                Diagnostics.Process.GetCurrentProcess().Refresh()
                Diagnostics.Process.GetCurrentProcess().WorkingSet64
            // The trials are run on this thread, whose live tensors DisposeScopeManager counts.
            let runUntil ended =
                while store.Counts() |> List.filter (fst >> TrialState.isEnded) |> List.sumBy snd < ended do
                    match store.Claim "sweeper" with
                    | Some claim ->
                        let outcome = evaluate claim Threading.CancellationToken.None ignore
                        store.Finish(claim, outcome, { WallSeconds = 0.0; CpuSeconds = 0.0; Device = Some "cpu" }) |> ignore
                    | None -> failtest "nothing to claim"
            // Warm-up: the first trials load the data and TorchSharp's kernels.
            runUntil 20
            let tensors, memory = live (), resident ()
            runUntil 200
            Expect.equal (live ()) tensors $"live tensors after 180 more trials ({DisposeScopeManager.Statistics})"
            let growth = float (resident () - memory) / 1e6
            Expect.isLessThan growth 100.0 $"resident memory grew {growth:F1} MB"
            Expect.equal (store.Trials() |> List.filter (fun t -> t.State = Finished) |> List.length) 200 "all finished"
        }
    ]
