/// The `receptor` command line as parsed: options on either side of a command's file, help that states the
/// defaults its options record holds, and `--data` read through the one registry of data sources.
module Receptor.Properties.CliTests

open Expecto
open Receptor.Core.Data
open Receptor.Cli
open Receptor.Cli.Commands

let private parsed argv =
    let line = String.concat " " argv
    match Program.parse argv with
    | Program.Run command -> command
    | Program.Usage _ -> failtest $"{line}: the usage text instead of a command"
    | Program.Malformed message -> failtest $"{line}: {message}"

/// The usage text with Argu's line wrapping undone, so that a phrase reads the same wherever it breaks.
let private usage argv =
    match Program.parse argv with
    | Program.Usage text -> System.Text.RegularExpressions.Regex.Replace(text, @"\s+", " ")
    | other -> failtest $"expected the usage text, got {other}"

let private file = "Examples/zoo/lenet5.rcp"

/// Each command that takes a file: its words, its options (each with its value), and the command that the
/// file with those options must give, whether the options follow the file, precede it or stand on both sides.
let private commands =
    [ [ "analyze" ], [ [ "--json" ]; [ "--input"; "1,32,32" ] ],
      Program.Command.Analyze { Analyze.defaults with File = file; Json = true; Input = Some "1,32,32" }
      [ "train" ], [ [ "--data"; "synthetic-blobs" ]; [ "--epochs"; "2" ]; [ "--resume" ] ],
      Program.Command.Train { Train.defaults with File = file; Data = "synthetic-blobs"; Epochs = 2; Resume = true }
      [ "init" ], [ [ "--report" ]; [ "--seeds"; "2" ]; [ "--method"; "he" ] ],
      Program.Command.Init { Init.defaults with File = file; Report = true; Seeds = 2; Method = "he" }
      [ "rf" ], [ [ "--json" ]; [ "--unit"; "1,1" ] ], Program.Command.Rf { Rf.defaults with File = file; Json = true; Unit = Some "1,1" }
      [ "erf" ], [ [ "--samples"; "4" ]; [ "--data"; "mnist" ] ], Program.Command.Erf { Erf.defaults with File = file; Samples = 4; Data = "mnist" }
      [ "rewrite"; "all-conv" ], [ [ "--average" ]; [ "--out"; "out.rcp" ] ],
      Program.Command.Rewrite (Rewrite.AllConv { Rewrite.defaults with File = file; Average = true; Out = Some "out.rcp" }) ]

let private orderTests =
    testList "options on either side of the file" [
        for words, options, expected in commands do
            test (String.concat " " words) {
                let first, rest = List.concat options.[.. 0], List.concat options.[1 ..]
                for argv in [ words @ file :: first @ rest; words @ first @ rest @ [ file ]; words @ first @ file :: rest ] do
                    Expect.equal (parsed (Array.ofList argv)) expected (String.concat " " argv)
            }
        test "eoc" {
            let expected = Program.Command.Eoc { Eoc.defaults with Activation = "tanh"; SigmaB = 0.1 }
            for argv in [ [| "eoc"; "tanh"; "--sigma-b"; "0.1" |]; [| "eoc"; "--sigma-b"; "0.1"; "tanh" |] ] do
                Expect.equal (parsed argv) expected (String.concat " " argv)
        }
    ]

let private helpTests =
    testList "help states the defaults of the options record" [
        test "init" {
            let text = usage [| "init"; "--help" |]
            for fragment in
                [ $"(default {Init.defaults.Seeds})"; $"(default {Init.defaults.Batch})"; $"(default {Init.defaults.Method})"
                  $"(default {Init.defaults.Data})" ] do
                Expect.stringContains text fragment "the record's default"
        }
        test "train" {
            let text = usage [| "train"; "--help" |]
            for fragment in [ $"(default {Train.defaults.Epochs})"; $"(default {Train.defaults.Batch})"; $"(default {Train.defaults.Optimizer})" ] do
                Expect.stringContains text fragment "the record's default"
        }
        test "erf and erf-growth" {
            Expect.stringContains (usage [| "erf"; "--help" |]) $"samples to average over (default {Erf.defaults.Samples})" "erf"
            Expect.stringContains (usage [| "erf-growth"; "--help" |]) $"(default {ErfGrowth.defaults.Depths})" "erf-growth"
        }
    ]

