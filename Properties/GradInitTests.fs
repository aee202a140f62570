/// GradInit: the gradient-norm constraint holds after it, the learnt scales lower its objective on held-out
/// batches, it leaks no tensors, and a seed fixes what it learns.
module Receptor.Properties.GradInitTests

open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Training
open Receptor.Core.Signal

let private small bias =
    sprintf
        "input(1, 16, 16)\nnetwork small = conv(3, 8, stride=2, padding=1, bias=%b) >> relu >> conv(3, 8, padding=1, bias=%b) >> relu >> conv(3, 8, padding=1, bias=%b) >> relu >> gavgpool >> flatten >> dense(10, bias=%b)\n"
        bias bias bias bias

let private data = Synthetic.blobs 5 480 10 16

let private compiledWith bias seed =
    Parser.parseProgram "small.rcp" (small bias) |> Result.bind (Trainer.compile seed) |> Repository.unwrap

let private compiled = compiledWith true

let private settings = { GradInit.defaults data with Iterations = 40; HalfBatch = 16; Seed = 2 }

/// Pairs of index batches that GradInit's own order does not favour: consecutive blocks of 32 images.
let private heldOut count = [ for k in 0 .. count - 1 -> Array.init 32 (fun i -> 64 * k + i), Array.init 32 (fun i -> 64 * k + 32 + i) ]

let private unwrapText result =
    match result with
    | Ok value -> value
    | Error (message: string) -> failtest message

let private median (xs: float list) = (List.sort xs)[xs.Length / 2]

let private live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount

let tests =
    testSequenced
    <| testList "gradinit" [
        test "the gradient-norm constraint holds after GradInit: held-out gradient norms end near γ from twice above it" {
            // No biases: GradInit cannot scale a tensor of zeros, so the gradient of zero-initialised biases
            // would put a floor under the norm that no scale reaches.
            use network = compiledWith false 1
            let norms () = heldOut 6 |> List.map (fun (a, b) -> GradInit.gradientNorm settings network (Array.append a b) |> unwrapText)
            let before = median (norms ())
            let gamma = before / 2.0
            // A faster learning rate for the scales than the reference's, so that 60 iterations can halve the norm.
            let report = GradInit.learn { settings with Gamma = gamma; LearningRate = 0.05; Iterations = 60 } network |> unwrapText
            let after = median (norms ())
            Expect.isGreaterThan report.ConstraintSteps 0 "the constraint was active"
            Expect.isLessThanOrEqual after (1.25 * gamma) $"median held-out gradient norm {after:g} against γ = {gamma:g} (before {before:g})"
            Expect.isGreaterThanOrEqual (report.Scales |> List.filter (fun (name, _) -> name.EndsWith "weight") |> List.map snd |> List.min) settings.MinScale "weights' scales above the floor"
        }
        test "the learnt scales lower the post-step loss on held-out second batches" {
            use network = compiled 1
            let unconstrained = { settings with Gamma = infinity; Iterations = 60 }
            let objective () = heldOut 6 |> List.averageBy (fun (a, b) -> GradInit.postStepLoss unconstrained network a b |> unwrapText)
            let before = objective ()
            let report = GradInit.learn unconstrained network |> unwrapText
            let after = objective ()
            Expect.equal report.ConstraintSteps 0 "no constraint with γ = ∞"
            Expect.isLessThan after before "mean loss after one step from the learnt scales"
        }
        test "a seed fixes the learnt scales" {
            let learnt () =
                use network = compiled 3
                (GradInit.learn { settings with Iterations = 10 } network |> unwrapText).Scales
            Expect.equal (learnt ()) (learnt ()) "scales of two runs from the same seeds"
        }
        test "no tensor leaks: GradInit as an initialiser, drawn twice, leaves the live count where it was" {
            use network = compiled 4
            let method = Initialisers.GradInit (Initialisers.He (Initialisers.FanIn, Initialisers.Normal), { settings with Iterations = 10 })
            let prepared = Initialisers.prepare method None network |> Repository.unwrap
            use batch = torch.zeros (2L, 1L, 16L, 16L)
            let start = live ()
            for _ in 1 .. 2 do
                prepared.Draw batch |> Repository.unwrap
            Expect.equal (live ()) start $"live tensors ({DisposeScopeManager.Statistics})"
        }
    ]
