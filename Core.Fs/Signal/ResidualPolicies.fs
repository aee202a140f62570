/// What to do about sums of branches at initialisation, on top of any method (`receptor init --residual`).
/// A policy changes the tree the network is compiled from (the sums' constant weights, the norms' initial
/// γ) or scales the variances the method chooses.
module Receptor.Core.Signal.ResidualPolicies

open Receptor.Dsl

type ResidualPolicy =
    /// Every `add` rescaled (all its weights by one factor) so that its predicted output variance is 1.
    | Restore
    /// Every `add` of N branches scaled by 1/√N.
    | SqrtN
    /// The last normalisation layer of each residual body starts with γ = 0, so every block starts as its
    /// shortcut (Goyal et al. 2017).
    | ZeroGamma
    /// The last weighted layer of each branch of a sum of d branches gets 1/d of its variance
    /// (Chen et al., ICLR 2024; Residuals.inDegree).
    | InDegree

let parse (name: string) =
    match name.ToLowerInvariant () with
    | "restore" -> Ok Restore
    | "sqrt-n" -> Ok SqrtN
    | "zero-gamma" -> Ok ZeroGamma
    | "in-degree" -> Ok InDegree
    | other -> Error (sprintf "unknown residual policy '%s' (restore, sqrt-n, zero-gamma, in-degree)" other)

let name (policy: ResidualPolicy) =
    match policy with
    | Restore -> "restore"
    | SqrtN -> "sqrt-n"
    | ZeroGamma -> "zero-gamma"
    | InDegree -> "in-degree"

/// A policy applied: the tree to compile, and the scaling to plan with.
type Applied = { Tree: Checked; Scaling: Residuals.Scaling }

/// The predicted variance of every `add` is 1 within this.
let restoreTolerance = 1e-9

/// Rescales the sums one at a time in evaluation order: fixing a sum changes only what comes after it, so
/// each propagation fixes at least the first sum still off.
let private restore (method: Initialisers.Method) input inputMoments (tree: Checked) =
    let sums = Residuals.sums tree |> List.map (fun m -> m.Path) |> Set.ofList
    let rec fix (tree: Checked) remaining =
        Initialisers.plan method input inputMoments tree
        |> Result.bind (fun prediction ->
            let off =
                prediction.Nodes
                |> List.tryFind (fun n -> sums.Contains n.Path && n.Variance > 0.0 && abs (n.Variance - 1.0) > restoreTolerance)
            match off with
            | None -> Ok tree
            | Some _ when remaining = 0 -> Error (Diagnostic.at Nowhere "restore: the sums' variances did not settle at 1")
            | Some node -> fix (Residuals.scaleSums (Map.ofList [ node.Path, 1.0 / sqrt node.Variance ]) tree) (remaining - 1))
    fix tree (2 * sums.Count + 1)

let apply (policy: ResidualPolicy) (method: Initialisers.Method) (input: Shape) (inputMoments: InputMoments option) (tree: Checked) =
    match policy with
    | Restore -> restore method input inputMoments tree |> Result.map (fun t -> { Tree = t; Scaling = Residuals.unscaled })
    | SqrtN ->
        let factors = Residuals.sums tree |> List.map (fun m -> m.Path, 1.0 / sqrt (float m.Branches.Length)) |> Map.ofList
        Ok { Tree = Residuals.scaleSums factors tree; Scaling = Residuals.unscaled }
    | ZeroGamma ->
        let lastNorms =
            Residuals.residuals tree
            |> List.choose (fun m -> Checked.layers m.Branches[1] |> Seq.filter Residuals.hasGamma |> Seq.tryLast |> Option.map (fun l -> l.Path))
        Ok { Tree = Residuals.zeroGamma (Set.ofList lastNorms) tree; Scaling = Residuals.unscaled }
    | InDegree -> Ok { Tree = tree; Scaling = Residuals.inDegree }
