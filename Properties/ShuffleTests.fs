/// ShuffleNet's channel shuffle, the kind added after the redesign to prove that a kind is one bundle: its
/// analysis, its module against the permutation written out by hand, its moment rule against measurement
/// (including the dependence it keeps with the unshuffled channels), and its syntax.
module Receptor.Properties.ShuffleTests

open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Signal
open Receptor.Core.Torch

let private parse text = Parser.parseNode text |> Repository.unwrap

let tests: Test =
    testSequenced
    <| testList "channel shuffle" [
        test "shuffle(3) on 12×5×4: same shape, no parameters, MACs or FLOPs" {
            let report = Analysis.ofNode "t" (Spatial (12, 5, 4)) (parse "shuffle(3)") |> Repository.unwrap
            Expect.equal report.Output (Spatial (12, 5, 4)) "shape kept"
            Expect.equal (report.Totals.Parameters, report.Totals.Macs, report.Totals.Flops) (0L, 0L, 0L) "nothing learnt or computed"
        }
        test "groups that do not divide the channels are an error at the layer's path" {
            match Analysis.ofNode "t" (Spatial (10, 4, 4)) (parse "conv(1, 10) >> mix: shuffle(4)") with
            | Error d ->
                Expect.equal d.Place (LayerPath "mix") "the layer's path"
                Expect.stringContains d.Message "4 groups do not divide 10 channels" "says why"
            | Ok _ -> failtest "accepted"
        }
        test "the module sends input channel i·(C/g) + j to output channel j·g + i" {
            use _ = torch.NewDisposeScope ()
            let groups, channels = 3, 12
            use network = Network.ofNode "t" (Spatial (channels, 2, 3)) (parse $"shuffle({groups})") |> Repository.unwrap
            let x = torch.randn (2L, int64 channels, 2L, 3L)
            let y = network.forward x
            for i in 0 .. groups - 1 do
                for j in 0 .. channels / groups - 1 do
                    let source, target = i * (channels / groups) + j, j * groups + i
                    Expect.isTrue (y.select(1L, int64 target).allclose (x.select(1L, int64 source), 0.0, 0.0)) $"output {target} is input {source}"
        }
        test "moments through shuffles agree with measurement, x + shuffle(x) included" {
            // The residual adds channels to shuffled copies of others (and, at the permutation's fixed points,
            // to themselves): exact only if the shuffle carries each channel's dependence with it.
            let input = Spatial (32, 8, 8)
            let text =
                "conv(3, 32, padding=1) >> relu >> concat(conv(1, 16) >> relu, conv(1, 16) >> tanh) >> residual(shuffle(4))"
                + " >> conv(3, 16, groups=4, padding=1) >> relu >> shuffle(4) >> conv(1, 16, groups=4) >> selu"
            let pairs = SignalTests.measured (Initialisers.AutoInit (Exact, Initialisers.Normal)) input (SignalTests.check input text) 24 4
            let off = pairs |> List.filter (SignalTests.agreesWithin 0.1 >> not) |> List.map SignalTests.describe
            Expect.isEmpty off "nodes off"
        }
        test "shapes, parameters and MACs of the ShuffleNet example agree with one forward pass" {
            let file = System.IO.Path.Combine (Repository.root.Value, "Examples", "layers", "shuffle.rcp")
            let program = Parser.parseProgram file (System.IO.File.ReadAllText file) |> Repository.unwrap
            let body = Expand.program program |> Repository.unwrap
            Expect.isEmpty (Agreement.shapesParametersAndMacs program.Input body) "disagreements"
        }
        test "shuffle prints and parses back to the same layer" {
            let node = parse "channelshuffle(groups=4)"
            Expect.equal (parse (Printer.node node)) node "round trip"
        } ]
