/// TorchSharp's natives load on this machine (see build/TorchNative.targets) and autograd works on CPU.
module Receptor.Properties.TorchSmokeTests

open Expecto
open TorchSharp

let private finite (t: torch.Tensor) = torch.isfinite(t).all().item<bool>()

// Dispose scopes belong to one thread, so these run in sequence.
let tests: Test =
    testSequenced
    <| testList "torch" [
        test "TorchSharp loads and computes" {
            use _ = torch.NewDisposeScope()
            Expect.equal (torch.ones(2L, 2L).sum().item<float32>()) 4.0f "ones(2, 2).sum()"
        }
        test "conv2d forward and backward give finite gradients on CPU" {
            use _ = torch.NewDisposeScope()
            torch.manual_seed 1L |> ignore
            let input = torch.randn([| 4L; 3L; 16L; 16L |], requires_grad = true)
            use conv = torch.nn.Conv2d(3L, 8L, 3L, padding = 1L)
            let dilated = torch.randn([| 8L; 8L; 3L; 3L |], requires_grad = true)
            let output = torch.nn.functional.conv2d(torch.nn.functional.relu (conv.forward input), dilated, dilation = [| 2L; 2L |])
            Expect.equal output.shape [| 4L; 8L; 12L; 12L |] "output shape"
            output.square().mean().backward()
            for name, grad in [ "input", input.grad; "kernel", conv.weight.grad; "dilated kernel", dilated.grad ] do
                Expect.isTrue (finite grad) $"{name} gradient is finite"
                Expect.isGreaterThan (grad.abs().sum().item<float32>()) 0.0f $"{name} gradient is not zero"
        }
    ]
