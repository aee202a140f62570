/// How a study proposes its next candidate from the trials so far: random search, or regularised (aging)
/// evolution (Real et al. 2019). Every proposal is analysed and checked against the constraints before it is
/// stored, and never repeats a network the study already holds.
module Receptor.Search.Strategies

open System
open System.Text.Json
open System.Text.Json.Nodes
open Receptor.Core.Data

type Strategy =
    /// Trials are enqueued from outside; the workers only evaluate them.
    | Queue
    /// Every candidate drawn uniformly from the space.
    | RandomSearch
    /// Aging evolution: the first `population` candidates are random; after that, `tournament` of the
    /// `population` most recently evaluated trials are drawn, and the best of them, mutated at one choice
    /// point, is the next candidate.
    | Evolution of population: int * tournament: int
    /// Asynchronous successive halving (Li et al. 2020): rungs of Epochs/η^k, …, Epochs/η, Epochs epochs (at
    /// least 1); a trial in the top 1/η of its rung's finished trials is promoted to the next rung as soon as
    /// it is there, and otherwise a new random candidate starts at the lowest rung.
    | Asha of eta: int

/// A pre-screening of uniform draws: `Pool` fresh candidates that pass the constraints are drawn, and the one
/// with the best zero-cost score is proposed.
type Ranking = { Proxy: ZeroCost.Proxy; Pool: int }

/// A study's search settings, stored as JSON in Study.Strategy.
type Settings =
    { Strategy: Strategy
      /// The epochs every candidate is trained for.
      Epochs: int
      Constraints: Constraints.Constraints
      /// None: every uniform draw is proposed as it comes.
      Ranking: Ranking option }

/// What ranks a pool: the score of a candidate, higher better (Ranking.scorer computes the study's proxy), and
/// where the choice is reported.
type Scorer = { Score: Candidate -> float; Log: string -> unit }

/// The pool of `receptor search run --rank`.
let defaultPool = 8

let name strategy =
    match strategy with
    | Queue -> "queue"
    | RandomSearch -> "random"
    | Evolution _ -> "evolution"
    | Asha _ -> "asha"

/// The defaults of `receptor search run`: a population of 20 and tournaments of 5 (a quarter, as Real et al.).
let evolution = Evolution (20, 5)

let parseName (text: string) =
    match text.ToLowerInvariant() with
    | "queue" -> Ok Queue
    | "random" -> Ok RandomSearch
    | "evolution" | "regularized-evolution" | "regularised-evolution" -> Ok evolution
    | "asha" -> Ok (Asha 3)
    | other -> Error $"unknown strategy '{other}' (random, evolution, asha)"

// ----------------------------------------------------------------------------------------------------- JSON

let toJson (settings: Settings) =
    let o = JsonObject()
    o["strategy"] <- JsonValue.Create(name settings.Strategy)
    match settings.Strategy with
    | Evolution (population, tournament) ->
        o["population"] <- JsonValue.Create population
        o["tournament"] <- JsonValue.Create tournament
    | Asha eta -> o["eta"] <- JsonValue.Create eta
    | Queue | RandomSearch -> ()
    o["epochs"] <- JsonValue.Create settings.Epochs
    let c = settings.Constraints
    c.MaxParameters |> Option.iter (fun v -> o["maxParameters"] <- JsonValue.Create v)
    c.MaxMacs |> Option.iter (fun v -> o["maxMacs"] <- JsonValue.Create v)
    c.MinField |> Option.iter (fun v -> o["minField"] <- JsonValue.Create v)
    c.Variance |> Option.iter (fun (low, high) -> o["variance"] <- JsonArray(JsonValue.Create low, JsonValue.Create high))
    settings.Ranking |> Option.iter (fun r ->
        o["rank"] <- JsonValue.Create(ZeroCost.name r.Proxy)
        o["pool"] <- JsonValue.Create r.Pool)
    o.ToJsonString()

