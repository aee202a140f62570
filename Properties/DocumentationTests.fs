/// The docs against the code: docs/language.md's layer table is the one the kinds' docs generate, every layer
/// kind has an example model, and docs/generators.md's example is the code that GeneratorsExample runs.
module Receptor.Properties.DocumentationTests

open System.IO
open Expecto
open Receptor.Dsl
open Receptor.Core

/// The canonical names of the kinds a model's checked tree applies (aliases resolved by the checker).
let private kindsOf path =
    Parser.parseProgram path (File.ReadAllText path)
    |> Result.bind Shapes.checkProgram
    |> Repository.unwrap
    |> Checked.layers
    |> Seq.map (fun layer -> layer.Kind.Name)
    |> Set.ofSeq

let private lines (text: string) = text.Split '\n'

/// The fenced F# block of a Markdown text that opens the generators library.
let private generatorsExampleIn (markdown: string) =
    markdown.Split "```"
    |> Array.tryFind (fun block -> block.StartsWith "fsharp\n" && block.Contains "open Receptor.Generators")
    |> Option.map (fun block -> block.Substring("fsharp\n".Length).TrimEnd ())

let tests : Test =
    testList "documentation" [
        test "docs/language.md's layer table is the one the kinds' own docs generate" {
            let text = File.ReadAllText (GeneratedDocs.languageDoc ())
            let generated = GeneratedDocs.withLayerTable text |> Result.defaultWith failtest
            // The first line that differs, rather than the whole file.
            match Seq.zip (lines text) (lines generated) |> Seq.tryFind (fun (written, wanted) -> written <> wanted) with
            | Some (written, wanted) -> failtest $"docs/language.md's layer table is stale: run scripts/gen-docs.sh\nwritten: {written}\nwanted:  {wanted}"
            | None -> Expect.equal (lines text).Length (lines generated).Length "docs/language.md's lines: run scripts/gen-docs.sh"
        }

        test "every Examples model analyses, and every layer kind appears in one" {
            let models = Repository.examples () |> List.map (fun file -> Path.Combine (Repository.root.Value, file))
            for path in models do
                Analysis.ofText path (File.ReadAllText path) |> Repository.unwrap |> ignore
            let used = models |> Seq.map kindsOf |> Set.unionMany
            let missing = Registry.kinds |> List.map (fun kind -> kind.Name) |> List.filter (used.Contains >> not)
            Expect.equal missing [] $"layer kinds without an example model under Examples/ ({models.Length} models)"
        }

        test "docs/generators.md's example is Properties/GeneratorsExample.fs, which compiles and runs" {
            let doc = File.ReadAllText (Path.Combine (Repository.root.Value, "docs", "generators.md"))
            let source = File.ReadAllText (Path.Combine (Repository.root.Value, "Properties", "GeneratorsExample.fs"))
            let fromFirstOpen = source.Substring(source.IndexOf "\nopen " + 1).TrimEnd ()
            match generatorsExampleIn doc with
            | Some example -> Expect.equal example fromFirstOpen "the doc's code block, from its first open"
            | None -> failtest "docs/generators.md has no fsharp block that opens Receptor.Generators"
        }

        GeneratorsExample.tests
    ]
