/// A study as a program defines and runs it: the settings that make one from a space's text, and one worker
/// of it in this process with the strategy's proposals and the study's evaluation. `receptor search run`,
/// `search worker` and the C# host (Receptor.Host.SearchStudy) share it.
module Receptor.Search.Studies

open System

/// What a study is asked to do, besides its space.
type Definition =
    { /// None: the space's network's name.
      Name: string option
      Strategy: Strategies.Strategy
      Epochs: int
      Constraints: Constraints.Constraints
      Ranking: Strategies.Ranking option
      Objective: TrainObjective
      Budget: int
      Seed: int
      TrialSeconds: float option }

/// The study of a parsed space (`text` is the space as written, which the study keeps).
let define (space: Space.Space) (text: string) (definition: Definition) : Study =
    { Name = definition.Name |> Option.defaultValue space.Program.Name
      Space = text
      Strategy =
        Strategies.toJson
            { Strategy = definition.Strategy
              Epochs = definition.Epochs
              Constraints = definition.Constraints
              Ranking = definition.Ranking }
      Objective = Train definition.Objective
      Budget = definition.Budget
      MaxAttempts = 3
      TrialSeconds = definition.TrialSeconds
      Seed = definition.Seed
      Created = DateTimeOffset.UtcNow }

/// The study's proposals (its strategy, ranked by its zero-cost proxy where it has one) and its evaluation,
/// or why they cannot be made (unknown data or initialisation), before any trial is claimed.
let prepare (store: TrialStore) (log: string -> unit) =
    let proposer =
        Screening.scorer store.Study log
        |> Result.bind (fun scorer -> Strategies.rankedProposer scorer store.Study Environment.ProcessId)
    match proposer, Objectives.evaluator (Evaluation.evaluator store.Study) store.Study with
    | Error message, _
    | _, Error message -> Error $"{store.Location}: {message}"
    | Ok propose, Ok evaluate -> Ok (propose, evaluate)

/// One worker of the store's study in this process, until every trial has ended or `options.Stop` fires.
let work (store: TrialStore) (options: Worker.Options) : Result<Worker.Summary, string> =
    prepare store options.Log |> Result.map (fun (propose, evaluate) -> Worker.run store options propose evaluate)
