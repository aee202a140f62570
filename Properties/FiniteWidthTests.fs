/// Finite width: Wolinski & Arbel's pair of the arcsine activation and symmetric Weibull(2) weights keeps a
/// narrow deep network's pre-activations Gaussian, measured with TorchSharp over weight draws and inputs,
/// where ReLU with He's normal weights does not.
module Receptor.Properties.FiniteWidthTests

open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch
open Receptor.Core.Signal

/// The Kolmogorov–Smirnov distance of the standardised samples to N(0, 1).
let ksToNormal (samples: float[]) =
    let n = float samples.Length
    let mean = Array.average samples
    let sd = sqrt (samples |> Array.averageBy (fun x -> (x - mean) * (x - mean)))
    samples
    |> Array.map (fun x -> (x - mean) / sd)
    |> Array.sort
    |> Array.mapi (fun i x ->
        let f = Special.normalCdf x
        max (abs (float (i + 1) / n - f)) (abs (f - float i / n)))
    |> Array.max

/// The first unit's pre-activation at every depth of `repeat(depth, ACTIVATION >> dense(width))` on
/// standard-normal inputs, over `draws` weight draws of `method` × `inputs` inputs each.
let private preActivations (activation: string) (method: Initialisers.Method) depth width draws inputs =
    let text = $"input({width})\nnetwork narrow = repeat({depth}, {activation} >> dense({width}, bias=false))\n"
    let program = Parser.parseProgram "narrow.rcp" text |> Repository.unwrap
    use network = Network.ofProgram program |> Repository.unwrap
    let prepared = Initialisers.prepare method None network |> Repository.unwrap
    let samples = Array.init depth (fun _ -> ResizeArray<float> ())
    network.train ()
    use _ = torch.no_grad ()
    for seed in 1 .. draws do
        use _ = torch.NewDisposeScope ()
        torch.manual_seed (int64 seed) |> ignore
        let batch = torch.randn [| int64 inputs; int64 width |]
        prepared.Draw batch |> Repository.unwrap
        let mutable layer = 0
        network.Observe (batch, fun path output ->
            if path.EndsWith "dense" then
                for x in output.select(1L, 0L).to_type(torch.float64).data<float> () do samples[layer].Add x
                layer <- layer + 1)
        |> ignore
    samples |> Array.map (fun s -> ksToNormal (s.ToArray ()))

