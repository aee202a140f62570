/// DynOPool against a bilinear resampler written here with plain arrays from the paper's query points,
/// float64 central-difference gradients of the scale, its identity and average-pooling special cases, hand
/// counts, the analysis against execution, the text syntax, the complexity penalty and the moment rule
/// against measurement.
module Receptor.Properties.DynOPoolTests

open System
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Analysis
open Receptor.Core.Signal
open Receptor.Properties.LayerTests

/// Bilinear resampling on plain arrays: along each axis of n pixels the m query points sit 1/r apart,
/// centred on the map, and a point past the edge reads the edge; the read weighs the two pixels around the
/// point by their nearness.
let private reference (x: Tensor) (rh: float) (rw: float) (oh: int) (ow: int) =
    let n, c, h, w = int x.shape[0], int x.shape[1], int x.shape[2], int x.shape[3]
    let xs = values x
    let point r size count i = Math.Clamp ((float size - 1.0) / 2.0 + (float i - (float count - 1.0) / 2.0) / r, 0.0, float size - 1.0)
    let at plane y z = xs[(plane * h + y) * w + z]
    let output =
        Array.init (n * c * oh * ow) (fun k ->
            let plane, u, v = k / (oh * ow), k / ow % oh, k % ow
            let py, px = point rh h oh u, point rw w ow v
            let y0, x0 = int (floor py), int (floor px)
            let y1, x1 = min (h - 1) (y0 + 1), min (w - 1) (x0 + 1)
            let fy, fx = py - float y0, px - float x0
            (1.0 - fy) * ((1.0 - fx) * at plane y0 x0 + fx * at plane y0 x1) + fy * ((1.0 - fx) * at plane y1 x0 + fx * at plane y1 x1))
    torch.tensor(output, dtype = torch.float64).view (int64 n, int64 c, int64 oh, int64 ow)

let private resamplingCases =
    // initial scale, input, learnt (r_h, r_w)
    [ 0.5, Spatial (2, 8, 8), (0.5, 0.5)
      0.6, Spatial (3, 7, 9), (0.53, 0.71)
      0.35, Spatial (2, 11, 6), (0.41, 0.45) ]

