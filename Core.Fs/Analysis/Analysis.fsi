/// Static analysis: one fold over the checked tree giving, per node and in total, the output shape,
/// parameters, multiply-accumulates, other FLOPs, activation memory and the theoretical receptive field.
namespace Receptor.Core

open Receptor.Dsl

/// One row of the analysis: a layer, or a merge of branches.
type NodeReport =
    { /// The node's layer path.
      Path: string
      /// The layer as written, or the merge's name.
      Op: string
      Output: Shape
      /// Learnable parameters.
      Parameters: int64
      /// Multiply-accumulates for one image.
      Macs: int64
      /// Floating-point operations other than the multiply-accumulates, for one image.
      Flops: int64
      /// Bytes of the node's float32 output for one image.
      Memory: int64
      /// The receptive field of the node's output units.
      Field: Field }

/// Paths into a merge whose fields disagree in stride or centre (see `Field.merge`).
type Misalignment = { Path: string; Message: string }

/// The sums of the nodes' counts.
type Totals = { Parameters: int64; Macs: int64; Flops: int64; Memory: int64 }

/// A network's analysis.
type AnalysisReport =
    { Name: string
      Input: Shape
      Output: Shape
      /// One row per layer and per merge, in evaluation order (a merge after its branches).
      Nodes: NodeReport list
      Totals: Totals
      /// The receptive field of the network's output units.
      Field: Field
      Misalignments: Misalignment list }

/// Analyses of checked trees, expressions and programs.
module Analysis =
    /// Analyses a checked tree whose input has the given shape, carrying the output shape and the receptive
    /// field forwards through it.
    val ofChecked: name: string -> input: Shape -> root: Checked -> AnalysisReport

    /// Checks an expression (`Shapes.checkNode`) and analyses it.
    val ofNode: name: string -> input: Shape -> node: Node -> Result<AnalysisReport, Diagnostic>

    /// Checks a program (`Shapes.checkProgram`) and analyses its network, named after the program.
    val ofProgram: program: Program -> Result<AnalysisReport, Diagnostic>

    /// Parses, checks and analyses a program text; `file` labels the diagnostics.
    val ofText: file: string -> text: string -> Result<AnalysisReport, Diagnostic>
