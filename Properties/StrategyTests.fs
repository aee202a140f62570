/// The strategies as functions of a study's history: random search never repeats a network and knows when the
/// space is spent; aging evolution mutates tournament winners at one choice point; ASHA promotes the top 1/η of
/// a rung; activation expressions mutate into parseable expressions; everything survives the settings' JSON.
module Receptor.Properties.StrategyTests

open System
open Expecto
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Search

let private space text = Space.parse "space.rcp" text |> Repository.unwrap

/// 36 networks, every choice point at top level (so one mutation is one changed decision).
let private small =
    space """input(1, 12, 12)

network small =
    conv(choice(1, 3, 5), int(4, 16, step=4), padding=same) >> relu >> conv(1, choice(4, 8, 16)) >> gavgpool >> flatten >> dense(10)
"""

let private settings strategy : Strategies.Settings =
    { Strategy = strategy; Epochs = 2; Constraints = Constraints.none; Ranking = None }

let private withConstraints constraints (s: Strategies.Settings) : Strategies.Settings = { s with Constraints = constraints }

/// A trial as the store would hold it after an evaluation that scored `accuracy`.
let private evaluated number (candidate: Candidate) accuracy : Trial =
    { Id = int64 number
      Study = "s"
      Number = number
      Candidate = candidate
      State = Finished
      Attempt = 1
      Worker = Some "w"
      Seed = number
      Epochs = [ { Epoch = candidate.Epochs; ValidationAccuracy = accuracy; ValidationLoss = 1.0 - accuracy; TrainingLoss = 1.0 } ]
      Message = None
      Device = Some "cpu"
      Started = None
      Ended = None
      WallSeconds = None
      CpuSeconds = None }

