/// The strategy that proposes a study's next candidate, by the study's Strategy setting: its name, or a JSON
/// object with a "name". Only "queue" is known here (nothing proposed: trials are enqueued from outside).
module Receptor.Search.Proposals

open System.Text.Json.Nodes

/// A strategy: given the study's trials, the next candidate, or None for none now.
type Propose = Trial list -> Candidate option

/// The strategy's name in a Strategy setting.
let strategyName (strategy: string) =
    let text = strategy.Trim()
    if text.StartsWith "{" then
        try
            match JsonNode.Parse(text)["name"] with
            | null -> Error $"strategy {text}: no \"name\""
            | name -> Ok (name.GetValue<string>())
        with e -> Error $"strategy {text}: {e.Message}"
    else Ok text

let proposer (study: Study) : Result<Propose, string> =
    strategyName study.Strategy
    |> Result.bind (fun name ->
        match name with
        | "queue" -> Ok (fun _ -> None)
        | other -> Error $"study '{study.Name}': unknown strategy '{other}' (known: queue)")
