/// `receptor study fields` on a folder of two tiny variants: one record and one row per file, the theoretical
/// field from the analysis, the three outputs written; a missing or empty folder is bad input.
module Receptor.Properties.FieldStudyTests

open System.IO
open System.Text.Json
open Expecto
open Receptor.Cli.Studies

let private variants =
    [ "narrow.rcp",
      """input(1, 16, 16)
network narrow = conv(3, 4, padding=1) >> relu >> conv(3, 4, padding=1) >> relu >> gavgpool >> flatten >> dense(2)"""
      "wide.rcp",
      """input(1, 16, 16)
network wide = conv(3, 4, padding=2, dilation=2) >> relu >> conv(3, 4, padding=4, dilation=4) >> relu >> gavgpool >> flatten >> dense(2)""" ]

let private inTemporaryFolder f =
    let dir = Directory.CreateTempSubdirectory "receptor-study-test-"
    try f dir.FullName finally dir.Delete true

let private options folder out =
    { FieldStudy.defaults with Variants = folder; Epochs = 1; Samples = 2; Out = out }

let tests : Test =
    testSequenced
    <| testList "field study" [
        test "two variant files give two records and two rows, each with its theoretical field, and the files" {
            inTemporaryFolder (fun dir ->
                let folder = Path.Combine(dir, "variants")
                Directory.CreateDirectory folder |> ignore
                for name, text in variants do
                    File.WriteAllText(Path.Combine(folder, name), text)
                let out = Path.Combine(dir, "out")
                let records, stem =
                    FieldStudy.run TextWriter.Null (options folder out) |> Result.defaultWith (Receptor.Dsl.Diagnostic.format >> failtest)
                Expect.equal (records |> List.map _.Variant) [ "narrow"; "wide" ] "one record per file, in file order"
                // 3×3 twice: 5 px; dilations 2 and 4: 1 + 4 + 8 = 13 px.
                Expect.equal (records |> List.map _.TheoreticalField) [ 5.0; 13.0 ] "theoretical fields"
                Expect.equal (records |> List.map _.Parameters) [ 40L + 148L + 10L; 40L + 148L + 10L ] "parameters"
                for r in records do
                    Expect.isGreaterThan r.ErfAtInit 0.0 $"{r.Variant}: ERF at initialisation"
                    Expect.isGreaterThan r.ErfTrained 0.0 $"{r.Variant}: trained ERF"
                    Expect.isLessThanOrEqual r.ErfTrained 16.0 $"{r.Variant}: the ERF fits in the image"
                    Expect.isTrue (r.TestAccuracy >= 0.0 && r.TestAccuracy <= 1.0) $"{r.Variant}: accuracy {r.TestAccuracy}"
                let json = JsonDocument.Parse(File.ReadAllText(stem + ".json"))
                Expect.equal (json.RootElement.GetArrayLength()) 2 "two JSON records"
                Expect.equal (json.RootElement[1].GetProperty("variant").GetString()) "wide" "named records"
                let rows = File.ReadAllLines(stem + ".md") |> Array.filter (fun l -> l.StartsWith "| ")
                Expect.equal rows.Length 3 "a header and two rows"
                Expect.isGreaterThan (FileInfo(stem + ".png")).Length 1000L "the plot")
        }
        test "a missing folder and a folder without variants are bad input" {
            inTemporaryFolder (fun dir ->
                let out = Path.Combine(dir, "out")
                Expect.isError (FieldStudy.run TextWriter.Null (options (Path.Combine(dir, "none")) out)) "missing"
                Expect.isError (FieldStudy.run TextWriter.Null (options dir out)) "empty"
                use error = new StringWriter()
                Expect.equal (FieldStudy.command TextWriter.Null error (options dir out)) 2 "exit code"
                Expect.stringContains (error.ToString()) "holds no .rcp file" "the message")
        }
    ]