let tests: Test =
    testList "search strategies" [
        test "random search proposes every network of a 36-network space once, then says it is spent" {
            let rng = Rng 5
            let rec run history n =
                match Strategies.next (settings Strategies.RandomSearch) small rng history with
                | Some sample ->
                    let candidate = Strategies.candidate (settings Strategies.RandomSearch) "autoinit" sample
                    run (evaluated n candidate 0.5 :: history) (n + 1)
                | None -> history
            let history = run [] 1
            Expect.equal history.Length 36 "all, once"
            Expect.equal (history |> List.distinctBy (fun t -> t.Candidate.Fingerprint) |> List.length) 36 "no repeat"
        }
        test "evolution starts random, then each child differs from a member of the population at one choice point" {
            let population, tournament = 8, 3
            let strategy = Strategies.Evolution (population, tournament)
            let rng = Rng 11
            let score (t: Candidate) = float (t.Macs % 97L) / 97.0
            let mutable history = []
            for n in 1 .. 30 do
                match Strategies.next (settings strategy) small rng history with
                | Some sample ->
                    let candidate = Strategies.candidate (settings strategy) "autoinit" sample
                    if n > population then
                        let recent = history |> List.truncate population
                        let decisions (c: Candidate) = Space.decisionsOfJson small c.Decisions |> Result.defaultWith failtest
                        let distance (a: Map<string, Space.Decision>) (b: Map<string, Space.Decision>) =
                            a |> Map.filter (fun k v -> b.TryFind k <> Some v) |> Map.count
                        let nearest = recent |> List.map (fun t -> distance (decisions candidate) (decisions t.Candidate)) |> List.min
                        Expect.equal nearest 1 $"child {n} is one mutation from the population"
                    history <- evaluated n candidate (score candidate) :: history
                | None -> failtest "the space is not spent"
        }
        test "ASHA's rungs end at the study's epochs and divide by η" {
            Expect.equal (Strategies.rungs 3 9) [ 1; 3; 9 ] "η = 3"
            Expect.equal (Strategies.rungs 2 2) [ 1; 2 ] "η = 2"
            Expect.equal (Strategies.rungs 3 1) [ 1 ] "one rung"
        }
        test "ASHA promotes the best of each η finished trials of a rung, once" {
            let rng = Rng 2
            let lowest : Strategies.Settings = { settings (Strategies.Asha 3) with Epochs = 1 }
            let trials =
                List.init 6 (fun i ->
                    let sample = Space.sample rng small
                    evaluated (i + 1) (Strategies.candidate lowest "autoinit" sample) (float i / 10.0))
                |> List.distinctBy (fun t -> t.Candidate.Fingerprint)
            let best = trials |> List.maxBy (fun t -> t.Epochs.Head.ValidationAccuracy)
            match Strategies.promotion 3 9 trials with
            | Some promoted ->
                Expect.equal promoted.Epochs 3 "to the next rung"
                Expect.equal promoted.Architecture best.Candidate.Architecture "the best of the rung"
                let after = evaluated 7 promoted 0.9 :: trials
                match Strategies.promotion 3 9 after with
                | Some second -> Expect.notEqual second.Architecture best.Candidate.Architecture "not promoted twice"
                | None -> Expect.isLessThan trials.Length 6 "a second promotion needs six distinct trials"
            | None -> failtest "six finished trials at rung 1 promote two"
        }
        test "ASHA through the store and a worker: promoted trials reach the top rung, each the best of its rung's first η" {
            let path = IO.Path.Combine(IO.Path.GetTempPath(), $"receptor-asha-{Guid.NewGuid():N}.db")
            let settings = { settings (Strategies.Asha 2) with Epochs = 4 }
            let study : Study =
                { Name = "asha"; Space = Printer.program small.Program; Strategy = Strategies.toJson settings; Objective = Empty
                  Budget = 24; MaxAttempts = 1; TrialSeconds = None; Seed = 1; Created = DateTimeOffset.UtcNow }
            use store = TrialStore.Create(path, study) |> Result.defaultWith failtest
            let propose = Strategies.proposer study 1 |> Result.defaultWith failtest
            // A made-up score, fixed per network: the promotions can be checked against it.
            let networkOf (c: Candidate) = c.Fingerprint.Split('@').[0]
            let score (c: Candidate) = float (Convert.ToInt64((networkOf c).Substring(0, 6), 16) % 1000L) / 1000.0
            let evaluate : Objectives.Evaluate =
                fun claim _ report ->
                    let metrics = [ for e in 1 .. claim.Trial.Candidate.Epochs -> { Epoch = e; ValidationAccuracy = score claim.Trial.Candidate; ValidationLoss = 0.0; TrainingLoss = 0.0 } ]
                    metrics |> List.iter report
                    Completed metrics
            Worker.run store (Worker.defaults ()) propose evaluate |> ignore
            let trials = store.Trials()
            let at rung = trials |> List.filter (fun t -> t.Candidate.Epochs = rung)
            Expect.isNonEmpty (at 4) "some trials reach the top rung"
            for t in at 2 @ at 4 do
                let network = networkOf t.Candidate
                let lower = if t.Candidate.Epochs = 4 then 2 else 1
                let origin = at lower |> List.filter (fun o -> networkOf o.Candidate = network) |> List.exactlyOne
                let earlier = at lower |> List.filter (fun o -> o.Number <= t.Number)
                let better = earlier |> List.filter (fun o -> score o.Candidate > score origin.Candidate) |> List.length
                Expect.isLessThan better (earlier.Length / 2 + 1) $"trial {t.Number} was in the top half of its rung when promoted"
            Expect.equal (trials |> List.filter (fun t -> t.State = Finished) |> List.length) 24 "the budget, promotions included"
        }
        test "settings survive their JSON" {
            let all =
                [ settings (Strategies.Evolution (12, 4))
                  |> withConstraints { Constraints.none with MaxMacs = Some 3_220_000L; MinField = Some 28; Variance = Some (0.1, 10.0) }
                  settings Strategies.RandomSearch
                  settings (Strategies.Asha 2)
                  settings Strategies.Queue |> withConstraints { Constraints.none with MaxParameters = Some 60_000L } ]
            for s in all do
                Expect.equal (Strategies.ofJson (Strategies.toJson s)) (Ok s) (Strategies.toJson s)
        }
        test "an evolved activation samples, mutates and survives JSON as parseable expressions" {
            let s = space "input(1, 8, 8)\n\nnetwork n = conv(3, 8) >> act(evolve(x * sigmoid(x))) >> gavgpool\n"
            Expect.isNone (Space.size s) "unbounded"
            let rng = Rng 4
            let mutable sample = Space.sample rng s
            for _ in 1 .. 60 do
                let child = Space.mutate rng s sample
                Expect.notEqual child.Fingerprint sample.Fingerprint "a mutation changes the network"
                let reparsed = Parser.parseProgram "child.rcp" child.Text
                Expect.isOk reparsed child.Text
                let decisions = Space.decisionsOfJson s (Space.decisionsToJson child.Decisions) |> Result.defaultWith failtest
                Expect.equal (Space.withDecisions rng decisions s).Fingerprint child.Fingerprint "JSON round trip"
                sample <- child
        }
        test "activation mutations keep expressions within the size bound and reach every kind of change" {
            let rng = Rng 8
            let rec size e =
                match e with
                | Unary (_, a) -> 1 + size a
                | Binary (_, a, b) -> 1 + size a + size b
                | _ -> 1
            let start = Binary (Mul, X, Unary (Sigmoid, X))
            let children = List.init 300 (fun _ -> Activations.mutate rng start)
            Expect.all children (fun c -> size c <= Activations.maxSize) "bounded"
            Expect.exists children (fun c -> size c > size start) "inserts"
            Expect.exists children (fun c -> size c < size start) "removes"
            Expect.exists children (fun c -> size c = size start && c <> start) "changes an operator"
        }
    ]
