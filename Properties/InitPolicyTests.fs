/// The edge of chaos against known values and a Monte-Carlo check through TorchSharp's autograd; Fixup,
/// SkipInit and the residual policies measured against what each promises; `receptor eoc` and
/// `receptor init --plot` end to end.
module Receptor.Properties.InitPolicyTests

open System
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch
open Receptor.Core.Signal
open Receptor.Cli.Commands
open Receptor.Core.Reporting

let private close tolerance expected actual message =
    Expect.isLessThanOrEqual (abs (actual - expected)) tolerance $"{message}: expected {expected}, got {actual}"

let private activation text =
    match EdgeOfChaos.parseActivation text with
    | Ok a -> a
    | Error d -> failtest (Diagnostic.format d)

let private criticalOf text biasSd =
    match EdgeOfChaos.critical (activation text) biasSd with
    | EdgeOfChaos.Critical (w, q) -> w, q
    | EdgeOfChaos.NoCritical reason -> failtest $"{text}: no critical point: {reason}"

/// χ₁ and the variance map at √q·z measured with TorchSharp: φ from the compiled `act` module, φ′ from
/// autograd, on a million draws of z.
let private monteCarlo (text: string) (weightSd: float) (biasSd: float) (q: float) =
    use _ = torch.NewDisposeScope ()
    torch.manual_seed 7L |> ignore
    use network = Network.ofNode "phi" (Flat 1) (Parser.parseNode text |> Repository.unwrap) |> Repository.unwrap
    let z: torch.Tensor = torch.randn ([| 1_000_000L; 1L |], torch.float64)
    let x = (z * sqrt q).to_type(torch.float32).requires_grad_ ()
    let y: torch.Tensor = network.forward x
    let slope = (torch.autograd.grad ([| y.sum () |], [| x |])).[0]
    let meanSquare (t: torch.Tensor) = t.square().mean().to_type(torch.float64).item<float> ()
    let w2 = weightSd * weightSd
    w2 * meanSquare slope, w2 * meanSquare y + biasSd * biasSd

let private eocTests =
    testList "edge of chaos" [
        test "tanh with σ_b = 0 is critical at σ_w = 1, where q* = 0" {
            let w, q = criticalOf "tanh" 0.0
            close 1e-4 1.0 w "σ_w"
            close 1e-4 0.0 q "q*"
        }
        test "the ReLU family with σ_b = 0 is critical at σ_w = √(2/(1 + α²))" {
            close 1e-7 (sqrt 2.0) (fst (criticalOf "relu" 0.0)) "relu"
            close 1e-7 (sqrt (2.0 / (1.0 + 0.25 ** 2.0))) (fst (criticalOf "prelu(0.25)" 0.0)) "prelu(0.25)"
            close 1e-7 (sqrt (2.0 / (1.0 + 0.1 ** 2.0))) (fst (criticalOf "leaky(0.1)" 0.0)) "leaky(0.1)"
        }
        test "ReLU with σ_b > 0 has no edge of chaos: q* diverges as χ₁ reaches 1" {
            match EdgeOfChaos.critical (activation "relu") 0.1 with
            | EdgeOfChaos.NoCritical reason -> Expect.stringContains reason "without bound" "the reason"
            | EdgeOfChaos.Critical (w, q) -> failtest $"found σ_w = {w}, q* = {q}"
        }
        test "tanh's χ₁ grows like σ_w·(4/3)/√(2π) for large σ_w, where q* → σ_w² (E[tanh′(√q z)²] → (4/3)φ(0)/√q)" {
            for w in [ 6.0; 8.0; 10.0 ] do
                match EdgeOfChaos.fixedPoint (activation "tanh") w 0.0 with
                | EdgeOfChaos.Converges q -> close (0.03 * w) (w * w * (4.0 / 3.0) / sqrt (2.0 * Math.PI * q)) (EdgeOfChaos.chi (activation "tanh") w q) $"σ_w {w}"
                | EdgeOfChaos.Diverges -> failtest $"diverges at σ_w {w}"
        }
        test "tanh's critical σ_w grows with σ_b (Schoenholz et al. 2017, Fig. 1)" {
            let ws = [ 0.05; 0.3; 1.0 ] |> List.map (fun b -> fst (criticalOf "tanh" b))
            Expect.isTrue (ws |> List.pairwise |> List.forall (fun (a, b) -> b > a + 0.01)) $"increasing: {ws}"
        }
        test "the fixed point is one: q* = σ_w² E[φ(√q* z)²] + σ_b²" {
            for text in [ "tanh"; "gelu"; "sigmoid"; "elu"; "act(x * sigmoid(b * x), b=1.5)" ] do
                // Unbounded activations grow like ReLU: their variance map diverges beyond σ_w ≈ √2.
                for w, b in [ 0.8, 0.2; 1.2, 0.1; 1.35, 0.5 ] do
                    match EdgeOfChaos.fixedPoint (activation text) w b with
                    | EdgeOfChaos.Converges q -> close (1e-9 * max q 1.0) q (EdgeOfChaos.next (activation text) w b q) $"{text} at σ_w {w}, σ_b {b}"
                    | EdgeOfChaos.Diverges -> failtest $"{text} diverges at σ_w {w}, σ_b {b}"
        }
        testSequenced <| test "χ₁ and q* of an act expression agree with a Monte-Carlo estimate through autograd" {
            let text = "act(tanh(b * x) + 0.3 * x * gauss(x), b=1.2)"
            let phi = activation text
            // σ_w = 6 puts q* near 36, where φ′² is a narrow bump in units of √q*.
            for w, b in [ 1.7, 0.2; 2.2, 0.0; 6.0, 0.3 ] do
                match EdgeOfChaos.fixedPoint phi w b with
                | EdgeOfChaos.Converges q ->
                    let chi, mapped = monteCarlo text w b q
                    close (0.01 * EdgeOfChaos.chi phi w q) (EdgeOfChaos.chi phi w q) chi $"χ₁ at σ_w {w}, σ_b {b}"
                    close (0.01 * q) q mapped $"q* mapped to itself at σ_w {w}, σ_b {b}"
                | EdgeOfChaos.Diverges -> failtest $"diverges at σ_w {w}"
            let w, q = criticalOf text 0.1
            close 0.01 1.0 (fst (monteCarlo text w 0.1 q)) "χ₁ = 1 at the critical σ_w"
        }
    ]

