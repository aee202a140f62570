/// Shape checking: unrolls repeats and infers C×H×W at every node of an expanded tree, producing the
/// checked tree. Errors name the layer path.
module Receptor.Dsl.Shapes

open Receptor.Dsl

/// A repeat count above this is taken for a mistake rather than a network.
val maxRepeat: int

/// More layers than this, once repeats are unrolled, are taken for a mistake rather than a network.
val maxLayers: int

/// Checks an expression against an input shape: block parameters in it must already be bound (arithmetic on
/// constants is evaluated) and a block call is an error. Each layer's arguments are checked against its kind's
/// signature and its facts (output shape, parameters, MACs, FLOPs, field step) computed; repeats are unrolled
/// (copies `1`, `2`, …) and a residual becomes the merge `add(shortcut, scale · body)`. The first error is
/// returned, at its layer path.
val checkNode: input: Shape -> node: Node -> Result<Checked, Diagnostic>

/// Checks a whole program: its blocks are instantiated at their calls, then the network is checked on the
/// program's input as `checkNode` checks an expression.
val checkProgram: program: Program -> Result<Checked, Diagnostic>
