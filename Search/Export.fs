/// A study's trials as CSV (one row a trial, for spreadsheets) or JSON (everything, epochs included).
module Receptor.Search.Export

open System
open System.Globalization
open System.Text.Json
open System.Text.Json.Nodes

let private invariant (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let private stamp (t: DateTimeOffset option) = t |> Option.map (fun t -> t.UtcDateTime.ToString("o", CultureInfo.InvariantCulture))

/// The best validation accuracy of a trial's epochs.
let bestAccuracy (trial: Trial) =
    if trial.Epochs.IsEmpty then None else Some (trial.Epochs |> List.map _.ValidationAccuracy |> List.max)

let private csvField (text: string) =
    if text.IndexOfAny [| ','; '"'; '\n'; '\r' |] >= 0 then "\"" + text.Replace("\"", "\"\"") + "\"" else text

let csv (trials: Trial list) =
    let header =
        "number,state,attempt,worker,fingerprint,parameters,macs,receptive_field,epochs_asked,epochs_run,best_validation_accuracy,"
        + "wall_seconds,cpu_seconds,started,ended,message,architecture"
    let row (t: Trial) =
        [ string t.Number; TrialState.name t.State; string t.Attempt; defaultArg t.Worker ""; t.Candidate.Fingerprint
          string t.Candidate.Parameters; string t.Candidate.Macs; string t.Candidate.ReceptiveField; string t.Candidate.Epochs
          string t.Epochs.Length; bestAccuracy t |> Option.map invariant |> Option.defaultValue ""
          t.WallSeconds |> Option.map invariant |> Option.defaultValue ""; t.CpuSeconds |> Option.map invariant |> Option.defaultValue ""
          defaultArg (stamp t.Started) ""; defaultArg (stamp t.Ended) ""; defaultArg t.Message ""; t.Candidate.Architecture ]
        |> List.map csvField
        |> String.concat ","
    String.concat "\n" (header :: List.map row trials) + "\n"

let private node (value: 'T) : JsonNode = JsonValue.Create value
let private optionNode (value: 'T option) : JsonNode = value |> Option.map node |> Option.toObj

let json (trials: Trial list) =
    let trial (t: Trial) : JsonNode =
        let epochs =
            t.Epochs
            |> List.map (fun e ->
                JsonObject(dict [ "epoch", node e.Epoch; "validationAccuracy", node e.ValidationAccuracy
                                  "validationLoss", node e.ValidationLoss; "trainingLoss", node e.TrainingLoss ]) :> JsonNode)
        JsonObject(
            dict [ "number", node t.Number; "state", node (TrialState.name t.State); "attempt", node t.Attempt
                   "worker", optionNode t.Worker; "seed", node t.Seed; "architecture", node t.Candidate.Architecture
                   "fingerprint", node t.Candidate.Fingerprint; "decisions", (try JsonNode.Parse t.Candidate.Decisions with _ -> node t.Candidate.Decisions)
                   "epochsAsked", node t.Candidate.Epochs; "parameters", node t.Candidate.Parameters; "macs", node t.Candidate.Macs
                   "receptiveField", node t.Candidate.ReceptiveField; "epochs", JsonArray(Array.ofList epochs)
                   "message", optionNode t.Message; "device", optionNode t.Device; "started", optionNode (stamp t.Started)
                   "ended", optionNode (stamp t.Ended); "wallSeconds", optionNode t.WallSeconds; "cpuSeconds", optionNode t.CpuSeconds ])
    (JsonArray(trials |> List.map trial |> Array.ofList)).ToJsonString(JsonSerializerOptions(WriteIndented = true)) + "\n"
