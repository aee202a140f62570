/// Search spaces in the language: choice points parse, print and round-trip; a space's size is the number of
/// distinct networks its decisions give; samples are ordinary programs; names tie decisions; mutation changes
/// one decision; the constraints reject from the analysis alone.
module Receptor.Properties.SpaceTests

open System.Numerics
open Expecto
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Search

let private space text = Space.parse "space.rcp" text |> Repository.unwrap

/// Three kernels × four widths × depth 1..3: 36 networks.
let private small =
    """input(1, 12, 12)

network small =
    repeat(int(1, 3), choice(conv(3, 8, padding=1), conv(5, 8, padding=2), conv(3, 8, padding=2, dilation=2)) >> relu)
    >> conv(1, int(4, 16, step=4)) >> gavgpool >> flatten >> dense(10)
"""

let private samples n (s: Space.Space) =
    let rng = Rng 7
    List.init n (fun _ -> Space.sample rng s)

let tests: Test =
    testList "search spaces" [
        test "a space prints as it parses, and its print parses to the same tree" {
            let parsed = space small
            let printed = Printer.program parsed.Program
            let again = Space.parse "printed.rcp" printed |> Repository.unwrap
            Expect.equal again.Program parsed.Program "round trip"
            Expect.stringContains printed "int(4, 16, step=4)" "a range prints as written"
        }
        test "every value domain and node choice round-trips, optional and names included" {
            let text =
                """input(3, 16, 16)

network s =
    optional(conv(1, 3), name=stem) >> conv(choice(3, 5), choice(8, 16, name=width), padding=same)
    >> dropout(real(0.1, 0.5)) >> act(x * sigmoid(b * x), b=real(0.01, 10, log)) >> gavgpool
"""
            let parsed = space text
            let reparsed = Space.parse "again.rcp" (Printer.program parsed.Program) |> Repository.unwrap
            Expect.equal reparsed.Program parsed.Program "round trip"
            Expect.equal (parsed.Points |> List.map (fun p -> p.Id)) [ "stem"; "#1"; "width"; "#2"; "#3" ] "ids: names, else #k in order"
            Expect.isNone (Space.size parsed) "a real range makes it continuous"
        }
        test "the size is the number of distinct networks, and sampling reaches each of them" {
            let s = space small
            Expect.equal (Space.size s) (Some (BigInteger 36)) "3 · 4 · 3"
            let fingerprints = samples 1500 s |> List.map (fun x -> x.Fingerprint) |> List.distinct
            Expect.equal fingerprints.Length 36 "every network drawn, none counted twice"
        }
        test "a choice inside an option counts only when that option is taken" {
            let s = space "input(1, 8, 8)\n\nnetwork n = choice(conv(3, choice(4, 8, 16)), relu) >> gavgpool\n"
            Expect.equal (Space.size s) (Some (BigInteger 4)) "3 convolutions + relu"
        }
        test "a sample is an ordinary program that checks, prints and reparses to the same fingerprint" {
            for sample in samples 40 (space small) do
                Expect.isOk (Receptor.Dsl.Shapes.checkProgram sample.Program) "checks"
                let reparsed = Space.parse "sample.rcp" sample.Text |> Repository.unwrap
                Expect.isEmpty reparsed.Points "no choice point left"
                Expect.equal (Space.sample (Rng 1) reparsed).Fingerprint sample.Fingerprint "same network"
        }
        test "points under one name are one decision, and a point in a block body is one cell for every call" {
            let text =
                """input(1, 16, 16)

block unit(c) = conv(choice(1, 3, 5, 7), c, padding=same) >> relu

network n = unit(choice(4, 8, 12, 16, name=w)) >> unit(choice(4, 8, 12, 16, name=w)) >> gavgpool
"""
            for sample in samples 30 (space text) do
                let expanded = Expand.program sample.Program |> Repository.unwrap |> Printer.node
                let convs = System.Text.RegularExpressions.Regex.Matches(expanded, @"conv\((\d+), (\d+)") |> Seq.map (fun m -> m.Groups[1].Value, m.Groups[2].Value) |> List.ofSeq
                Expect.equal convs.Length 2 "two units"
                Expect.equal convs[0] convs[1] "same kernel (the cell) and same width (the name)"
        }
        test "one name over different alternatives is refused" {
            let result = Space.parse "s.rcp" "input(1, 8, 8)\n\nnetwork n = conv(3, choice(4, 8, name=w)) >> conv(3, choice(4, 8, 16, name=w))\n"
            Expect.isError result "clash"
        }
        test "mutation changes one decision and keeps the others" {
            let s = space small
            let rng = Rng 3
            for parent in samples 50 s do
                let child = Space.mutate rng s parent
                let changed =
                    parent.Decisions |> Map.filter (fun id d -> child.Decisions.TryFind id <> Some d) |> Map.count
                Expect.equal changed 1 "exactly one of the parent's decisions differs"
                Expect.notEqual child.Fingerprint parent.Fingerprint "a different network"
        }
        test "decisions survive JSON, and rebuild the same network" {
            let s = space small
            for sample in samples 20 s do
                let decisions = Space.decisionsOfJson s (Space.decisionsToJson sample.Decisions) |> Result.defaultWith failtest
                Expect.equal (Space.withDecisions (Rng 9) decisions s).Fingerprint sample.Fingerprint "same network"
        }
        test "names and identities do not change the fingerprint; a different width does" {
            let one = space "input(1, 8, 8)\n\nnetwork a = conv(3, 8) >> identity >> relu\n"
            let two = space "input(1, 8, 8)\n\nblock b = conv(3, 8)\n\nnetwork c = stem: b >> relu\n"
            let three = space "input(1, 8, 8)\n\nnetwork a = conv(3, 9) >> relu\n"
            let fingerprint s = (Space.sample (Rng 1) s).Fingerprint
            Expect.equal (fingerprint one) (fingerprint two) "same network"
            Expect.notEqual (fingerprint one) (fingerprint three) "different network"
        }
        test "a space given where a network is expected is refused at the choice point, saying what to do" {
            let program = Parser.parseProgram "s.rcp" "input(1, 8, 8)\n\nnetwork n = conv(3, 8) >> stage: choice(relu, tanh)\n" |> Repository.unwrap
            match Receptor.Dsl.Shapes.checkProgram program with
            | Error d ->
                Expect.stringContains d.Message "search space" "says it is a space"
                Expect.equal d.Place (LayerPath "stage") "at the choice point's path"
            | Ok _ -> failtest "accepted"
        }
        test "malformed choice points are errors at line and column" {
            let cases =
                [ "input(1, 8, 8)\n\nnetwork n = conv(3, int(16, 4))\n", "exceeds"
                  "input(1, 8, 8)\n\nnetwork n = conv(3, int(4, 16, step=0))\n", "step"
                  "input(1, 8, 8)\n\nnetwork n = dropout(real(0, 1, log))\n", "positive"
                  "input(1, 8, 8)\n\nnetwork n = conv(3, choice(8, -1))\n", "at least 1" ]
            for text, expected in cases do
                match Parser.parseProgram "bad.rcp" text with
                | Error { Place = Text ("bad.rcp", 3, _); Message = message } -> Expect.stringContains message expected text
                | other -> failtestf "%s gave %A" text other
        }
        test "every space under Examples/spaces parses, and its samples are networks that analyse" {
            let files = Repository.spaces ()
            Expect.isNonEmpty files "spaces exist"
            for file in files do
                let s = Space.parse file (System.IO.File.ReadAllText (System.IO.Path.Combine (Repository.root.Value, file))) |> Repository.unwrap
                Expect.isNonEmpty s.Points $"{file} has choice points"
                for sample in List.init 5 (fun i -> Space.sample (Rng i) s) do
                    Expect.isOk (Receptor.Core.Analysis.ofProgram sample.Program) $"{file}: {sample.Text}"
        }
        test "constraints reject from the analysis alone, saying which budget" {
            let s = space small
            let tight = { Constraints.none with MaxMacs = Some 5_000L }
            let facts = samples 10 s |> List.map (fun x -> Constraints.analyse tight "autoinit" x.Program)
            Expect.all facts (fun f -> f.Macs > 5_000L && f.Rejection |> Option.exists (fun r -> r.Contains "MACs")) "every one over budget, said so"
            let field = { Constraints.none with MinField = Some 100 }
            let f = Constraints.analyse field "autoinit" (samples 1 s).Head.Program
            Expect.stringContains (defaultArg f.Rejection "") "receptive field" "field too small"
            let loose = Constraints.analyse { Constraints.none with Variance = Some (0.2, 2.0) } "autoinit" (samples 1 s).Head.Program
            Expect.isNone loose.Rejection "autoinit keeps the variance near 1"
            let wild = Constraints.analyse { Constraints.none with Variance = Some (0.2, 2.0) } "torch-default" (samples 1 s).Head.Program
            Expect.stringContains (defaultArg wild.Rejection "") "signal" "PyTorch's default lets the variance drift"
        }
    ]
