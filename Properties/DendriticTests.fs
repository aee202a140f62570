/// Dendritic ReLU units (dendconv, dendense) against references written here from the definition
/// y_o = Σᵢ w_oi·relu(x_i + s_oi) + b_o with plain arrays, float64 central-difference gradients, hand counts,
/// the analysis against execution, the text syntax and the moment rule against measurement.
module Receptor.Properties.DendriticTests

open System
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Signal
open Receptor.Properties.LayerTests

let private relu (v: float) = max v 0.0

/// dendconv on plain arrays: zeros around the rectified input, connection (o, input channel) shifted once.
let private convReference (x: Tensor) (weight: Tensor) (shift: Tensor) (bias: float[]) (sh, sw) (top, left) (oh, ow) (dh, dw) groups =
    let n, c, h, w = int x.shape[0], int x.shape[1], int x.shape[2], int x.shape[3]
    let out, perGroup, kh, kw = int weight.shape[0], int weight.shape[1], int weight.shape[2], int weight.shape[3]
    let xs, ws, ss = values x, values weight, values shift
    let output: float[] = Array.zeroCreate (n * out * oh * ow)
    for ni in 0 .. n - 1 do
        for o in 0 .. out - 1 do
            for u in 0 .. oh - 1 do
                for v in 0 .. ow - 1 do
                    let mutable sum = if bias.Length > 0 then bias[o] else 0.0
                    for ci in 0 .. perGroup - 1 do
                        let channel = o / (out / groups) * perGroup + ci
                        for i in 0 .. kh - 1 do
                            for j in 0 .. kw - 1 do
                                let y, z = u * sh - top + i * dh, v * sw - left + j * dw
                                if y >= 0 && y < h && z >= 0 && z < w then
                                    let input = xs[((ni * c + channel) * h + y) * w + z]
                                    sum <- sum + ws[((o * perGroup + ci) * kh + i) * kw + j] * relu (input + ss[o * perGroup + ci])
                    output[((ni * out + o) * oh + u) * ow + v] <- sum
    torch.tensor(output, dtype = torch.float64).view (int64 n, int64 out, int64 oh, int64 ow)

let private denseReference (x: Tensor) (weight: Tensor) (shift: Tensor) (bias: float[]) =
    let n, inputs, out = int x.shape[0], int x.shape[1], int weight.shape[0]
    let xs, ws, ss = values x, values weight, values shift
    let output =
        Array.init (n * out) (fun k ->
            let ni, o = k / out, k % out
            let mutable sum = if bias.Length > 0 then bias[o] else 0.0
            for i in 0 .. inputs - 1 do
                sum <- sum + ws[o * inputs + i] * relu (xs[ni * inputs + i] + ss[o * inputs + i])
            sum)
    torch.tensor(output, dtype = torch.float64).view (int64 n, int64 out)

/// A compiled single layer in float64 with random shifts (about half the connections cut some inputs).
let private randomised input text =
    let m = compile input text
    m.``to`` torch.float64 |> ignore
    let shift = parameter m "shift"
    set shift (torch.randn_like shift * 0.7)
    m, shift

let private biasOf (m: torch.nn.Module) =
    if m.named_parameters () |> Seq.exists (fun struct (n, _) -> n.EndsWith ".bias") then values (parameter m "bias") else [||]

let private convCases =
    // text, input, stride, (top, left) padding, output, dilation, groups
    [ "identity >> dendconv(3, 4, padding=1)", Spatial (2, 7, 6), (1, 1), (1, 1), (7, 6), (1, 1), 1
      "identity >> dendconv(3x2, 6, stride=2, dilation=2x1, groups=2, padding=1x2)", Spatial (4, 9, 8), (2, 2), (1, 2), (4, 6), (2, 1), 2
      "identity >> dendconv(1, 3, bias=false)", Spatial (3, 5, 5), (1, 1), (0, 0), (5, 5), (1, 1), 1 ]

