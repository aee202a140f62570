/// Theoretical and effective receptive fields: unit regions, the ERF statistics, the batching machinery,
/// and the claims of Luo et al. (2016) reproduced on small networks.
module Receptor.Properties.FieldTests

open System
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data
open Receptor.Core.Fields
open Receptor.Core.Torch
open Receptor.Core.Training
open Receptor.Core.Reporting

let private node text =
    match Parser.parseNode text with
    | Ok n -> n
    | Error d -> failwith (Diagnostic.format d)

let private theoretical =
    testList "theoretical" [
        test "ResNet-18's central layer4 unit sees 435 pixels centred on 96, clipped to the image" {
            let _, text = Repository.readZoo "resnet18.rcp"
            let report = Analysis.ofText "resnet18.rcp" text |> Repository.unwrap
            let node = Theoretical.lastSpatial report |> Repository.unwrap
            Expect.equal node.Path "layer4/basic/relu" "default layer"
            let region = Theoretical.region report node (Theoretical.centreUnit node) |> Repository.unwrap
            Expect.equal region.Unit (3, 3) "central unit"
            Expect.equal region.Centre (96.0, 96.0) "centre = −P + u·S + (r − 1)/2 = −217 + 96 + 217"
            Expect.equal (fst region.Unclipped) { First = -121.0; Last = 313.0 } "unclipped rows"
            Expect.equal (fst region.Clipped) { First = 0.0; Last = 223.0 } "clipped rows"
        }
        test "a corner unit's region starts at minus the effective padding" {
            let report = Analysis.ofNode "t" (Spatial (1, 32, 32)) (node "conv(3, 4, padding=1) >> conv(3, 4, stride=2, padding=1)") |> Repository.unwrap
            let last = Theoretical.lastSpatial report |> Repository.unwrap
            let region = Theoretical.region report last (0, 0) |> Repository.unwrap
            Expect.equal region.Unclipped ({ First = -2.0; Last = 2.0 }, { First = -2.0; Last = 2.0 }) "r = 5, P = 2"
            Expect.equal region.Clipped ({ First = 0.0; Last = 2.0 }, { First = 0.0; Last = 2.0 }) "clipped"
        }
        test "bad layers and units are errors with a place" {
            let report = Analysis.ofNode "t" (Spatial (1, 8, 8)) (node "conv(3, 4) >> gavgpool >> flatten >> fc: dense(2)") |> Repository.unwrap
            Expect.isError (Theoretical.chooseLayer report (Some "fc")) "flat layer"
            match Theoretical.findLayer report "cnv" with
            | Error d -> Expect.equal d.Hint (Some "did you mean 'conv'?") "hint"
            | Ok _ -> failtest "unknown path accepted"
            let conv = Theoretical.findLayer report "conv" |> Repository.unwrap
            Expect.isError (Theoretical.region report conv (6, 0)) "unit off the 6×6 plane"
            Expect.isError (Theoretical.parseUnit "1;2") "malformed unit"
        }
        test "rf's text names misaligned merges" {
            let misaligned = node "conv(1, 1) >> stage: concat(conv(1, 2, stride=2), maxpool(2))"
            let report = Analysis.ofNode "t" (Spatial (1, 20, 20)) misaligned |> Repository.unwrap
            let last = Theoretical.lastSpatial report |> Repository.unwrap
            let text = FieldReport.rfText report (Theoretical.region report last (0, 0) |> Repository.unwrap)
            Expect.stringContains text "warning: stage: misaligned paths" "alignment diagnostic"
        }
    ]

let private synthetic rows columns (f: int -> int -> float) = Array2D.init rows columns f

let private statistics =
    testList "statistics" [
        test "the Gaussian fit recovers centre, σ per axis and amplitude, with R² = 1" {
            let map = synthetic 41 51 (fun r c -> 2.0 * exp (-((float r - 19.3) ** 2.0) / (2.0 * 3.0 ** 2.0) - ((float c - 27.6) ** 2.0) / (2.0 * 5.5 ** 2.0)))
            let fit = ErfStats.fitGaussian map
            Expect.floatClose Accuracy.high fit.CentreRow 19.3 "row centre"
            Expect.floatClose Accuracy.high fit.CentreColumn 27.6 "column centre"
            Expect.floatClose Accuracy.high fit.SigmaRow 3.0 "σ rows"
            Expect.floatClose Accuracy.high fit.SigmaColumn 5.5 "σ columns"
            Expect.floatClose Accuracy.high fit.Amplitude 2.0 "amplitude"
            Expect.isGreaterThan fit.RSquared 0.999999 "R²"
        }
        test "Luo's size counts pixels at or above 4.55 % of the centre; mass squares grow from the centre" {
            // A 5×5 plateau of 1 around (10, 10) on a floor of 0.01: 25 pixels pass the threshold.
            let map = synthetic 21 21 (fun r c -> if abs (r - 10) <= 2 && abs (c - 10) <= 2 then 1.0 else 0.01)
            let size = ErfStats.size map (10, 10)
            Expect.equal size.Luo 5.0 "√25"
            let total = 25.0 + 0.01 * float (21 * 21 - 25)
            let side fraction = size.MassSquares |> List.find (fst >> (=) fraction) |> snd
            Expect.equal (side 0.2) 3 "a 3×3 square holds 9/25 of the plateau, > 20 % of the mass"
            Expect.isLessThan (9.0 / total) 0.5 "3×3 is not half"
            Expect.equal (side 0.5) 5 "5×5 holds the plateau"
            Expect.equal (side 0.99) 21 "99 % needs nearly everything"
        }
        test "log-log slope of y = 3·x^−½ is −½" {
            Expect.floatClose Accuracy.high (ErfStats.logLogSlope [ for x in [ 2.0; 5.0; 30.0 ] -> x, 3.0 / sqrt x ]) -0.5 "slope"
        }
    ]

