/// The nonlocal PIDE operators (fractional Laplacian, its inverse, the global weighted Laplacian) against
/// their spectral definition, a DFT and a sum over offsets written here with plain arrays, float64 central
/// differences, the analysis against execution, the moment rule, and the text syntax.
/// Discretisation: the map is periodic (the FFT's boundary handling); grid frequencies k = 2π·(m/H, n/W)
/// with m, n the signed integer frequencies, so |k| at bin m along an axis of length L is 2π·min(m, L − m)/L.
module Receptor.Properties.NonlocalTests

open System
open System.IO
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Torch.NonlocalModules
open Receptor.Properties.LayerTests

/// |k|² of bin (m, n), from the signed frequency's magnitude min(m, L − m).
let private squaredFrequency h w m n =
    let along i length = 2.0 * Math.PI * float (min i (length - i)) / float length
    along m h ** 2.0 + along n w ** 2.0

/// cos(2π(m·y/H + n·x/W)) on every channel: a real Fourier mode.
let private mode channels h w m n =
    let values =
        Array.init (channels * h * w) (fun i ->
            let y, x = i / w % h, i % w
            cos (2.0 * Math.PI * (float (m * y) / float h + float (n * x) / float w)))
    torch.tensor(values, dtype = torch.float64).view (1L, int64 channels, int64 h, int64 w)

let private fractional channels h w (orders: float[]) inverse =
    let m = new FractionalLaplacian ("fraclap", channels, h, w, 0.5, false, inverse)
    m.``to`` torch.float64 |> ignore
    set (parameter m "s") (torch.tensor (orders, dtype = torch.float64))
    m

/// Mean over each channel's plane removed.
let private centred (x: Tensor) = x - x.mean ([| 2L; 3L |], keepdim = true)