let private dataTests =
    testList "--data through the registry" [
        test "every --data lists the registry's names for what the command takes" {
            Expect.stringContains (usage [| "train"; "--help" |]) (DataSources.names DataSources.labelled) "train: labelled sources"
            Expect.stringContains (usage [| "init"; "--help" |]) "gaussian, mnist, synthetic-blobs or" "init: every source"
            Expect.stringContains (usage [| "erf"; "--help" |]) "gaussian, mnist, synthetic-blobs or" "erf: every source"
        }
        test "a name, an alias, a misspelling and a source the command cannot use" {
            let labelled = DataSources.parse "--data" DataSources.labelled "labelled images"
            let any = DataSources.parse "--data" Some "input images"
            Expect.equal (any "far-pair" |> Result.map _.Name) (Ok "far-pair") "a name"
            Expect.equal (any "Synthetic" |> Result.map _.Name) (Ok "synthetic-blobs") "an alias, in any case"
            Expect.equal (labelled "mnsit" |> Result.map ignore) (Error "--data: unknown data source 'mnsit'; did you mean 'mnist'?") "the hint"
            Expect.equal (any "synthtic" |> Result.map ignore) (Error "--data: unknown data source 'synthtic'; did you mean 'synthetic-blobs'?") "an alias's source"
            match labelled "gaussian" with
            | Ok _ -> failtest "train cannot use noise"
            | Error message ->
                Expect.stringContains message "--data gaussian provides noise" "what the source provides"
                Expect.stringContains message (DataSources.names DataSources.labelled) "what the command can use"
        }
        test "the generated sources refuse inputs they cannot draw, before making anything" {
            match DataSources.farPair.Provides with
            | DataSources.Labelled images ->
                Expect.equal (images.ShapeFor (Receptor.Dsl.Spatial (3, 12, 12))) (Error "far-pair needs an input of at least 16×16, the network takes 12×12") "too small"
                Expect.equal (images.ShapeFor (Receptor.Dsl.Spatial (3, 16, 20))) (Ok (Receptor.Dsl.Spatial (1, 20, 20))) "square, the larger side"
            | DataSources.Noise -> failtest "far-pair is labelled"
        }
    ]

/// `receptor study agreement` on a folder of two small models: one row per model and input size, the verdicts
/// and the summary; a missing folder is bad input.
let private agreementTests =
    testSequenced
    <| testList "study agreement" [
        test "one row per model and input, the counts and the rows meeting the goal" {
            let folder = System.IO.Path.Combine (System.IO.Path.GetTempPath (), $"receptor-agreement-{System.Environment.ProcessId}")
            System.IO.Directory.CreateDirectory folder |> ignore
            System.IO.File.WriteAllText (System.IO.Path.Combine (folder, "grey.rcp"), "input(1, 8, 8)\nnetwork grey = conv(3, 8, padding=1) >> relu >> gavgpool >> flatten >> dense(4)\n")
            System.IO.File.WriteAllText (System.IO.Path.Combine (folder, "flat.rcp"), "input(16)\nnetwork flat = dense(16) >> tanh >> dense(4)\n")
            use output = new System.IO.StringWriter ()
            use error = new System.IO.StringWriter ()
            let code = Studies.AgreementStudy.study output error { Studies.AgreementStudy.defaults with Models = folder; Seeds = 4; Batch = 4 }
            let text = output.ToString ()
            Expect.equal code 0 $"exit code ({error})"
            // The one-channel model also at 1×32×32; the flat one at its own input only.
            for row in [ "| flat | 16 |"; "| grey | 1×8×8 |"; "| grey | 1×32×32 |" ] do
                Expect.stringContains text row $"the row {row}"
            Expect.isMatch text @"\| grey \| 1×8×8 \| \d of 5 \| \d of 2 \|" "grey's five nodes and two weighted layers counted"
            Expect.stringContains text "Rows meeting the goal" "the summary"
        }
        test "a missing folder exits 2 and says so" {
            use output = new System.IO.StringWriter ()
            use error = new System.IO.StringWriter ()
            let code = Studies.AgreementStudy.study output error { Studies.AgreementStudy.defaults with Models = "no-such-folder" }
            Expect.equal code 2 "exit code"
            Expect.stringContains (error.ToString ()) "no-such-folder" "the message names the folder"
        }
    ]

let tests = testList "command line" [ orderTests; helpTests; dataTests; agreementTests ]