/// Settings from their JSON, or from a bare strategy name with the defaults.
let ofJson (json: string) : Result<Settings, string> =
    if not (json.TrimStart().StartsWith "{") then
        parseName (json.Trim())
        |> Result.map (fun strategy -> { Strategy = strategy; Epochs = 1; Constraints = Constraints.none; Ranking = None })
    else
    try
        let o = JsonNode.Parse(json).AsObject()
        let tryGet (key: string) (read: JsonNode -> 'a) =
            match o[key] with
            | null -> None
            | node -> Some (read node)
        let strategy =
            match tryGet "strategy" (fun n -> n.GetValue<string>()) |> Option.defaultValue "queue" with
            | "evolution" ->
                Ok (Evolution (tryGet "population" (fun n -> n.GetValue<int>()) |> Option.defaultValue 20,
                               tryGet "tournament" (fun n -> n.GetValue<int>()) |> Option.defaultValue 5))
            | "asha" -> Ok (Asha (tryGet "eta" (fun n -> n.GetValue<int>()) |> Option.defaultValue 3))
            | other -> parseName other
        let ranking =
            match tryGet "rank" (fun n -> n.GetValue<string>()) with
            | None -> Ok None
            | Some proxy ->
                ZeroCost.parse proxy
                |> Result.map (fun proxy -> Some { Proxy = proxy; Pool = tryGet "pool" (fun n -> n.GetValue<int>()) |> Option.defaultValue defaultPool })
        strategy
        |> Result.bind (fun strategy -> ranking |> Result.map (fun ranking -> strategy, ranking))
        |> Result.map (fun (strategy, ranking) ->
            { Strategy = strategy
              Epochs = tryGet "epochs" (fun n -> n.GetValue<int>()) |> Option.defaultValue 1
              Constraints =
                { MaxParameters = tryGet "maxParameters" (fun n -> n.GetValue<int64>())
                  MaxMacs = tryGet "maxMacs" (fun n -> n.GetValue<int64>())
                  MinField = tryGet "minField" (fun n -> n.GetValue<int>())
                  Variance =
                    tryGet "variance" (fun n ->
                        let a = n.AsArray()
                        a[0].GetValue<float>(), a[1].GetValue<float>()) }
              Ranking = ranking })
    with
    | :? JsonException
    | :? InvalidOperationException
    | :? FormatException as e -> Error $"the study's strategy settings are not readable: {e.Message}"

// ------------------------------------------------------------------------------------------------ proposing

/// The score a strategy compares trials by: the best validation accuracy of any epoch; 0 for a trial that
/// diverged or timed out (it is in the population, and loses).
let fitness (trial: Trial) =
    match trial.State with
    | Finished -> trial.Epochs |> List.map (fun e -> e.ValidationAccuracy) |> List.fold max 0.0
    | _ -> 0.0

let private evaluated (trial: Trial) =
    match trial.State with
    | Finished | Diverged | TimedOut -> true
    | Waiting | Running | Failed | Rejected -> false

/// The candidate for a sample: analysed, constrained, its decisions kept for mutation.
let candidate (settings: Settings) (init: string) (sample: Space.Sample) : Candidate =
    let facts = Constraints.analyse settings.Constraints init sample.Program
    { Architecture = sample.Text
      Fingerprint = sample.Fingerprint
      Decisions = Space.decisionsToJson sample.Decisions
      Epochs = settings.Epochs
      Parameters = facts.Parameters
      Macs = facts.Macs
      ReceptiveField = facts.Field
      Rejection = facts.Rejection }

/// ASHA's rungs: the epochs of each, lowest first, the last being the study's epochs.
let rungs (eta: int) (epochs: int) =
    let rec down e acc = if e <= 1 then acc else let lower = max 1 (e / eta) in down lower (lower :: acc)
    down epochs [ epochs ] |> List.distinct

/// The fingerprint of a trial promoted to a later rung: the network's, marked with its epochs, so that the
/// store holds each network once per rung.
let private promoted (fingerprint: string) epochs = $"{fingerprint.Split('@')[0]}@{epochs}"

/// ASHA's promotion, if one is due: from the highest rung down, a finished trial in the top 1/η of its rung
/// that has not been promoted yet goes to the next rung.
let promotion (eta: int) (epochs: int) (history: Trial list) : Candidate option =
    let ladder = rungs eta epochs
    let held = history |> List.map (fun t -> t.Candidate.Fingerprint) |> set
    ladder
    |> List.pairwise
    |> List.rev
    |> List.tryPick (fun (rung, nextRung) ->
        let finished = history |> List.filter (fun t -> t.Candidate.Epochs = rung && t.State = Finished)
        let top = finished |> List.sortByDescending fitness |> List.truncate (finished.Length / eta)
        top
        |> List.tryFind (fun t -> not (held.Contains (promoted t.Candidate.Fingerprint nextRung)))
        |> Option.map (fun t -> { t.Candidate with Fingerprint = promoted t.Candidate.Fingerprint nextRung; Epochs = nextRung }))

/// Whether evolution's population is full, so that its next draw is a mutation rather than a uniform sample.
let private mutating (settings: Settings) (history: Trial list) =
    match settings.Strategy with
    | Evolution (population, _) -> (history |> List.filter evaluated |> List.length) >= population
    | Queue | RandomSearch | Asha _ -> false

/// A draw that holds none of the `seen` fingerprints, retried up to 1,000 times.
let private fresh (settings: Settings) (space: Space.Space) (rng: Rng) (seen: Set<string>) (history: Trial list) =
    let parent () =
        match settings.Strategy with
        | Evolution (population, tournament) when mutating settings history ->
            let recent = history |> List.filter evaluated |> List.sortByDescending (fun t -> t.Number) |> List.truncate population
            let contestants = List.init tournament (fun _ -> recent[rng.NextInt recent.Length])
            let best = contestants |> List.maxBy fitness
            Space.decisionsOfJson space best.Candidate.Decisions
            |> Result.toOption
            |> Option.map (fun decisions -> Space.withDecisions rng decisions space)
        | _ -> None
    let draw () =
        match parent () with
        | Some p -> Space.mutate rng space p
        | None -> Space.sample rng space
    Seq.init 1000 (fun _ -> draw ()) |> Seq.tryFind (fun s -> not (Set.contains s.Fingerprint seen))

let private fingerprints (history: Trial list) = history |> List.map (fun t -> t.Candidate.Fingerprint) |> set

/// Draws a new network: mutation (evolution, once the population is full) or a uniform sample, retried while
/// it repeats one the study holds; None once 1,000 draws in a row gave nothing new (the space is spent: one
/// network not yet held among n is missed with probability (1 − 1/n)^1000).
let next (settings: Settings) (space: Space.Space) (rng: Rng) (history: Trial list) : Space.Sample option =
    fresh settings space rng (fingerprints history) history

/// Draws of a pool that the constraints may refuse before `pool` pass: beyond them, the pool is what it is.
let private poolDraws pool = 50 * pool

/// The best of `pool` fresh candidates that pass the constraints, by the scorer (the first drawn of equals);
/// a refused candidate when none passed, so that the store records the refusal as it does unranked.
let ranked (pool: int) (scorer: Scorer) (drawCandidate: Set<string> -> Candidate option) (seen: Set<string>) : Candidate option =
    let rec fill passed refused seen draws =
        if List.length passed = pool || draws = poolDraws pool then passed, refused
        else
            match drawCandidate seen with
            | None -> passed, refused
            | Some c ->
                let seen = Set.add c.Fingerprint seen
                match c.Rejection with
                | Some _ -> fill passed (Option.orElse (Some c) refused) seen (draws + 1)
                | None -> fill (c :: passed) refused seen (draws + 1)
    match fill [] None seen 0 with
    | [], refused -> refused
    | passed, _ ->
        // NaN (a score that broke down) ranks with the worst.
        let scored = passed |> List.rev |> List.map (fun c -> c, (match scorer.Score c with s when Double.IsNaN s -> -infinity | s -> s))
        let best, score = scored |> List.maxBy snd
        let scores = scored |> List.map (snd >> sprintf "%.4g") |> String.concat ", "
        scorer.Log $"proposal {best.Fingerprint}: {score:G6}, the best of {scored.Length} (scores {scores})"
        Some best

/// A study's proposer: given the trials so far, the next candidate, or None when there is none to propose (a
/// Queue study, a spent space). Draws are seeded by the study's seed and `salt` (one per worker, so that
/// parallel workers do not draw alike). A study with a Ranking needs a scorer: its uniform draws (random search,
/// evolution before its population is full, ASHA's new candidates) are pools ranked by it.
let rankedProposer (scorer: Scorer option) (study: Study) (salt: int) : Result<Trial list -> Candidate option, string> =
    ofJson study.Strategy
    |> Result.bind (fun settings ->
        match settings.Strategy, settings.Ranking, scorer with
        | Queue, _, _ -> Ok (fun _ -> None)
        | _, Some r, None -> Error $"the study ranks its proposals by {ZeroCost.name r.Proxy}, and this proposer has no scorer"
        | _ ->
            Space.parse study.Name study.Space
            |> Result.mapError Receptor.Dsl.Diagnostic.format
            |> Result.map (fun space ->
                let rng = Rng(study.Seed * 7919 + salt)
                let init =
                    match study.Objective with
                    | Train t -> t.Init
                    | Empty | Sleep _ -> "autoinit"
                let propose (settings: Settings) history =
                    let drawCandidate seen = fresh settings space rng seen history |> Option.map (candidate settings init)
                    match settings.Ranking, scorer with
                    | Some r, Some s when not (mutating settings history) -> ranked r.Pool s drawCandidate (fingerprints history)
                    | _ -> drawCandidate (fingerprints history)
                match settings.Strategy with
                | Asha eta ->
                    let lowest = { settings with Epochs = List.head (rungs eta settings.Epochs) }
                    fun history -> promotion eta settings.Epochs history |> Option.orElse (propose lowest history)
                | _ -> propose settings))

/// The proposer of a study without a ranking.
let proposer (study: Study) (salt: int) = rankedProposer None study salt
