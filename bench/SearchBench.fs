/// Issue "Search I": the per-trial overhead of the search outside forward and backward passes, against a
/// 2-epoch MNIST trial. For each of a few networks of Examples/spaces/mnist-small.rcp, in alternating order:
/// the bare training loop (Trainer.start with PyTorch's default draw and Trainer.train, nothing else) and the
/// same network as a search trial (enqueued in a SQLite store, claimed, initialised by autoinit from the
/// moment analysis, trained, scored on the hold-out after each epoch, its epochs and end recorded). The
/// overhead is what the trial takes beyond the bare loop.
module Receptor.Bench.SearchBench

open System
open System.Diagnostics
open System.IO
open System.Threading
open Receptor.Core.Data
open Receptor.Core.Signal
open Receptor.Core.Training
open Receptor.Search

let private spaceFile = "Examples/spaces/mnist-small.rcp"

let run (networks: int) (log: string -> unit) : Result<string, string> =
    let text = File.ReadAllText spaceFile
    let objective = { Data = "mnist"; Init = "autoinit"; Validation = 1000; BatchSize = TrainOptions.defaults.BatchSize; LearningRate = None; Repeats = 1 }
    let study =
        { Name = "overhead"; Space = text; Strategy = "queue"; Objective = Train objective; Budget = networks; MaxAttempts = 1
          TrialSeconds = None; Seed = 1; Created = DateTimeOffset.UtcNow }
    Space.parse spaceFile text
    |> Result.mapError Receptor.Dsl.Diagnostic.format
    |> Result.bind (fun space -> Evaluation.split objective space.Program.Input |> Result.map (fun split -> space, split))
    |> Result.bind (fun (space, split) ->
        let settings : Strategies.Settings = { Strategy = Strategies.Queue; Epochs = 2; Constraints = { Constraints.none with MaxMacs = Some 3_218_176L }; Ranking = None }
        let rng = Rng 1
        let candidates =
            Seq.initInfinite (fun _ -> Strategies.candidate settings "autoinit" (Space.sample rng space))
            |> Seq.filter (fun c -> c.Rejection.IsNone)
            |> Seq.distinctBy (fun c -> c.Fingerprint)
            |> Seq.take networks
            |> List.ofSeq
        let path = Path.Combine(Path.GetTempPath(), $"receptor-overhead-{Guid.NewGuid():N}.db")
        let store = TrialStore.Create(path, study) |> Result.defaultWith failwith
        let evaluate = Evaluation.evaluator study objective |> Result.defaultWith failwith
        let bare (candidate: Candidate) =
            let program = Receptor.Dsl.Parser.parseProgram "bare" candidate.Architecture |> Result.defaultWith (Receptor.Dsl.Diagnostic.format >> failwith)
            let options = { TrainOptions.defaults with Start = Initialise { InitSpec.defaults with Method = "torch-default" }; Epochs = 2; Device = Cpu }
            let clock = Stopwatch.StartNew()
            use network = Trainer.start options program split.Train |> Result.defaultWith (Receptor.Dsl.Diagnostic.format >> failwith)
            Trainer.train options None network split.Train ignore |> Result.defaultWith failwith |> ignore
            clock.Elapsed.TotalSeconds
        let trial (candidate: Candidate) =
            let clock = Stopwatch.StartNew()
            store.Enqueue candidate |> ignore
            let claim = store.Claim "bench" |> Option.defaultWith (fun () -> failwith "nothing to claim")
            let outcome = evaluate claim CancellationToken.None (fun m -> store.RecordEpoch(claim, m) |> ignore)
            store.Finish(claim, outcome, { WallSeconds = clock.Elapsed.TotalSeconds; CpuSeconds = 0.0; Device = Some "cpu" }) |> ignore
            clock.Elapsed.TotalSeconds
        /// Where a trial's time goes besides the loop: starting the network (autoinit's plan and draw, or
        /// PyTorch's default draw) and one validation pass.
        let parts (candidate: Candidate) =
            let program = Receptor.Dsl.Parser.parseProgram "parts" candidate.Architecture |> Result.defaultWith (Receptor.Dsl.Diagnostic.format >> failwith)
            let timeStart methodName =
                let options = { TrainOptions.defaults with Start = Initialise { InitSpec.defaults with Method = methodName } }
                let clock = Stopwatch.StartNew()
                let network = Trainer.start options program split.Train |> Result.defaultWith (Receptor.Dsl.Diagnostic.format >> failwith)
                clock.Elapsed.TotalSeconds, network
            let autoinit, network = timeStart "autoinit"
            use network = network
            let clock = Stopwatch.StartNew()
            Trainer.evaluate network split.Validation |> Result.defaultWith failwith |> ignore
            let validation = clock.Elapsed.TotalSeconds
            let plain, other = timeStart "torch-default"
            other.Dispose()
            autoinit, plain, validation
        // Warm-up: TorchSharp's first kernels and the allocator.
        bare candidates.Head |> ignore
        let rows =
            candidates
            |> List.mapi (fun i c ->
                let b, t =
                    if i % 2 = 0 then let b = bare c in b, trial c
                    else let t = trial c in bare c, t
                let autoinit, plain, validation = parts c
                log $"{c.Fingerprint}: bare {b:F1} s, trial {t:F1} s; start {autoinit:F2} s (autoinit) against {plain:F2} s (torch-default), validation {validation:F2} s"
                c, b, t, (autoinit, plain, validation))
        (store :> IDisposable).Dispose()
        for suffix in [ ""; "-wal"; "-shm" ] do
            if File.Exists(path + suffix) then File.Delete(path + suffix)
        let overhead (b: float) (t: float) = 100.0 * (t - b) / t
        let lines =
            let b, t = rows |> List.sumBy (fun (_, b, _, _) -> b), rows |> List.sumBy (fun (_, _, t, _) -> t)
            [ yield "| network (MACs) | bare 2-epoch loop | search trial | overhead | autoinit start | torch-default start | one validation pass |"
              yield "|---|---|---|---|---|---|---|"
              for c, b, t, (a, p, v) in rows ->
                  $"| {c.Fingerprint} ({c.Macs:N0}) | {b:F2} s | {t:F2} s | {overhead b t:F1} %% | {a:F2} s | {p:F2} s | {v:F2} s |"
              yield $"| all {rows.Length} | {b:F2} s | {t:F2} s | {overhead b t:F1} %% | | | |" ]
        Ok (String.concat "\n" lines))