let private dims shape =
    match shape with
    | Spatial (c, h, w) -> [| int64 c; int64 h; int64 w |]
    | Flat n -> [| int64 n |]

/// Sets every parameter to one constant per tensor: 1 / fan-in, and 0 for vectors (biases, norm shifts).
let private constantWeights (network: torch.nn.Module) =
    use _ = torch.no_grad ()
    for struct (name, p) in network.named_parameters () do
        let value = if p.shape.Length >= 2 then 1.0 / float (p.numel () / p.shape[0]) elif name.EndsWith "weight" then 1.0 else 0.0
        p.fill_ (Scalar.op_Implicit value) |> ignore

let private randomImages count (c, h, w) =
    let random = Random 7
    { Images = Array.init (count * c * h * w) (fun _ -> float32 (random.NextDouble()))
      Labels = Array.zeroCreate count
      Count = count
      Channels = c
      Height = h
      Width = w
      Classes = 1 }

let private measure request = Erf.measure request |> Repository.unwrap

let private request name input tree =
    { Name = name
      Tree = tree
      Input = input
      Layer = None
      Samples = 8
      PerPass = 8
      Seed = 1L
      Source = Gaussian
      Weights = FreshPerSample
      CropToField = true }

let private maxDifference (a: float[,]) (b: float[,]) =
    Seq.zip (Seq.cast<float> a) (Seq.cast<float> b) |> Seq.map (fun (x, y) -> abs (x - y)) |> Seq.max

let private peak (a: float[,]) = Seq.cast<float> a |> Seq.max

