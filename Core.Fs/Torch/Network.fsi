/// The compiler: a checked tree becomes one TorchSharp module whose parameter names follow layer paths
/// and whose forward pass is one fold over the tree.
namespace Receptor.Core.Torch

open TorchSharp
open Receptor.Dsl

/// Called with each node's path and output during an observed forward pass.
type Observer = string -> torch.Tensor -> unit

/// A compiled network: one TorchSharp module holding every layer's module, registered under its layer path
/// (`a/b/c` becomes `a.b.c`), so that parameter names and checkpoints follow the tree. Made by `Compile`.
[<Class>]
type Network =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>

    /// The input shape the network was compiled for.
    member Input: Shape

    /// The checked tree the network was compiled from.
    member Tree: Checked

    /// The learnable scalar α of the residual at `path` (an `add` of a shortcut and a body), which then
    /// computes shortcut(x) + α·s·body(x); created at 1 on first request and registered as `<path>.alpha`.
    /// The language's `scale=` is a constant, so SkipInit (De & Smith 2020), which starts α at 0, adds it
    /// here. The analysis does not count it among the parameters.
    member ResidualGain: path: string -> TorchSharp.Modules.Parameter

    /// Run 4-D inputs on the CPU in channels-last layout (default true). Only the layout of the
    /// intermediate tensors changes: values, shapes, parameters and gradients are the same, and a 4-D
    /// output is handed back contiguous. A training step of bench/smallcnn.rcp takes ~15% less CPU time
    /// this way (BENCHMARKS.md, "Training step"); set false to run everything in NCHW.
    member ChannelsLast: bool with get, set

    /// The forward pass: the fold over the tree, channels-last where ChannelsLast says so.
    override forward: x: torch.Tensor -> torch.Tensor

    /// A forward pass that reports every node's output to the observer. It runs in the input's own layout,
    /// so observers see the tensors as the layers produce them from a plain NCHW input.
    member Observe: x: torch.Tensor * observe: Observer -> torch.Tensor

    /// The sum of the penalties of the modules that carry one (ILossTerm), in module order; a zero scalar
    /// when none does.
    member ComplexityPenalty: unit -> torch.Tensor

    /// Compiles a checked tree, or says which layer has no TorchSharp rule.
    static member Compile: name: string * tree: Checked * input: Shape -> Result<Network, Diagnostic>

/// Compiling expressions and programs, and counting what a network holds.
module Network =
    /// Parses nothing: compiles an expression that needs no blocks.
    val ofNode: name: string -> input: Shape -> node: Node -> Result<Network, Diagnostic>

    /// Checks a program's shapes and compiles it under the program's name and input.
    val ofProgram: program: Program -> Result<Network, Diagnostic>

    /// Learnable parameters actually held by the module.
    val parameterCount: network: Network -> int64