let private moduleTests =
    [ for initial, input, (rh, rw) in resamplingCases do
        test $"dynopool({initial}) on {Shape.format input} with r = ({rh}, {rw}): matches bilinear resampling with plain arrays, and ∂/∂r and ∂/∂x match central differences, float64" {
            use _ = torch.NewDisposeScope ()
            torch.manual_seed 21L |> ignore
            use m = compile input $"dynopool({initial})"
            m.``to`` torch.float64 |> ignore
            let scale = parameter m "scale"
            Expect.equal (values scale) (Array.create 2 (float (float32 initial))) "the scale starts at the argument (in float32)"
            set scale (torch.tensor ([| rh; rw |], dtype = torch.float64))
            let c, h, w = match input with Spatial (c, h, w) -> c, h, w | Flat n -> n, 1, 1
            let oh, ow = Layers.DynOPool.outputLength initial h, Layers.DynOPool.outputLength initial w
            let x = torch.randn (2L, int64 c, int64 h, int64 w, dtype = torch.float64)
            let y = m.forward x
            Expect.equal y.shape [| 2L; int64 c; int64 oh; int64 ow |] "the output size is the initial scale's"
            Expect.isLessThan (maxDifference64 y (reference x rh rw oh ow)) 1e-12 "against the definition"
            let x = x.requires_grad_ (true)
            gradientCheck (Random 6) (weighted (fun () -> m.forward x)) [ "scale", scale; "input", x ]
            Expect.isGreaterThan (values scale.grad |> Array.map abs |> Array.min) 0.0 "the loss reaches both scales"
        }
      test "dynopool(1) is the identity" {
          use _ = torch.NewDisposeScope ()
          use m = compile (Spatial (3, 7, 10)) "dynopool(1)"
          let x = torch.randn (2L, 3L, 7L, 10L)
          Expect.isTrue ((m.forward x).eq(x).all().item<bool> ()) "the input itself, exactly"
      }
      test "dynopool(0.5) on even sizes reads halfway between pixel pairs: it is avgpool(2)" {
          use _ = torch.NewDisposeScope ()
          use m = compile (Spatial (3, 8, 6)) "dynopool(0.5)"
          use pool = compile (Spatial (3, 8, 6)) "avgpool(2)"
          let x = torch.randn (2L, 3L, 8L, 6L)
          Expect.isLessThan (maxDifference64 ((m.forward x).to_type torch.float64) ((pool.forward x).to_type torch.float64)) 1e-6 "avgpool(2)"
      }
      test "the network's complexity penalty is Σ r_h·r_w over its DynOPool modules (their ILossTerm), and its gradient reaches each scale" {
          use _ = torch.NewDisposeScope ()
          use m = compile (Spatial (2, 16, 16)) "dynopool(0.5) >> conv(3, 4, padding=1) >> dynopool(0.75)"
          let scales = m.named_parameters () |> Seq.map (fun struct (_, p) -> p :> Tensor) |> Seq.filter (fun p -> p.numel () = 2L) |> List.ofSeq
          Expect.equal scales.Length 2 "two scale parameters"
          set scales[1] (torch.tensor ([| 0.7f; 0.9f |]))
          let penalty = m.ComplexityPenalty ()
          Expect.floatClose Accuracy.medium (penalty.item<float32> () |> float) (0.25 + 0.7 * 0.9) "0.5·0.5 + 0.7·0.9"
          penalty.backward ()
          Expect.floatClose Accuracy.medium (float (scales[1].grad[0L].item<float32> ())) 0.9 "∂/∂r_h = r_w"
          use plain = compile (Spatial (2, 8, 8)) "conv(3, 4)"
          Expect.equal ((plain.ComplexityPenalty ()).item<float32> ()) 0.0f "no DynOPool: zero"
      }
      test "training with --complexity λ shrinks the learnt scales below those of the same run without it" {
          let program =
              Parser.parseProgram "penalty.rcp" "input(1, 16, 16)\nnetwork p = conv(3, 4, padding=1) >> relu >> dynopool(0.75) >> gavgpool >> flatten >> dense(4)\n"
              |> Repository.unwrap
          let data = Data.Synthetic.blobs 1 256 4 16
          let area complexity =
              let options =
                  { Training.TrainOptions.defaults with
                      Epochs = 2; BatchSize = 32; Complexity = complexity; Device = Training.Cpu }
              use network = Training.Trainer.compile options.Seed program |> Repository.unwrap
              Training.Trainer.train options None network data ignore |> Result.defaultWith failtest |> ignore
              (network.ComplexityPenalty ()).item<float32> () |> float
          let plain, penalised = area 0.0, area 1.0
          Expect.isLessThan penalised (plain - 0.05) $"r_h·r_w after 16 steps: {penalised} with λ = 1, {plain} without"
      }
      test "agreement: shapes and parameters of dynopool agree with execution" {
          let text = "conv(3, 6, padding=1) >> dynopool(0.6) >> relu >> conv(3, 4) >> dynopool(0.45) >> flatten >> dense(3)"
          Expect.isEmpty (Agreement.shapesParametersAndMacs (Spatial (3, 17, 13)) (parse text)) "disagreements"
      }
      // Size 3 is exact after unit strides when the points fall halfway between pixels (the extent's rounding
      // drops the half pixel on each side); a later fractional layer scales that slack, an upper bound only.
      test "agreement: with query points halfway between pixels the field is the support of the input gradient" {
          let input, node = Spatial (2, 24, 24), parse "conv(3, 4, padding=1) >> conv(3, 4, dilation=2) >> dynopool(0.5)"
          let disagreements = Agreement.receptiveField input node
          Expect.isEmpty disagreements (String.concat "; " disagreements)
      }
      test "moments: predictions through dynopool agree with measurement within 10 % or four standard errors" {
          let input = Spatial (32, 9, 9)
          let text = "conv(3, 32, padding=1) >> relu >> dynopool(0.6) >> conv(3, 32, padding=1) >> tanh >> dynopool(0.7) >> conv(1, 16)"
          let pairs = SignalTests.measured (Initialisers.AutoInit (Exact, Initialisers.Normal)) input (SignalTests.check input text) 24 4
          let off = pairs |> List.filter (SignalTests.agreesWithin 0.1 >> not) |> List.map SignalTests.describe
          Expect.isEmpty off "nodes off"
      } ]