let tests =
    testSequenced
    <| testList "finite width" [
        test "arcsine with Weibull weights stays Gaussian at width 4 over 50 layers; ReLU with He does not" {
            // 2,000 draws × 5 inputs: the KS distance of 10,000 Gaussian samples exceeds 0.02 with probability
            // about 10⁻³; ReLU's pre-activations measured 0.29 by layer 5 and 0.5 by layer 50.
            let pair = preActivations "arcsine" (Initialisers.AutoInit (Exact, Initialisers.Weibull)) 50 4 2000 5
            let relu = preActivations "relu" (Initialisers.He (Initialisers.FanIn, Initialisers.Normal)) 50 4 2000 5
            // Beside them, for docs/initialisation.md's table: each half of the pair alone.
            let arcsineNormal = preActivations "arcsine" (Initialisers.AutoInit (Exact, Initialisers.Normal)) 50 4 2000 5
            let tanhNormal = preActivations "tanh" (Initialisers.AutoInit (Exact, Initialisers.Normal)) 50 4 2000 5
            for name, distances in
                [ "arcsine, Weibull(2) weights", pair; "arcsine, normal weights", arcsineNormal
                  "tanh, normal weights", tanhNormal; "ReLU, He's normal weights", relu ] do
                let at = [ 1; 5; 10; 20; 30; 50 ] |> List.map (fun l -> sprintf "%.3f" distances[l - 1]) |> String.concat " | "
                printfn "| %s | %s |" name at
            pair |> Array.iteri (fun i d -> Expect.isLessThan d 0.03 $"arcsine + weibull: KS distance at layer {i + 1}")
            Expect.isGreaterThan relu[49] 0.2 "relu + he: KS distance at layer 50"
            Expect.isGreaterThan relu[49] (10.0 * Array.max pair) "relu's drift against the pair's worst layer"
        }
        test "a depthwise convolution's output kurtosis over the draws is the plan's: 15/9 after a ReLU, a wide one's near 0" {
            // Interior outputs of dwconv(3) and of conv(3, 16) on relu(N(0, 1)), over 400 draws × 4 inputs.
            let excessKurtosis text =
                let program = Parser.parseProgram "k.rcp" $"input(16, 10, 10)\nnetwork k = relu >> {text}\n" |> Repository.unwrap
                use network = Network.ofProgram program |> Repository.unwrap
                let prepared = Initialisers.prepare (Initialisers.AutoInit (Exact, Initialisers.Normal)) None network |> Repository.unwrap
                let samples = ResizeArray<float> ()
                network.train ()
                use _ = torch.no_grad ()
                for seed in 1 .. 400 do
                    use _ = torch.NewDisposeScope ()
                    torch.manual_seed (int64 seed) |> ignore
                    let batch = torch.randn [| 4L; 16L; 10L; 10L |]
                    prepared.Draw batch |> Repository.unwrap
                    let output = network.forward batch
                    samples.AddRange (output.narrow(2L, 1L, 8L).narrow(3L, 1L, 8L).to_type(torch.float64).data<float> ())
                let xs = samples.ToArray ()
                let mean = Array.average xs
                let second = xs |> Array.averageBy (fun x -> (x - mean) ** 2.0)
                let fourth = xs |> Array.averageBy (fun x -> (x - mean) ** 4.0)
                fourth / (second * second) - 3.0, (prepared.Plan.Layers |> List.head |> fst).Kurtosis
            let measuredDepthwise, plannedDepthwise = excessKurtosis "dwconv(3, padding=1, bias=false)"
            let measuredWide, plannedWide = excessKurtosis "conv(3, 16, padding=1, bias=false)"
            Expect.floatClose { absolute = 1e-6; relative = 1e-3 } plannedDepthwise (15.0 / 9.0) "planned: 3·(E[x⁴]/E[x²]² − 1)/9 with E[x⁴] = 3/2, E[x²] = 1/2"
            Expect.floatClose { absolute = 0.3; relative = 0.0 } measuredDepthwise plannedDepthwise "measured against planned, depthwise"
            Expect.isLessThan plannedWide 0.15 "a 3×3 convolution of 16 channels"
            Expect.floatClose { absolute = 0.15; relative = 0.0 } measuredWide plannedWide "measured against planned, wide"
        }
        test "a Weibull draw has the planned variance and the symmetric Weibull(2) law's shape" {
            use _ = torch.NewDisposeScope ()
            let program = Parser.parseProgram "wide.rcp" "input(400)\nnetwork wide = dense(400, bias=false)\n" |> Repository.unwrap
            use network = Network.ofProgram program |> Repository.unwrap
            let prepared = Initialisers.prepare (Initialisers.AutoInit (Exact, Initialisers.Weibull)) None network |> Repository.unwrap
            torch.manual_seed 7L |> ignore
            prepared.Draw (torch.randn [| 2L; 400L |]) |> Repository.unwrap
            let weights = (network.parameters () |> Seq.head).detach().to_type(torch.float64).data<float>().ToArray ()
            let planned = (prepared.Plan.Layers |> List.head |> snd).Weight
            let variance = weights |> Array.averageBy (fun w -> w * w)
            Expect.floatClose { absolute = 0.0; relative = 0.02 } variance planned "E[w²] against the plan (160,000 draws)"
            // Symmetric Weibull(2): the mean |w| is Γ(3/2) = 0.886 times the root mean square, the normal's 0.798.
            let meanAbs = weights |> Array.averageBy abs
            Expect.floatClose { absolute = 0.0; relative = 0.01 } (meanAbs / sqrt variance) 0.886226925 "E|w|/√E[w²]"
        }
    ]
