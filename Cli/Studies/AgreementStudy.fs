/// `receptor study agreement`: every model of a folder (the zoo), at its own input size and at 3×64×64
/// (1×32×32 for one-channel models), initialised by AutoInit under Receptor's exact rules and under AutoInit's
/// 2023 rules, its predicted moments set against those measured with TorchSharp: the table of
/// docs/initialisation.md, "The zoo".
module Receptor.Cli.Studies.AgreementStudy

open System.Diagnostics
open System.IO
open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Reporting

type Options =
    { /// The folder whose .rcp models make the rows.
      Models: string
      /// Seeds and samples per seed measured, as `receptor init --report`.
      Seeds: int
      Batch: int
      /// Where the Markdown table goes, besides the standard output.
      Out: string option }

let defaults = { Models = Path.Combine ("Examples", "zoo"); Seeds = 32; Batch = 8; Out = None }

/// The issue's second size: small maps, where spatial correlations bite.
let private smallInput (input: Shape) =
    match input with
    | Spatial (1, _, _) -> Some (Spatial (1, 32, 32))
    | Spatial _ -> Some (Spatial (3, 64, 64))
    | Flat _ -> None

let private inputsOf (program: Program) =
    match smallInput program.Input with
    | Some small when small <> program.Input -> [ program.Input; small ]
    | _ -> [ program.Input ]

let private verdictOf seeds batch rules program =
    Agreement.measureAutoInit rules seeds batch program
    |> Result.map (fun (prediction, measured) -> Agreement.verdict prediction measured)
    |> Result.mapError Diagnostic.format

let study (output: TextWriter) (error: TextWriter) (options: Options) =
    if options.Seeds < 2 || options.Batch < 2 then
        error.WriteLine "error: --seeds and --batch must be at least 2"
        2
    elif not (Directory.Exists options.Models) then
        error.WriteLine $"error: {options.Models}: no such folder"
        2
    else
        let files = Directory.GetFiles (options.Models, "*.rcp") |> Array.sort
        let rows =
            [ for file in files do
                  match Parser.parseProgram file (File.ReadAllText file) with
                  | Error d -> error.WriteLine (Diagnostic.format d)
                  | Ok program ->
                      for input in inputsOf program do
                          let clock = Stopwatch.StartNew ()
                          let sized = { program with Input = input }
                          let row =
                              { InitReport.AgreementRow.Model = Path.GetFileNameWithoutExtension file
                                InitReport.AgreementRow.Input = input
                                InitReport.AgreementRow.Exact = verdictOf options.Seeds options.Batch Exact sized
                                InitReport.AgreementRow.AutoInit2023 = verdictOf options.Seeds options.Batch AutoInit2023 sized }
                          error.WriteLine $"{row.Model} at {Shape.format input}: {clock.Elapsed.TotalSeconds:F0} s"
                          yield row ]
        let table = InitReport.agreementTable options.Seeds options.Batch rows
        output.Write table
        match options.Out with
        | Some path ->
            File.WriteAllText (path, table)
            0
        | None -> 0
