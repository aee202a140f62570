/// Analysis against execution on hand-picked architectures whose fields are easy to get wrong.
module Receptor.Properties.ExecutionTests

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch
open Receptor.Generators

let private config = { FsCheckConfig.defaultConfig with maxTest = 200; arbitrary = [ typeof<Arbitraries> ] }

/// A property that passes when the check finds no disagreement, labelled with the ones it found.
let private agrees (problems: string list) =
    List.isEmpty problems |> Prop.label (String.concat "\n" problems)

let private node text =
    match Parser.parseNode text with
    | Ok n -> n
    | Error d -> failwith (Diagnostic.format d)

let private cases =
    [ "stacked 3×3", Spatial (2, 24, 24), "conv(3, 4, padding=1) >> relu >> conv(3, 4, padding=1)"
      "dilated", Spatial (2, 32, 32), "conv(3, 4, dilation=3) >> conv(3, 4, dilation=2, padding=2)"
      "strided then dilated", Spatial (1, 40, 40), "conv(3, 4, stride=2) >> conv(3, 4, dilation=2) >> maxpool(2)"
      "even kernel, same padding", Spatial (2, 20, 20), "conv(4, 4, padding=same) >> conv(2x3, 4, stride=2, padding=same)"
      "pooling with ceil mode", Spatial (3, 23, 23), "maxpool(3, stride=2, ceil=true) >> avgpool(2, padding=1, ceil=true)"
      "rectangular kernels", Spatial (1, 30, 30), "conv(1x7, 3, padding=0x3) >> conv(5x1, 3)"
      "aligned concat", Spatial (2, 30, 30), "concat(conv(3, 2, padding=1), conv(5, 2, padding=2), conv(3, 2, dilation=2, padding=2))"
      "residual with projection", Spatial (4, 28, 28), "residual(conv(3, 8, stride=2, padding=1) >> bn >> relu, shortcut=conv(1, 8, stride=2)) >> conv(3, 8)"
      "grouped, depthwise, separable", Spatial (4, 24, 24), "conv(3, 8, groups=4) >> dwconv(3, multiplier=2) >> sepconv(5, 6, stride=2)"
      "multiply and max merges", Spatial (3, 24, 24), "multiply(conv(3, 4, padding=1) >> sigmoid, conv(3, 4, padding=1)) >> max(identity, conv(1, 4))"
      "zero padding, global pooling, dense", Spatial (2, 16, 16), "zeropad(2) >> conv(5, 4) >> gavgpool >> flatten >> dense(3)"
      // One path is widest along the width, the other along the height: the merged field takes each axis
      // from its widest path, padding included.
      "merge widest along different axes", Spatial (1, 26, 8), "max(sepconv(1x7, 7, padding=same), sepconv(3, 7, padding=same))" ]

let tests: Test =
    testSequenced
    <| testList "execution" [
        testPropertyWithConfig config "generated architectures: every node's shape, the parameters and the MACs agree with execution"
        <| fun (a: Architecture) -> agrees (Agreement.shapesParametersAndMacs a.Input a.Node)
        testPropertyWithConfig config "generated aligned architectures: the theoretical field is the support of the input gradient"
        <| fun (a: Architecture) ->
            (Agreement.hasExactField a.Node && Agreement.isAligned a.Input a.Node)
            ==> lazy (agrees (Agreement.receptiveField a.Input a.Node))
        for name, input, text in cases do
            test $"{name}: shapes, parameters and MACs agree with one forward pass" {
                Expect.isEmpty (Agreement.shapesParametersAndMacs input (node text)) "disagreements"
            }
            test $"{name}: the theoretical field is the support of the input gradient" {
                Expect.isEmpty (Agreement.receptiveField input (node text)) "disagreements"
            }
        test "a dilated 2-tap kernel padded around a 1×1 map reads only padding: its field crosses the border, and no gradient is accepted there" {
            // Shrunk from a generated architecture: the field is the hull of the taps (−31..61 rows), which
            // covers the image, yet neither tap lands on the one pixel the global average leaves.
            let input, text = Spatial (7, 31, 26), "gavgpool >> conv(2, 1, padding=1, dilation=2)"
            use _ = torch.NewDisposeScope ()
            use network = Network.ofNode "padding-only" input (node text) |> Result.defaultWith (fun d -> failtest (Diagnostic.format d))
            let outputs = [ for _ in 1 .. 2 -> (network.forward (torch.randn (1L, 7L, 31L, 26L))).data<float32>().ToArray () ]
            Expect.equal outputs[0] outputs[1] "the output does not depend on the input"
            Expect.isEmpty (Agreement.receptiveField input (node text)) "disagreements"
        }
        test "a kernel reading only padding along one axis leaves no gradient along the other, inside the image there" {
            // Shrunk from a generated architecture (CI, seed 10239442867667630961, 16732777423931152719): after the
            // global average, the 1×6 taps dilated by 2 around the one pixel all land on `same` padding; the rows'
            // field is the whole image, exactly, yet no row receives a gradient either.
            let input, text = Spatial (8, 15, 10), "gavgpool >> dwconv(1x6, padding=same, dilation=2)"
            Expect.isEmpty (Agreement.receptiveField input (node text)) "disagreements"
        }
        test "a genuinely misaligned concat is reported at the merge's path" {
            let input = Spatial (1, 20, 20)
            // Both branches give 10×10, but unit 0 of the 1×1 stride-2 conv is centred on pixel 0 and that of
            // the 2×2 pooling on pixel 0.5.
            let misaligned = node "conv(1, 1) >> stage: concat(conv(1, 2, stride=2), maxpool(2))"
            let report = Receptor.Core.Analysis.ofNode "t" input misaligned
            match report with
            | Ok r ->
                Expect.isNonEmpty r.Misalignments "misalignment found"
                Expect.equal r.Misalignments.Head.Path "stage" "reported at the merge"
            | Error d -> failtest (Diagnostic.format d)
        }
        for file in [ "lenet5.rcp"; "allcnnc.rcp" ] do
            test $"{file}: the theoretical field of the central unit is the support of its input gradient" {
                let path, text = Repository.readZoo file
                let program = Parser.parseProgram path text |> Repository.unwrap
                // Up to the last spatial layer: cut the classifier's flatten and dense layers.
                let spatial =
                    match Expand.program program |> Repository.unwrap with
                    | Seq nodes -> Seq (nodes |> List.takeWhile (function Op l -> l.Kind <> "flatten" && l.Kind <> "gavgpool" | _ -> true))
                    | other -> other
                Expect.isEmpty (Agreement.receptiveField program.Input spatial) "disagreements"
            }
    ]