let private run (command: IO.TextWriter -> IO.TextWriter -> int) =
    use output = new IO.StringWriter ()
    use error = new IO.StringWriter ()
    let code = command output error
    code, output.ToString (), error.ToString ()

let private temporary name = IO.Path.Combine (IO.Path.GetTempPath (), $"receptor-{Environment.ProcessId}-{name}")

/// A PNG's signature and its width and height from the IHDR chunk.
let private pngSize (path: string) =
    let bytes = IO.File.ReadAllBytes path
    let signature = [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |]
    Expect.sequenceEqual bytes[0..7] signature "PNG signature"
    let bigEndian offset = (int bytes[offset] <<< 24) ||| (int bytes[offset + 1] <<< 16) ||| (int bytes[offset + 2] <<< 8) ||| int bytes[offset + 3]
    bigEndian 16, bigEndian 20

let private eocCommandTests =
    testList "receptor eoc" [
        test "prints the critical σ_w, a table of q* and χ₁, and writes the plot" {
            let png = temporary "eoc.png"
            let code, output, error = run (fun o e -> Eoc.run o e { Eoc.defaults with Activation = "tanh"; SigmaW = Some 1.25; Plot = Some png })
            Expect.equal code 0 $"exit code ({error})"
            Expect.stringContains output "edge of chaos at σ_w = 1.0000" "the critical σ_w"
            Expect.stringContains output "1.2500" "the requested σ_w"
            Expect.equal (pngSize png) Figures.size "a PNG of the figure's size"
        }
        test "ReLU with a bias says that there is no edge of chaos" {
            let code, output, _ = run (fun o e -> Eoc.run o e { Eoc.defaults with Activation = "relu"; SigmaB = 0.1 })
            Expect.equal code 0 "exit code"
            Expect.stringContains output "no edge of chaos" "the message"
        }
        test "bad activations exit 2 with a message" {
            for text, expected in
                [ "conv(3, 8)", "not an activation"
                  "act(x * b)", "scalar 'b' has no initial value"
                  "tanh >> relu", "one activation"
                  "tanhh", "unknown layer" ] do
                let code, _, error = run (fun o e -> Eoc.run o e { Eoc.defaults with Activation = text })
                Expect.equal code 2 $"{text}: exit code"
                Expect.stringContains error expected $"{text}: message"
            let code, _, error = run (fun o e -> Eoc.run o e { Eoc.defaults with Activation = "tanh"; SigmaB = -1.0 })
            Expect.equal code 2 "negative σ_b"
            Expect.stringContains error "--sigma-b" "names the option"
        }
    ]