/// The operator from its definition with a DFT written out: X(m, n) = Σ x·e^(−2πi(my/H + nx/W)), times the
/// multiplier, then the inverse DFT's real part.
let private dftReference (x: float[]) channels h w (multiplier: int -> int -> int -> float) =
    let output = Array.zeroCreate (channels * h * w)
    for c in 0 .. channels - 1 do
        let at y x' = x[(c * h + y) * w + x']
        for m in 0 .. h - 1 do
            for n in 0 .. w - 1 do
                let mutable re, im = 0.0, 0.0
                for y in 0 .. h - 1 do
                    for x' in 0 .. w - 1 do
                        let angle = -2.0 * Math.PI * (float (m * y) / float h + float (n * x') / float w)
                        re <- re + at y x' * cos angle
                        im <- im + at y x' * sin angle
                let factor = multiplier c m n
                for y in 0 .. h - 1 do
                    for x' in 0 .. w - 1 do
                        let angle = 2.0 * Math.PI * (float (m * y) / float h + float (n * x') / float w)
                        let index = (c * h + y) * w + x'
                        output[index] <- output[index] + factor * (re * cos angle - im * sin angle) / float (h * w)
    output

let private operatorTests =
    [ for h, w in [ 6, 8; 5, 7 ] do
        test $"fraclap on {h}×{w}: each Fourier mode is an eigenfunction with eigenvalue |k|^(2s), per-channel s" {
            use _ = torch.NewDisposeScope ()
            let orders = [| 0.3; 0.8 |]
            use op = fractional 2 h w orders false
            use inverse = fractional 2 h w orders true
            // The Nyquist bins (m = H/2) of even sides are included.
            for m, n in [ 1, 0; 0, 1; 2, 3; h / 2, w / 2; h - 1, 1 ] do
                let u = mode 2 h w m n
                for c in 0 .. 1 do
                    let eigenvalue = squaredFrequency h w m n ** orders[c]
                    let channel (t: Tensor) = t.select (1L, int64 c)
                    Expect.isLessThan (maxDifference64 (channel (op.forward u)) (channel u * eigenvalue)) 1e-10 $"(−Δ)^s, mode ({m}, {n}), channel {c}"
                    Expect.isLessThan (maxDifference64 (channel (inverse.forward u)) (channel u / eigenvalue)) 1e-10 $"inverse, mode ({m}, {n}), channel {c}"
            Expect.isLessThan ((op.forward (torch.ones (1L, 2L, int64 h, int64 w, dtype = torch.float64))).abs().max().item<float> ()) 1e-12 "constants are annihilated"
        }
      test "weightedlap at initialisation: mode (m, n) has eigenvalue 4 − 2cos k_y − 2cos k_x (the 5-point −Δ)" {
          use _ = torch.NewDisposeScope ()
          use op = new WeightedLaplacian ("weightedlap", 3, 6, 5, false)
          op.``to`` torch.float64 |> ignore
          for m, n in [ 1, 0; 0, 2; 3, 1; 5, 4 ] do
              let u = mode 3 6 5 m n
              let eigenvalue = 4.0 - 2.0 * cos (2.0 * Math.PI * float m / 6.0) - 2.0 * cos (2.0 * Math.PI * float n / 5.0)
              Expect.isLessThan (maxDifference64 (op.forward u) (u * eigenvalue)) 1e-10 $"mode ({m}, {n})"
      }
      test "the inverse composed with the operator, either way, is the identity on the zero-mean part" {
          use _ = torch.NewDisposeScope ()
          let orders = [| 0.25; 0.5; 1.0 |]
          use op = fractional 3 7 6 orders false
          use inverse = fractional 3 7 6 orders true
          let x = torch.randn (2L, 3L, 7L, 6L, dtype = torch.float64)
          Expect.isLessThan (maxDifference64 (inverse.forward (op.forward x)) (centred x)) 1e-10 "(−Δ)^(−s) (−Δ)^s x"
          Expect.isLessThan (maxDifference64 (op.forward (inverse.forward x)) (centred x)) 1e-10 "(−Δ)^s (−Δ)^(−s) x"
      }
      test "fraclap and its inverse match a DFT written with plain arrays, on a 2×5×6 input" {
          use _ = torch.NewDisposeScope ()
          let orders = [| 0.35; 0.9 |]
          let x = torch.randn (1L, 2L, 5L, 6L, dtype = torch.float64)
          for inverse in [ false; true ] do
              use m = fractional 2 5 6 orders inverse
              let expected =
                  dftReference (values x) 2 5 6 (fun c m n ->
                      if m = 0 && n = 0 then 0.0
                      else squaredFrequency 5 6 m n ** (if inverse then -orders[c] else orders[c]))
              Expect.isLessThan (maxDifference64 (m.forward x) (torch.tensor(expected, dtype = torch.float64).view (1L, 2L, 5L, 6L))) 1e-10 $"inverse = {inverse}"
      }
      test "weightedlap with random weights matches Σ_d W(d)(u(x) − u(x − d)) summed over the periodic offsets" {
          use _ = torch.NewDisposeScope ()
          torch.manual_seed 3L |> ignore
          let channels, h, w = 2, 4, 5
          for shared in [ false; true ] do
              use m = new WeightedLaplacian ("weightedlap", channels, h, w, shared)
              m.``to`` torch.float64 |> ignore
              set (parameter m "weight") (torch.randn_like (parameter m "weight"))
              let weights = values (parameter m "weight")
              let x = torch.randn (1L, int64 channels, int64 h, int64 w, dtype = torch.float64)
              let u = values x
              let expected =
                  Array.init (channels * h * w) (fun i ->
                      let c, y, x' = i / (h * w), i / w % h, i % w
                      let kernel = if shared then 0 else c
                      let mutable total = 0.0
                      for dy in 0 .. h - 1 do
                          for dx in 0 .. w - 1 do
                              let from = (c * h + (y - dy + h) % h) * w + (x' - dx + w) % w
                              total <- total + weights[(kernel * h + dy) * w + dx] * (u[i] - u[from])
                      total)
              Expect.isLessThan (maxDifference64 (m.forward x) (torch.tensor(expected, dtype = torch.float64).view (1L, int64 channels, int64 h, int64 w))) 1e-10 $"shared = {shared}"
      }
      for inverse, kind in [ false, "fraclap"; true, "invfraclap" ] do
        test $"{kind}: autograd gradients for s and the input match central differences, float64" {
            use _ = torch.NewDisposeScope ()
            torch.manual_seed 5L |> ignore
            use m = fractional 3 6 5 [| 0.2; 0.55; 0.95 |] inverse
            let x = torch.randn(2L, 3L, 6L, 5L, dtype = torch.float64).requires_grad_ (true)
            gradientCheck (Random 7) (weighted (fun () -> m.forward x)) [ "input", x; "s", parameter m "s" ]
        }
      test "weightedlap: autograd gradients for the weights and the input match central differences, float64" {
          use _ = torch.NewDisposeScope ()
          torch.manual_seed 9L |> ignore
          use m = new WeightedLaplacian ("weightedlap", 2, 5, 4, false)
          m.``to`` torch.float64 |> ignore
          set (parameter m "weight") (torch.rand_like (parameter m "weight"))
          let x = torch.randn(2L, 2L, 5L, 4L, dtype = torch.float64).requires_grad_ (true)
          gradientCheck (Random 11) (weighted (fun () -> m.forward x)) [ "input", x; "weight", parameter m "weight" ]
      } ]

let private nets =
    [ "fractional Laplacians in a conv net", Spatial (3, 12, 10),
      "conv(3, 8, padding=1) >> fraclap(s=0.7) >> relu >> invfraclap(shared=true) >> conv(3, 4, stride=2) >> bn"
      "weighted Laplacian in a residual", Spatial (4, 9, 9),
      "residual(weightedlap >> relu >> weightedlap(shared=true)) >> fraclap >> gavgpool >> flatten >> dense(3)" ]

/// Agreement.receptiveField checks a Global or clipped field: the gradient of the central unit must reach
/// every pixel the field allows, here the whole image.
let private fieldNets =
    [ "fraclap after a conv", Spatial (1, 11, 9), "conv(3, 2) >> fraclap(s=0.6)"
      "weightedlap before a conv", Spatial (2, 10, 10), "weightedlap >> conv(3, 2, stride=2)"
      "invfraclap on a residual", Spatial (2, 8, 8), "residual(conv(3, 2, padding=1)) >> invfraclap(s=0.3, shared=true)" ]

let private agreementTests =
    [ for name, input, text in nets do
        test $"{name}: shapes, parameters and MACs agree with one forward pass" {
            Expect.isEmpty (Agreement.shapesParametersAndMacs input (parse text)) "disagreements"
        }
      for name, input, text in fieldNets do
        test $"{name}: the whole input is the support of the input gradient" {
            Expect.isEmpty (Agreement.receptiveField input (parse text)) "disagreements"
        }
      test "a training step moves s and the weights" {
          use _ = torch.NewDisposeScope ()
          use network = compile (Spatial (2, 6, 6)) "fraclap >> weightedlap >> invfraclap(s=0.3)"
          (network.forward (torch.randn (3L, 2L, 6L, 6L))).square().sum().backward ()
          for struct (name, p) in network.named_parameters () do
              Expect.isGreaterThan (p.grad.abs().sum().item<float32> ()) 0.0f $"gradient of {name}"
      } ]

/// The moment rule against measurement, each operator on a convolution's output: its fluctuations are then
/// spatially uncorrelated as the propagation assumes (a nonlocal operator's own output is not, so a second
/// one later in the chain would be predicted only approximately), its channel offsets are not constant near
/// the zero-padded borders, and the rule is exact up to the ensemble's sampling error.
let private momentTests =
    [ for op, act in [ "fraclap(s=0.6)", "relu"; "weightedlap", "tanh"; "invfraclap(s=0.4, shared=true)", "gelu" ] do
        test $"{op}: predicted moments match measured ones at every node, within 10 %% or four standard errors" {
            let input = Spatial (32, 8, 8)
            let text = $"conv(3, 32, padding=1) >> relu >> conv(3, 32, padding=1) >> {op} >> {act} >> conv(3, 32, padding=1)"
            let tree = Shapes.checkNode input (parse text) |> Repository.unwrap
            let pairs = SignalTests.measured (Signal.Initialisers.AutoInit (Signal.Exact, Signal.Initialisers.Normal)) input tree 24 4
            let describe (p: Signal.NodeMoments, m: Signal.Measurement.Measured) =
                sprintf "%s: predicted %.4f/%.4f, measured %.4f/%.4f ± %.4f" p.Path p.Mean p.Variance m.Mean m.Variance m.VarianceError
            let off = pairs |> List.filter (SignalTests.agreesWithin 0.1 >> not)
            Expect.isEmpty off (sprintf "nodes off:\n%s" (pairs |> List.map describe |> String.concat "\n"))
        } ]

let private facts input text =
    let report = analyse input text
    report.Totals.Parameters, report.Totals.Macs, report.Totals.Flops

/// Hand counts: a real FFT of N = H·W values is 2.5·N·log₂N FLOPs; 8×8: 2.5·64·6 = 960; bins 8·5 = 40.
let private analysisTests =
    [ test "fraclap on 3×8×8: 3 orders; per channel two FFTs and a real product, per order an exponential" {
          // 3·(2·960 + 2·40) + 3·2·40 = 6,000 + 240.
          Expect.equal (facts (Spatial (3, 8, 8)) "fraclap") (3L, 0L, 6_240L) "parameters, MACs, FLOPs"
          Expect.equal (facts (Spatial (3, 8, 8)) "invfraclap(s=0.2, shared=true)") (1L, 0L, 6_080L) "shared order"
      }
      test "weightedlap on 2×8×8: an 8×8 kernel per channel, transformed; complex products" {
          // kernels 2·(960 + 2·40) = 2,080; channels 2·(2·960 + 6·40) = 4,320.
          Expect.equal (facts (Spatial (2, 8, 8)) "weightedlap") (128L, 0L, 6_400L) "parameters, MACs, FLOPs"
      }
      test "the nonlocal operators see the whole input: receptor rf says so" {
          // 3 from the conv, then a window of 2·12 − 1 centred on each unit: 3 + 22.
          match (analyse (Spatial (1, 12, 12)) "conv(3, 2, padding=1) >> fraclap").Field with
          | Local (h, w) -> Expect.equal (h.Size, w.Size) (25.0, 25.0) "field size"
          | Global -> failtest "a window over the whole input was expected"
          let file = Path.Combine (Path.GetTempPath (), $"nonlocal-{Guid.NewGuid ()}.rcp")
          File.WriteAllText (file, "input(1, 12, 12)\nnetwork n = conv(3, 2, padding=1) >> weightedlap\n")
          use output = new StringWriter ()
          use error = new StringWriter ()
          let code = Receptor.Cli.Commands.Rf.run output error { Receptor.Cli.Commands.Rf.defaults with File = file }
          File.Delete file
          Expect.equal code 0 (error.ToString ())
          Expect.stringContains (output.ToString ()) "sees the whole input" "rf's region"
      }
      test "mistakes are diagnostics: an order outside (0, 1], a flat input" {
          let error input text =
              match Analysis.ofNode "t" input (parse text) with
              | Ok _ -> failtest $"{text} was accepted"
              | Error d -> Diagnostic.format d
          Expect.stringContains (error (Spatial (2, 4, 4)) "fraclap(s=1.5)") "must lie in (0, 1]" "s"
          Expect.stringContains (error (Spatial (2, 4, 4)) "flatten >> invfraclap") "needs a C×H×W input" "flat"
      }
      test "a program using the nonlocal operators prints and parses back to the same program" {
          let text =
              """input(3, 16, 16)
block pide(c) = residual(conv(3, c, padding=1) >> fraclap(s=0.25) >> relu) >> weightedlap(shared=true)
network nonlocal =
    conv(3, 8, padding=1) >> pide(8) >> invfraclap(s=0.75, shared=true) >> gavgpool >> flatten >> dense(10)"""
          let program = Parser.parseProgram "nonlocal.rcp" text |> Repository.unwrap
          let printed = Printer.program program
          let reparsed = Parser.parseProgram "<printed>" printed |> Repository.unwrap
          Expect.equal reparsed program (sprintf "printed form parses back:\n%s" printed)
      } ]

let tests: Test =
    testList "nonlocal operators" [
        testList "analysis" analysisTests
        // TorchSharp's dispose scopes belong to one thread: the module tests run one after another.
        testSequenced <| testList "modules" [ testList "operators" operatorTests; testList "agreement" agreementTests; testList "moments" momentTests ]
    ]
