/// The checked tree: blocks instantiated, repeats unrolled, residuals desugared to weighted sums, and
/// every layer annotated with its path, input shape and facts. Later passes fold over this tree.
namespace Receptor.Dsl

type CheckedLayer =
    { Path: string
      /// The layer with every block parameter substituted.
      Layer: Layer
      Kind: LayerKind
      Args: Args
      Input: Shape
      Facts: LayerFacts }

    /// The window of a windowed layer, resolved when it was checked. Asking a kind without one is a bug.
    member layer.Window =
        match layer.Facts.Geometry with
        | Some g -> g
        | None -> invalidOp (sprintf "%s: a %s layer has no window" layer.Path layer.Kind.Name)

type CheckedMerge =
    { Path: string
      Merge: Merge
      Branches: Checked list
      /// Weights of an `Add` merge: a residual `x + s·f(x)` has weights [1; s]. All 1 otherwise.
      Weights: float list
      Input: Shape
      Output: Shape
      Flops: int64 }

and Checked =
    | CheckedOp of CheckedLayer
    | CheckedSeq of Checked list
    | CheckedBranches of CheckedMerge

module Checked =
    let rec output input checkedNode =
        match checkedNode with
        | CheckedOp layer -> layer.Facts.Output
        | CheckedSeq nodes -> nodes |> List.fold output input
        | CheckedBranches merge -> merge.Output

    /// Every layer, in evaluation order.
    let rec layers checkedNode =
        seq {
            match checkedNode with
            | CheckedOp layer -> yield layer
            | CheckedSeq nodes -> for n in nodes do yield! layers n
            | CheckedBranches merge -> for b in merge.Branches do yield! layers b
        }
