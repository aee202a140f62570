/// A study's settings as readable JSON: what the store keeps in its studies table, and what a PostgreSQL store
/// will keep too. Written and read by hand so the text stays stable whatever the records' F# shape.
module Receptor.Search.StudyJson

open System
open System.Globalization
open System.Text.Json
open System.Text.Json.Nodes

let private objectiveNode objective : JsonNode =
    match objective with
    | Empty -> JsonObject(dict [ "kind", JsonValue.Create "empty" :> JsonNode ])
    | Sleep ms -> JsonObject(dict [ "kind", JsonValue.Create "sleep" :> JsonNode; "milliseconds", JsonValue.Create ms ])
    | Train t ->
        JsonObject(
            dict [ "kind", JsonValue.Create "train" :> JsonNode
                   "data", JsonValue.Create t.Data
                   "init", JsonValue.Create t.Init
                   "validation", JsonValue.Create t.Validation
                   "batchSize", JsonValue.Create t.BatchSize
                   "learningRate", (t.LearningRate |> Option.map (fun r -> JsonValue.Create r :> JsonNode) |> Option.toObj)
                   "repeats", JsonValue.Create t.Repeats ])

let private options = JsonSerializerOptions(WriteIndented = true)

/// The study as indented JSON.
let write (study: Study) =
    let node =
        JsonObject(
            dict [ "name", JsonValue.Create study.Name :> JsonNode
                   "space", JsonValue.Create study.Space
                   "strategy", JsonValue.Create study.Strategy
                   "objective", objectiveNode study.Objective
                   "budget", JsonValue.Create study.Budget
                   "maxAttempts", JsonValue.Create study.MaxAttempts
                   "trialSeconds", (study.TrialSeconds |> Option.map (fun s -> JsonValue.Create s :> JsonNode) |> Option.toObj)
                   "seed", JsonValue.Create study.Seed
                   "created", JsonValue.Create (study.Created.UtcDateTime.ToString("o", CultureInfo.InvariantCulture)) ])
    node.ToJsonString options

let private required<'T> (node: JsonNode) (name: string) : 'T =
    match node[name] with
    | null -> failwithf "no '%s'" name
    | value -> value.GetValue<'T>()

let private optional<'T> (node: JsonNode) (name: string) : 'T option =
    match node[name] with
    | null -> None
    | value -> Some (value.GetValue<'T>())

/// The study a `write` gave, or what is wrong with the text.
let read (text: string) : Result<Study, string> =
    try
        let o = JsonNode.Parse(text).AsObject()
        let get name = required o name
        let objective =
            let node = o["objective"]
            if isNull node then failwith "no 'objective'"
            match node["kind"].GetValue<string>() with
            | "empty" -> Empty
            | "sleep" -> Sleep (node["milliseconds"].GetValue<int>())
            | "train" ->
                Train
                    { Data = node["data"].GetValue<string>()
                      Init = node["init"].GetValue<string>()
                      Validation = node["validation"].GetValue<int>()
                      BatchSize = node["batchSize"].GetValue<int>()
                      LearningRate = optional node "learningRate"
                      Repeats = optional node "repeats" |> Option.defaultValue 1 }
            | other -> failwithf "unknown objective kind '%s'" other
        Ok
            { Name = get "name"
              Space = get "space"
              Strategy = get "strategy"
              Objective = objective
              Budget = get "budget"
              MaxAttempts = get "maxAttempts"
              TrialSeconds = optional o "trialSeconds"
              Seed = get "seed"
              Created = DateTimeOffset.Parse(required<string> o "created", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) }
    with e -> Error $"the study's settings are not readable JSON: {e.Message}"