let private machinery =
    testList "batching" [
        test "a widened network's copies each compute exactly what the original computes" {
            let tree = node "conv(3, 4, padding=1) >> groupnorm(2) >> relu >> residual(dwconv(3, padding=1) >> layernorm >> conv(1, 4)) >> maxpool(2)"
            let input = Spatial (2, 12, 12)
            let copies = 3
            use single = Network.ofNode "single" input tree |> Repository.unwrap
            use wide = Network.ofNode "wide" (Widen.input copies input) (Widen.node copies tree |> Result.defaultWith failtest) |> Repository.unwrap
            constantWeights single
            constantWeights wide
            use _ = torch.NewDisposeScope()
            use _ = torch.no_grad ()
            let x = torch.rand (Array.append [| 1L |] (dims input))
            let expected = single.forward x
            let actual = wide.forward (x.repeat (1L, int64 copies, 1L, 1L))
            for k in 0 .. copies - 1 do
                let copy = actual.narrow (1L, int64 (k * 4), 4L)
                Expect.isTrue (torch.allclose (copy, expected, rtol = 1e-5, atol = 1e-6)) $"copy {k} equals the original"
        }
        test "concat and sepconv cannot be widened, and then each initialisation gets its own pass" {
            Expect.isError (Widen.node 2 (node "concat(conv(1, 2), conv(3, 2, padding=1))")) "concat"
            Expect.isError (Widen.node 2 (node "sepconv(3, 4)")) "sepconv"
            let map = measure { request "t" (Spatial (1, 9, 9)) (node "concat(conv(1, 2), conv(3, 2, padding=1)) >> conv(3, 2, padding=1)") with Samples = 2; PerPass = 2 }
            Expect.isSome map.Unbatched "reported as unbatched"
        }
        test "shared weights: the batched pass gives the per-sample loop's map" {
            let tree = node "conv(3, 6, padding=1) >> bn >> relu >> conv(3, 6, stride=2) >> relu >> dropout(0.0) >> conv(3, 4, padding=1)"
            let input = Spatial (2, 15, 15)
            torch.manual_seed 3L |> ignore
            use reference = Network.ofNode "t" input tree |> Repository.unwrap
            let state = reference.state_dict ()
            let shared = Shared (fun m -> m.load_state_dict state |> ignore; Ok ())
            let images = Images (randomImages 6 (2, 15, 15))
            let batched = measure { request "t" input tree with Samples = 6; PerPass = 6; Source = images; Weights = shared }
            let looped = measure { request "t" input tree with Samples = 6; PerPass = 1; Source = images; Weights = shared }
            Expect.isLessThan (maxDifference batched.Values looped.Values) (1e-5 * peak looped.Values) "same map"
        }
        test "the unit's cone (the network up to its layer, on the input window it sees) gives the whole image's map" {
            let tree =
                node "conv(3, 6, padding=1) >> bn >> relu >> maxpool(3, stride=2, padding=1, ceil=true) >> residual(conv(3, 6, padding=1) >> relu) >> conv(3, 8, stride=2) >> relu >> mid: conv(3, 8, padding=1) >> relu >> conv(3, 8, stride=2, padding=1) >> gavgpool >> flatten >> dense(3)"
            let input = Spatial (2, 37, 41)
            torch.manual_seed 5L |> ignore
            use reference = Network.ofNode "t" input tree |> Repository.unwrap
            let state = reference.state_dict ()
            let shared = Shared (fun m -> m.load_state_dict state |> ignore; Ok ())
            let images = Images (randomImages 4 (2, 37, 41))
            for weights, source, perPass in [ shared, images, 4; FreshPerSample, Gaussian, 4; FreshPerSample, Gaussian, 1 ] do
                let asked = { request "t" input tree with Layer = Some "mid"; Samples = 4; PerPass = perPass; Source = source; Weights = weights }
                let cone = measure asked
                let whole = measure { asked with CropToField = false }
                Expect.equal (cone.Crop |> Option.map (fun c -> c.Rows)) (Some (8, 21)) "rows 8..28: the field, from a multiple of the stride 4"
                Expect.isNone whole.Crop "the simple path runs the whole image"
                Expect.isGreaterThan (peak whole.Values) 0.0 "a gradient reached the input"
                Expect.isLessThan (maxDifference cone.Values whole.Values) (1e-5 * peak whole.Values) "same map"
        }
        test "layers that read the whole map (normalisation over it, dropout's masks) keep the whole image" {
            for middle in [ "groupnorm(2)"; "layernorm"; "dropout(0.1)" ] do
                let tree = node $"conv(3, 4, padding=1) >> {middle} >> conv(3, 4, padding=1) >> relu >> conv(3, 4, padding=1)"
                let map = measure { request "t" (Spatial (1, 21, 21)) tree with Samples = 2; PerPass = 2 }
                Expect.isNone map.Crop $"{middle}: no crop"
        }
        test "images whose shape is not the network's input are an error with a hint" {
            let result = Erf.measure { request "t" (Spatial (3, 9, 9)) (node "conv(3, 2)") with Source = Images (randomImages 8 (1, 9, 9)) }
            match result with
            | Error d -> Expect.equal d.Hint (Some "pass --input 1,9,9") "hint"
            | Ok _ -> failtest "accepted"
        }
    ]

/// The per-axis distribution of n stacked uniform boxes of width k: the n-fold convolution.
let private boxConvolution n k =
    let box = Array.create k (1.0 / float k)
    let convolve (a: float[]) (b: float[]) =
        Array.init (a.Length + b.Length - 1) (fun i -> Seq.sum (seq { for j in max 0 (i - b.Length + 1) .. min i (a.Length - 1) -> a[j] * b[i - j] }))
    Seq.fold (fun acc _ -> convolve acc box) [| 1.0 |] (seq { 1..n })

let private growth family depths samples = Growth.measure family depths samples 1L |> Repository.unwrap

let private plainCurve = lazy (growth Family.Plain [ 8; 16; 32 ] 16)
let private at family depth samples = Growth.at family samples 1L depth |> Repository.unwrap

let private plain16 = lazy (at Family.Plain 16 32)
let private spreadAt depth (curve: GrowthCurve) = (curve.Points |> List.find (fun p -> p.Depth = depth)).Spread