let private tree (input: Shape) (text: string) = Shapes.checkNode input (Parser.parseNode text |> Repository.unwrap) |> Repository.unwrap

/// A stack of residual blocks on 64 features; a repeat at the root names its blocks 1, 2, …
let private stack depth body = tree (Flat 64) $"repeat({depth}, residual({body}))"

/// Initialises a tree under a method and an optional policy and measures every node over seeds in training
/// mode, with the network at hand for further checks.
let private measureWith (method: Initialisers.Method) policy (input: Shape) (tree: Checked) (inspect: Network -> unit) =
    let threads = torch.get_num_threads ()
    torch.set_num_threads 1
    try
        let applied =
            match policy with
            | Some p -> ResidualPolicies.apply p method input None tree |> Repository.unwrap
            | None -> { Tree = tree; Scaling = Residuals.unscaled }
        use network = Network.Compile ("t", applied.Tree, input) |> Repository.unwrap
        let prepared = Initialisers.prepareScaled method applied.Scaling None network |> Repository.unwrap
        let prepare seed =
            torch.manual_seed (int64 seed) |> ignore
            prepared.Draw (Measurement.gaussianBatch network 256) |> Repository.unwrap
            Measurement.gaussianBatch network 256
        let measured = Measurement.measure network [ 1 .. 8 ] prepare
        inspect network
        measured |> List.map (fun m -> m.Path, m.Variance) |> Map.ofList, prepared.Plan
    finally
        torch.set_num_threads threads

let private he = Initialisers.He (Initialisers.FanIn, Initialisers.Normal)

let private parameter (network: Network) name =
    network.named_parameters () |> Seq.tryPick (fun struct (n, p) -> if n = name then Some p else None) |> Option.get

