/// `receptor study init|fields|agreement`: studies over many networks (their code is in Cli/Studies).
module Receptor.Cli.Commands.Study

open System
open System.Globalization
open System.IO
open Argu
open Receptor.Cli.Common
open Receptor.Cli.Studies

type Options =
    | Init of InitStudy.Options
    | Fields of FieldStudy.Options
    | Agreement of AgreementStudy.Options

type InitArgs =
    | [<Mandatory>] Out of folder: string
    | Depths of depths: string
    | Width of channels: int
    | Images of count: int
    | Epochs of count: int
    | Gradinit_Iters of count: int
    | Seed of seed: int

    interface IArgParserTemplate with
        member this.Usage =
            let d = InitStudy.defaults
            match this with
            | Out _ -> "the folder for the variance-by-depth figures"
            | Depths _ -> $"numbers of convolutions, separated by commas (default {String.Join(',', d.Depths)})"
            | Width _ -> $"channels of every convolution (default {d.Width})"
            | Images _ -> $"training images, the first of MNIST's 8,000 (default {d.Images})"
            | Epochs _ -> $"training epochs (default {d.Epochs})"
            | Gradinit_Iters _ -> $"GradInit iterations (default {d.GradInitIterations})"
            | Seed _ -> $"seeds the weights, GradInit's batches and the data order (default {d.Seed})"

type FieldsArgs =
    | Variants of folder: string
    | Epochs of count: int
    | Samples of count: int
    | Seed of seed: int
    | Out of folder: string

    interface IArgParserTemplate with
        member this.Usage =
            let d = FieldStudy.defaults
            match this with
            | Variants _ -> $"the folder of variant .rcp files, one row each (default {d.Variants})"
            | Epochs _ -> $"training epochs on far-pair per variant (default {d.Epochs})"
            | Samples _ -> $"ERF samples at initialisation and after training (default {d.Samples})"
            | Seed _ -> $"training seed (default {d.Seed})"
            | Out _ -> $"where field-study.json, .md and .png go (default {d.Out})"

type AgreementArgs =
    | Models of folder: string
    | Seeds of count: int
    | Batch of size: int
    | Out of path: string

    interface IArgParserTemplate with
        member this.Usage =
            let d = AgreementStudy.defaults
            match this with
            | Models _ -> $"the folder of models, one row per model and input size (default {d.Models})"
            | Seeds _ -> $"seeds to measure over (default {d.Seeds})"
            | Batch _ -> $"samples per seed (default {d.Batch})"
            | Out _ -> "also write the Markdown table to PATH"

type Args =
    | [<CliPrefix(CliPrefix.None)>] Init of ParseResults<InitArgs>
    | [<CliPrefix(CliPrefix.None)>] Fields of ParseResults<FieldsArgs>
    | [<CliPrefix(CliPrefix.None)>] Agreement of ParseResults<AgreementArgs>

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Init _ -> "initialisers × activations on plain CNNs: variance by depth at init, accuracy after training"
            | Fields _ -> "train every field-layer variant on far-pair and set its test accuracy against its ERF"
            | Agreement _ -> "every zoo model at two input sizes: AutoInit's predicted moments against measured ones, exact and 2023 rules"

/// `--depths`: positive whole numbers separated by commas.
let private parseDepths (text: string) =
    let depth (part: string) =
        match Int32.TryParse (part.Trim (), NumberStyles.None, CultureInfo.InvariantCulture) with
        | true, n when n > 0 -> Some n
        | _ -> None
    let depths = text.Split ',' |> Array.map depth
    if depths |> Array.exists Option.isNone then Error $"--depths: expected positive whole numbers separated by commas, got '{text}'"
    else Ok (depths |> Array.choose id |> List.ofArray)

/// The study's options, or a message for a malformed `--depths`.
let options (a: ParseResults<Args>) : Result<Options, string> =
    match a.GetSubCommand() with
    | Args.Init i ->
        let d = InitStudy.defaults
        i.TryGetResult InitArgs.Depths
        |> Option.map parseDepths
        |> Option.defaultValue (Ok d.Depths)
        |> Result.map (fun depths ->
            Options.Init
                { d with
                    Out = i.GetResult InitArgs.Out
                    Depths = depths
                    Width = i.GetResult(InitArgs.Width, d.Width)
                    Images = i.GetResult(InitArgs.Images, d.Images)
                    Epochs = i.GetResult(InitArgs.Epochs, d.Epochs)
                    GradInitIterations = i.GetResult(InitArgs.Gradinit_Iters, d.GradInitIterations)
                    Seed = i.GetResult(InitArgs.Seed, d.Seed) })
    | Args.Fields f ->
        let d = FieldStudy.defaults
        Ok (
            Options.Fields
                { Variants = f.GetResult(FieldsArgs.Variants, d.Variants)
                  Epochs = f.GetResult(FieldsArgs.Epochs, d.Epochs)
                  Samples = f.GetResult(FieldsArgs.Samples, d.Samples)
                  Seed = f.GetResult(FieldsArgs.Seed, d.Seed)
                  Out = f.GetResult(FieldsArgs.Out, d.Out) }
        )
    | Args.Agreement a ->
        let d = AgreementStudy.defaults
        Ok (
            Options.Agreement
                { Models = a.GetResult(AgreementArgs.Models, d.Models)
                  Seeds = a.GetResult(AgreementArgs.Seeds, d.Seeds)
                  Batch = a.GetResult(AgreementArgs.Batch, d.Batch)
                  Out = a.TryGetResult AgreementArgs.Out }
        )

let run (output: TextWriter) (error: TextWriter) (o: Options) =
    match o with
    | Options.Init i -> InitStudy.study output error i
    | Options.Fields f -> FieldStudy.command output error f
    | Options.Agreement a -> AgreementStudy.study output error a