let private claims =
    testList "Luo et al. 2016" [
        test "uniform weights: 40 stacked 3×3 boxes give the exact 40-fold box convolution, variance 26.667 per axis" {
            let n = 40
            let tree = List.init n (fun _ -> node "conv(3, 1, bias=false)") |> List.reduce Combinators.(-->)
            let uniform = Shared (fun m -> constantWeights m; Ok ())
            let map = measure { request "box" (Spatial (1, 81, 81)) tree with Samples = 1; PerPass = 1; Weights = uniform }
            let axis = boxConvolution n 3
            let exact = Array2D.init 81 81 (fun r c -> axis[r] * axis[c])
            Expect.isLessThan (maxDifference map.Values exact) (1e-5 * peak exact) "the map is the product of the 1-D distributions"
            let moments = ErfStats.moments map.Values
            let expected = float n * (3.0 * 3.0 - 1.0) / 12.0
            Expect.floatClose { absolute = 0.0; relative = 1e-4 } moments.VarianceRow expected "row variance n(k² − 1)/12"
            Expect.floatClose { absolute = 0.0; relative = 1e-4 } moments.VarianceColumn expected "column variance n(k² − 1)/12"
        }
        test "random weights: the ERF is Gaussian (fit R² ≥ 0.95)" {
            let point = plain16.Value
            Expect.isGreaterThanOrEqual point.RSquared 0.95 $"R² at depth 16 over 32 initialisations: {point.RSquared}"
        }
        test "ERF/TRF falls like 1/√n: log-log slope −0.5 ± 0.1" {
            let curve = plainCurve.Value
            Expect.isLessThan (abs (curve.RatioSlope + 0.5)) 0.1 $"slope {curve.RatioSlope} over depths 8, 16, 32"
        }
        test "subsampling and dilation enlarge the ERF" {
            let plain = spreadAt 8 plainCurve.Value
            for family in [ Family.Strided; Family.Dilated ] do
                let other = (at family 8 8).Spread
                Expect.isGreaterThan other (1.5 * plain) $"{Growth.name family} spread {other} vs plain {plain} at depth 8"
        }
        test "skip connections shrink the ERF" {
            let plain = spreadAt 16 plainCurve.Value
            let residual = (at Family.Residual 16 8).Spread
            Expect.isLessThan residual (0.75 * plain) $"residual spread {residual} vs plain {plain} at depth 16"
        }
        test "dropout leaves the shape unchanged: still Gaussian, same spread within 5 %" {
            let plain = plain16.Value
            let dropout = at Family.Dropout 16 32
            Expect.isGreaterThanOrEqual dropout.RSquared 0.95 $"R² {dropout.RSquared}"
            Expect.isLessThan (abs (dropout.Spread / plain.Spread - 1.0)) 0.05 $"spread {dropout.Spread} vs {plain.Spread}"
        }
    ]

/// √ of the mean per-axis variance of a map: the growth curves' spread.
let private spread (map: ErfMap) =
    let moments = ErfStats.moments map.Values
    sqrt ((moments.VarianceRow + moments.VarianceColumn) / 2.0)

/// Luo et al. §4: training enlarges the ERF. Examples/fields/mnistplain10.rcp (ten 3×3 conv–batchnorm–ReLU
/// layers, a 21-pixel field inside the 28×28 digit) trained for 2 epochs on MNIST with `receptor train`'s
/// defaults; both maps over the same 200 noise images (on MNIST itself a fresh batchnorm passes no
/// gradient through the zero background: docs/fields.md).
let private training =
    test "training on MNIST enlarges the ERF: spread on noise, trained against the same initial weights" {
        let train, test =
            Mnist.load (Mnist.defaultDirectory ())
            |> Result.defaultWith (fun e -> failtest $"{e}\nscripts/test.sh fetches MNIST first: receptor data fetch mnist")
        let path = IO.Path.Combine (Repository.root.Value, "Examples", "fields", "mnistplain10.rcp")
        let program = Parser.parseProgram path (IO.File.ReadAllText path) |> Repository.unwrap
        let tree = Expand.program program |> Repository.unwrap
        let options = { TrainOptions.defaults with Epochs = 2; Device = Cpu; Seed = 1 }
        use network = Trainer.compile options.Seed program |> Repository.unwrap
        let snapshot () =
            let copy = Collections.Generic.Dictionary<string, torch.Tensor>()
            for entry in network.state_dict () do
                copy[entry.Key] <- entry.Value.detach().clone ()
            Shared (fun m -> m.load_state_dict copy |> ignore; Ok ())
        let initial = snapshot ()
        Trainer.train options None network train ignore |> Result.defaultWith failtest |> ignore
        let accuracy = (Trainer.evaluate network test |> Result.defaultWith failtest).Accuracy
        Expect.isGreaterThanOrEqual accuracy 0.9 "trained"
        let erf weights = measure { request program.Name program.Input tree with Samples = 200; PerPass = 200; Weights = weights }
        let before, after = spread (erf initial), spread (erf (snapshot ()))
        Expect.isGreaterThan after (1.05 * before) $"spread {before:F3} px at initialisation, {after:F3} px trained (test accuracy {accuracy:P1})"
    }

let tests: Test =
    testList "fields" [
        theoretical
        statistics
        testSequenced (testList "torch" [ machinery; claims; training ])
    ]