let private analysisTests =
    [ test "dynopool(0.6) on 3×9×8: 6×5 output, 2 parameters, no MACs, 7·3·30 FLOPs" {
          let report = analyse (Spatial (3, 9, 8)) "dynopool(0.6)"
          Expect.equal report.Output (Spatial (3, 6, 5)) "⌈0.6·9⌉ × ⌈0.6·8⌉"
          Expect.equal (report.Totals.Parameters, report.Totals.Macs, report.Totals.Flops) (2L, 0L, 630L) "parameters, MACs, FLOPs"
      }
      test "⌈r·n⌉ does not round an exact product up: dynopool(0.3) on 10×10 gives 3×3" {
          Expect.equal (analyse (Spatial (1, 10, 10)) "dynopool(0.3)").Output (Spatial (1, 3, 3)) "3×3"
      }
      test "the field has stride 1/r, size 3 (1 at r = 1) and its windows centred at the query points" {
          for r, n in [ 0.6, 9; 0.5, 8; 0.35, 11 ] do
              match (analyse (Spatial (1, n, n)) $"dynopool({r})").Field with
              | Local (h, _) ->
                  Expect.floatClose Accuracy.high h.Stride (1.0 / r) "stride"
                  Expect.equal h.Size 3.0 "size"
                  let m = Layers.DynOPool.outputLength r n
                  for u in 0 .. m - 1 do
                      let expected = float (n - 1) / 2.0 + (float u - float (m - 1) / 2.0) / r
                      Expect.floatClose Accuracy.high (AxisField.centre h (float u)) expected $"centre of {u}"
              | Global -> failtest "a local field"
          match (analyse (Spatial (1, 5, 5)) "dynopool(1)").Field with
          | Local (h, w) -> Expect.equal (h.Size, h.Stride, w.Size, w.Padding) (1.0, 1.0, 1.0, 0.0) "the unit field"
          | Global -> failtest "a local field"
      }
      test "a scale outside (0, 1] and a flat input are diagnostics" {
          let error input text =
              match Analysis.ofNode "t" input (parse text) with
              | Ok _ -> failtest $"{text} was accepted"
              | Error d -> Diagnostic.format d
          Expect.stringContains (error (Spatial (3, 8, 8)) "dynopool(1.5)") "must lie in (0, 1]" "above 1"
          Expect.stringContains (error (Spatial (3, 8, 8)) "dynopool(0)") "must lie in (0, 1]" "zero"
          Expect.stringContains (error (Flat 8) "dynopool(0.5)") "needs a C×H×W input" "flat"
      }
      test "a program using dynopool prints and parses back to the same program" {
          let text = "input(3, 16, 16)\nnetwork resizing = conv(3, 8, padding=same) >> dynopool(0.62) >> conv(3, 8) >> dynopool(scale=0.5) >> gavgpool"
          let program = Parser.parseProgram "resizing.rcp" text |> Repository.unwrap
          let printed = Printer.program program
          Expect.equal (Parser.parseProgram "<printed>" printed |> Repository.unwrap) program (sprintf "printed form parses back:\n%s" printed)
      } ]

let tests: Test =
    testList "dynopool" [
        testList "analysis" analysisTests
        testSequenced <| testList "modules" moduleTests
    ]
