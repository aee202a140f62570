/// `receptor erf-growth [--family plain,strided,…] [--depths 2,4,8,16,32] [--samples N] [--out growth.png]
/// [--seed S] [--json]`: the ERF against depth for families of stacked 3×3 convolutions.
module Receptor.Cli.Commands.ErfGrowth

open System
open System.IO
open Argu
open Receptor.Dsl
open Receptor.Core.Fields
open Receptor.Cli.Common
open Receptor.Core.Reporting

type Options =
    { /// Family names separated by commas.
      Family: string
      /// Depths separated by commas.
      Depths: string
      Samples: int
      Out: string option
      Seed: int64
      Json: bool }

let defaults = { Family = "plain"; Depths = "2,4,8,16,32"; Samples = 16; Out = None; Seed = 1L; Json = false }

type Args =
    | Family of names: string
    | Depths of depths: string
    | Samples of count: int
    | Out of png: string
    | Seed of seed: int64
    | Json

    interface IArgParserTemplate with
        member this.Usage =
            let d = defaults
            match this with
            | Family _ -> $"plain, strided, dilated, residual or dropout; several separated by commas (default {d.Family})"
            | Depths _ -> $"depths separated by commas (default {d.Depths})"
            | Samples _ -> $"initialisations per depth (default {d.Samples})"
            | Out _ -> "write the log-log growth figure to this PNG"
            | Seed _ -> $"random seed (default {d.Seed})"
            | Json -> "print the curves as JSON"

let options (a: ParseResults<Args>) =
    let d = defaults
    { Family = a.GetResult(Family, d.Family)
      Depths = a.GetResult(Depths, d.Depths)
      Samples = a.GetResult(Samples, d.Samples)
      Out = a.TryGetResult Out |> Option.orElse d.Out
      Seed = a.GetResult(Seed, d.Seed)
      Json = a.Contains Json }

let private parseDepths (text: string) =
    let parts = text.Split(',', StringSplitOptions.TrimEntries)
    let depths = parts |> Array.choose (fun p -> match Int32.TryParse p with | true, d when d >= 1 -> Some d | _ -> None)
    if depths.Length = parts.Length then Ok (List.ofArray depths)
    else Error (Diagnostic.at Nowhere (sprintf "--depths expects positive integers separated by commas, got '%s'" text))

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    Growth.parse o.Family
    |> Result.bind (fun families -> parseDepths o.Depths |> Result.map (fun d -> families, d))
    |> Result.bind (fun (families, depths) ->
        positive "--samples" o.Samples
        |> Result.bind (fun samples ->
            families
            |> List.fold
                (fun state family -> state |> Result.bind (fun acc -> Growth.measure family depths samples o.Seed |> Result.map (fun c -> acc @ [ c ])))
                (Ok [])))
    |> Result.bind (fun curves ->
        let image =
            match o.Out with
            | Some path -> Plots.growth path curves |> Result.map Some
            | None -> Ok None
        image
        |> Result.map (fun image ->
            if o.Json then FieldReport.growthJson curves
            else FieldReport.growthText curves + (image |> Option.map (sprintf "figure %s\n") |> Option.defaultValue "")))
    |> finish output error