let private residualTests =
    testSequenced
    <| testList "residual initialisation" [
        test "Fixup zeroes each body's last layer and the classifier, scales the others by L^(−1/(2m−2))" {
            let t = tree (Flat 64) "repeat(4, residual(dense(64) >> relu >> dense(64) >> relu >> dense(64))) >> dense(10)"
            let variances, plan =
                measureWith (Initialisers.Fixup Initialisers.Normal) None (Flat 64) t (fun network ->
                    let std name = (parameter network name).std().item<float32> () |> float
                    for block in 1 .. 4 do
                        // L = 4 bodies of m = 3 layers: standard deviation × 4^(−1/4) on He's √(2/64).
                        close 0.02 (sqrt (2.0 / 64.0) * 4.0 ** -0.25) (std $"repeat.{block}.body.dense1.weight") $"block {block} first layer"
                        Expect.equal (std $"repeat.{block}.body.dense3.weight") 0.0 $"block {block} last layer"
                    Expect.equal ((parameter network "dense.weight").abs().max().item<float32> ()) 0.0f "classifier")
            for block in 1 .. 4 do
                close (0.1 * variances["repeat/1"]) variances["repeat/1"] variances[$"repeat/{block}"] $"block {block} passes its input on"
            Expect.equal variances["dense"] 0.0 "the classifier's output"
            Expect.isTrue (plan.Layers |> List.exists (fun (l, v) -> l.Path = "repeat/2/body/dense3" && v.Weight = 0.0)) "the plan zeroes it too"
        }
        test "SkipInit adds a learnable α = 0 per residual: blocks start as the identity and α gets a gradient" {
            let t = stack 6 "dense(64) >> relu >> dense(64)"
            let input = torch.randn (32L, 64L)
            measureWith (Initialisers.SkipInit Initialisers.Normal) None (Flat 64) t (fun network ->
                let alphas = network.named_parameters () |> Seq.filter (fun struct (n, _) -> n.EndsWith ".alpha") |> Seq.toList
                Expect.equal alphas.Length 6 "one α per residual"
                for struct (name, alpha) in alphas do
                    Expect.equal (alpha.item<float32> ()) 0.0f $"{name} starts at 0"
                let output = network.forward input
                Expect.isLessThan (((output - input).abs().max()).item<float32> ()) 1e-6f "the network is the identity"
                output.square().sum().backward ()
                let struct (_, first) = alphas.Head
                Expect.isGreaterThan ((first.grad.abs ()).item<float32> ()) 0.0f "α learns")
            |> ignore
        }
        test "sqrt-n divides the variance after 8 sums of two uncorrelated branches by 2⁸" {
            let t = stack 8 "dense(64) >> relu >> dense(64)"
            let plain, _ = measureWith he None (Flat 64) t ignore
            let scaled, predicted = measureWith he (Some ResidualPolicies.SqrtN) (Flat 64) t ignore
            let ratio = plain["8"] / scaled["8"]
            Expect.isGreaterThan ratio (0.8 * 256.0) $"ratio {ratio}"
            Expect.isLessThan ratio (1.25 * 256.0) $"ratio {ratio}"
            let last = predicted.Nodes |> List.find (fun n -> n.Path = "8")
            close (0.15 * scaled["8"]) scaled["8"] last.Variance "predicted against measured"
        }
        test "restore keeps every sum's measured variance within 15% of 1, where He alone grows it 3× a block" {
            let t = stack 8 "dense(64) >> relu >> dense(64)"
            let plain, _ = measureWith he None (Flat 64) t ignore
            Expect.isGreaterThan plain["8"] 1000.0 "He alone explodes"
            let restored, _ = measureWith he (Some ResidualPolicies.Restore) (Flat 64) t ignore
            for block in 1 .. 8 do
                close 0.15 1.0 restored[$"{block}"] $"block {block}"
        }
        test "zero-gamma sets γ = 0 on each body's last norm only: every block starts as its shortcut" {
            let t = stack 5 "dense(64) >> bn >> relu >> dense(64) >> bn"
            let input = torch.randn (32L, 64L)
            let variances, _ =
                measureWith he (Some ResidualPolicies.ZeroGamma) (Flat 64) t (fun network ->
                    Expect.equal ((parameter network "3.body.batchnorm2.weight").abs().max().item<float32> ()) 0.0f "last norm's γ"
                    Expect.equal ((parameter network "3.body.batchnorm1.weight").min().item<float32> ()) 1.0f "first norm's γ"
                    Expect.isLessThan ((((network.forward input) - input).abs().max()).item<float32> ()) 1e-6f "identity")
            for block in 1 .. 5 do
                close 0.1 1.0 variances[$"{block}"] $"block {block} keeps the input's variance"
        }
        test "in-degree keeps the variance of sums of d He-initialised branches, which plain He multiplies by d" {
            let t = tree (Flat 64) "repeat(6, add(relu >> dense(64), relu >> dense(64), relu >> dense(64)))"
            let plain, _ = measureWith he None (Flat 64) t ignore
            let aware, _ = measureWith he (Some ResidualPolicies.InDegree) (Flat 64) t ignore
            // Per block, on average over five: one draw's variance fluctuates by ~1/√fan-in.
            let perBlock (v: Map<string, float>) = (v["6"] / v["1"]) ** (1.0 / 5.0)
            close 0.1 1.0 (perBlock aware) "in-degree"
            close 0.3 3.0 (perBlock plain) "plain He"
        }
    ]

let private stackProgram =
    lazy (
        let file = temporary "stack.rcp"
        IO.File.WriteAllText (file, "input(64)\nnetwork stack = dense(64) >> repeat(4, residual(dense(64) >> relu >> dense(64))) >> dense(10)\n")
        file)

let private plotTests =
    testSequenced
    <| testList "receptor init --plot" [
        test "writes a PNG of variance against depth for several methods" {
            let file = stackProgram.Value
            let png = temporary "depth.png"
            if IO.File.Exists png then IO.File.Delete png
            let options =
                { Init.defaults with
                    File = file
                    Seeds = 2
                    Batch = 16
                    Plot = Some png
                    Methods = "autoinit,he,fixup,skipinit"
                    Residual = None }
            let code, output, error = run (fun o e -> Init.run o e options)
            Expect.equal code 0 $"exit code ({error})"
            for name in [ "autoinit"; "he"; "fixup"; "skipinit" ] do
                Expect.stringContains output name $"a row for {name}"
            Expect.equal (pngSize png) Figures.size "a PNG of the figure's size"
        }
        test "an unknown method or residual policy exits 2" {
            let file = stackProgram.Value
            for options, expected in
                [ { Init.defaults with File = file; Plot = Some (temporary "x.png"); Methods = "he,magic" }, "unknown method"
                  { Init.defaults with File = file; Residual = Some "sqrt" }, "unknown residual policy" ] do
                let code, _, error = run (fun o e -> Init.run o e options)
                Expect.equal code 2 "exit code"
                Expect.stringContains error expected "message"
        }
    ]

let tests = testList "initialisation policies" [ eocTests; eocCommandTests; residualTests; plotTests ]