let private moduleTests =
    [ for text, input, stride, padding, output, dilation, groups in convCases do
        test $"{text}: matches Σ w·relu(x + s) written with plain arrays, and autograd matches central differences, float64" {
            use _ = torch.NewDisposeScope ()
            torch.manual_seed 11L |> ignore
            let m, shift = randomised input text
            let c, h, w = match input with Spatial (c, h, w) -> c, h, w | Flat n -> n, 1, 1
            let x = torch.randn (2L, int64 c, int64 h, int64 w, dtype = torch.float64)
            let expected = convReference x (parameter m "weight") shift (biasOf m) stride padding output dilation groups
            Expect.isLessThan (maxDifference64 (m.forward x) expected) 1e-10 "against the definition"
            let x = x.requires_grad_ (true)
            let learnt = [ "input", x; "weight", parameter m "weight"; "shift", shift ] @ (if (biasOf m).Length > 0 then [ "bias", parameter m "bias" ] else [])
            gradientCheck (Random 4) (weighted (fun () -> m.forward x)) learnt
        }
      test "dendense: matches Σ w·relu(x + s) written with plain arrays, and autograd matches central differences, float64" {
          use _ = torch.NewDisposeScope ()
          torch.manual_seed 12L |> ignore
          let m, shift = randomised (Flat 7) "identity >> dendense(5)"
          let x = torch.randn (3L, 7L, dtype = torch.float64)
          Expect.isLessThan (maxDifference64 (m.forward x) (denseReference x (parameter m "weight") shift (biasOf m))) 1e-10 "against the definition"
          let x = x.requires_grad_ (true)
          gradientCheck (Random 5) (weighted (fun () -> m.forward x)) [ "input", x; "weight", parameter m "weight"; "shift", shift; "bias", parameter m "bias" ]
      }
      test "with zero shifts (its initial state) dendconv is relu then conv, zero padding around the rectified input" {
          use _ = torch.NewDisposeScope ()
          let input = Spatial (4, 8, 7)
          use dendritic = compile input "identity >> dendconv(3, 6, stride=2, padding=same, groups=2)"
          use plain = compile input "relu >> conv(3, 6, stride=2, padding=same, groups=2)"
          Expect.isTrue ((parameter dendritic "shift").eq(torch.tensor 0.0f).all().item<bool> ()) "shifts start at zero"
          set (parameter plain "weight") (parameter dendritic "weight")
          set (parameter plain "bias") (parameter dendritic "bias")
          let x = torch.randn (2L, 4L, 8L, 7L)
          Expect.isLessThan (maxDifference64 ((dendritic.forward x).to_type torch.float64) ((plain.forward x).to_type torch.float64)) 1e-5 "relu >> conv"
      }
      test "agreement: shapes, parameters and MACs of dendconv and dendense agree with execution" {
          let text = "dendconv(3, 6, stride=2, padding=1, groups=2) >> relu >> dendconv(3x1, 4, dilation=2, padding=same) >> flatten >> dendense(4)"
          Expect.isEmpty (Agreement.shapesParametersAndMacs (Spatial (4, 9, 9)) (parse text)) "disagreements"
      }
      test "agreement: the field of stacked dendconvs is the support of the input gradient" {
          let input, node = Spatial (2, 21, 21), parse "dendconv(3, 4, padding=1) >> dendconv(3, 4, dilation=2, stride=2) >> dendconv(5, 3)"
          Expect.isTrue (Agreement.hasExactField node && Agreement.isAligned input node) "an exact, aligned field"
          Expect.isEmpty (Agreement.receptiveField input node) "disagreements"
      }
      test "moments: AutoInit's predictions for dendritic units agree with measurement within 10 % or four standard errors" {
          let input = Spatial (32, 8, 8)
          let text = "conv(3, 32, padding=1) >> dendconv(3, 32, padding=1) >> dendconv(3, 16, padding=1, groups=4) >> tanh >> gavgpool >> flatten >> dendense(16) >> selu"
          let pairs = SignalTests.measured (Initialisers.AutoInit (Exact, Initialisers.Normal)) input (SignalTests.check input text) 24 4
          let off = pairs |> List.filter (SignalTests.agreesWithin 0.1 >> not) |> List.map SignalTests.describe
          Expect.isEmpty off "nodes off"
      } ]

let private analysisTests =
    [ test "dendconv(3, 8, padding=1) on 4×10×10: 288 weights, 32 shifts, 8 biases; 288·100 MACs; 2·32·100 + 800 FLOPs" {
          let report = analyse (Spatial (4, 10, 10)) "dendconv(3, 8, padding=1)"
          Expect.equal (report.Totals.Parameters, report.Totals.Macs, report.Totals.Flops) (328L, 28_800L, 7_200L) "parameters, MACs, FLOPs"
      }
      test "dendense(5) on 12 features: 60 weights, 60 shifts, 5 biases; 60 MACs; 120 + 5 FLOPs" {
          let report = analyse (Flat 12) "dendense(5)"
          Expect.equal (report.Totals.Parameters, report.Totals.Macs, report.Totals.Flops) (125L, 60L, 125L) "parameters, MACs, FLOPs"
      }
      test "the field of dendconv is its convolution's; dendense sees the whole input; mistakes are diagnostics" {
          match (analyse (Spatial (3, 32, 32)) "dendconv(3, 4, dilation=2, stride=2)").Field with
          | Local (h, w) -> Expect.equal (h.Size, w.Size, h.Stride) (5.0, 5.0, 2.0) "size and stride"
          | Global -> failtest "a local field"
          let error input text =
              match Analysis.ofNode "t" input (parse text) with
              | Ok _ -> failtest $"{text} was accepted"
              | Error d -> Diagnostic.format d
          Expect.stringContains (error (Spatial (3, 8, 8)) "dendconv(3, 4, groups=2)") "groups 2 must divide" "groups"
          Expect.stringContains (error (Spatial (3, 8, 8)) "dendense(4)") "add flatten first" "dense needs a flat input"
      }
      test "a program using the dendritic units prints and parses back to the same program" {
          let text =
              """input(3, 16, 16)
network dendrites = dendconv(3, 8, padding=same, bias=false) >> dendconv(3x1, 8, stride=2, dilation=2x1, groups=4) >> flatten >> dendense(10)"""
          let program = Parser.parseProgram "dendrites.rcp" text |> Repository.unwrap
          let printed = Printer.program program
          Expect.equal (Parser.parseProgram "<printed>" printed |> Repository.unwrap) program (sprintf "printed form parses back:\n%s" printed)
      } ]

let tests: Test =
    testList "dendritic units" [
        testList "analysis" analysisTests
        testSequenced <| testList "modules" moduleTests
    ]
