/// Zero-cost screening with a study's data: each candidate of a ranked pool is initialised as the study's
/// trials are (its method, on its training split, seeded by the study's seed) and scored by the study's proxy
/// on the first images of that split.
module Receptor.Search.Screening

open System
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Signal

/// Images a candidate is scored on (NASWOT's kernel is this many images square).
let batchImages = 64

let private first (count: int) (data: Dataset) =
    let count = min count data.Count
    let size = Dataset.imageSize data
    { data with Images = data.Images[.. count * size - 1]; Labels = data.Labels[.. count - 1]; Count = count }

/// A candidate's score, or why it has none (it does not compile, initialise or take the images).
let scoreOf (proxy: ZeroCost.Proxy) (spec: InitSpec) (seed: int) (split: Evaluation.Split) (batch: Dataset) (candidate: Candidate) =
    Parser.parseProgram "candidate" candidate.Architecture
    |> Result.bind (fun program -> Initialisation.initialise spec seed (Images split.Train) program |> Result.map (fun (n, _) -> program, n))
    |> Result.mapError Diagnostic.format
    |> Result.bind (fun (program, network) ->
        use network = network
        Batches.fit program.Input batch
        |> Result.map (fun fitted ->
            use _ = torch.NewDisposeScope()
            Batches.tensors fitted (Array.init fitted.Data.Count id) torch.CPU |> ZeroCost.score proxy network))

/// The scorer of a study that ranks its proposals (None for one that does not). A candidate without a score
/// ranks last, and the log says why.
let scorer (study: Study) (log: string -> unit) : Result<Strategies.Scorer option, string> =
    Strategies.ofJson study.Strategy
    |> Result.bind (fun settings ->
        match settings.Ranking, study.Objective with
        | None, _ -> Ok None
        | Some r, (Empty | Sleep _) -> Error $"ranking by {ZeroCost.name r.Proxy} needs a training objective: its data and initialisation"
        | Some r, Train objective ->
            Space.parse study.Name study.Space
            |> Result.mapError Diagnostic.format
            |> Result.bind (fun space ->
                InitSpec.parse objective.Init "exact" "normal" None
                |> Result.bind (fun spec -> Evaluation.split objective space.Program.Input |> Result.map (fun split -> spec, split)))
            |> Result.map (fun (spec, split) ->
                let batch = first batchImages split.Train
                let score candidate =
                    match scoreOf r.Proxy spec study.Seed split batch candidate with
                    | Ok s -> s
                    | Error message ->
                        log $"{ZeroCost.name r.Proxy} of {candidate.Fingerprint}: {message}"
                        Double.NegativeInfinity
                Some { Strategies.Score = score; Strategies.Log = log }))
