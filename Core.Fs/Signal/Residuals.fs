/// Residual structure of a checked tree, for initialisers that treat summed branches specially (Fixup,
/// SkipInit, the residual policies): which merges are residuals, which weighted layers end each branch, and
/// rewrites of the sums' weights and the norms' initial γ.
module Receptor.Core.Signal.Residuals

open Receptor.Dsl

/// Whether `path` is `prefix` or lies below it.
let within (prefix: string) (path: string) =
    prefix = "" || path = prefix || path.StartsWith (prefix + "/")

/// The path prefix of a residual's body: `residual f` is checked as `add(identity, f)` with f at `<path>/body`.
let bodyOf (merge: CheckedMerge) = Naming.join merge.Path "body"

let private isResidual (merge: CheckedMerge) =
    merge.Merge = Add
    && merge.Branches.Length = 2
    && (let layers = Checked.layers merge.Branches[1] |> List.ofSeq
        not layers.IsEmpty && layers |> List.forall (fun l -> within (bodyOf merge) l.Path))

/// Every merge, in evaluation order (inner before outer).
let rec private merges (tree: Checked) =
    match tree with
    | CheckedOp _ -> []
    | CheckedSeq nodes -> nodes |> List.collect merges
    | CheckedBranches m -> (m.Branches |> List.collect merges) @ [ m ]

/// The residual merges (`residual(…)`), in evaluation order.
let residuals (tree: Checked) = merges tree |> List.filter isResidual

/// The `add` merges, residual or not, in evaluation order.
let sums (tree: Checked) = merges tree |> List.filter (fun m -> m.Merge = Add)

/// The paths of the branches' layers: a branch is identified by the layers it holds.
let private branchPaths (branch: Checked) = Checked.layers branch |> Seq.map (fun l -> l.Path) |> Set.ofSeq

/// The last of `layers` (in evaluation order) that lies in the branch; None for an identity branch.
let lastIn (branch: Checked) (layers: WeightedLayer list) =
    let paths = branchPaths branch
    layers |> List.filter (fun l -> paths.Contains l.Path) |> List.tryLast |> Option.map (fun l -> l.Path)

/// Rebuilds the tree with every merge passed through `f` (children first).
let rec mapMerges (f: CheckedMerge -> CheckedMerge) (tree: Checked) =
    match tree with
    | CheckedOp _ -> tree
    | CheckedSeq nodes -> CheckedSeq (nodes |> List.map (mapMerges f))
    | CheckedBranches m -> CheckedBranches (f { m with Branches = m.Branches |> List.map (mapMerges f) })

/// Rebuilds the tree with every layer passed through `f`.
let rec mapLayers (f: CheckedLayer -> CheckedLayer) (tree: Checked) =
    match tree with
    | CheckedOp layer -> CheckedOp (f layer)
    | CheckedSeq nodes -> CheckedSeq (nodes |> List.map (mapLayers f))
    | CheckedBranches m -> CheckedBranches { m with Branches = m.Branches |> List.map (mapLayers f) }

/// The same tree with each residual's body weight multiplied by `factor path` (SkipInit's α as a constant,
/// for predicting what the network computes at initialisation).
let scaleBodies (factor: string -> float) (tree: Checked) =
    let residualPaths = residuals tree |> List.map (fun m -> m.Path) |> Set.ofList
    tree
    |> mapMerges (fun m ->
        match m.Weights with
        | [ shortcut; body ] when residualPaths.Contains m.Path -> { m with Weights = [ shortcut; body * factor m.Path ] }
        | _ -> m)

/// The same tree with every weight of the `add` merges at the given paths multiplied by their factor.
let scaleSums (factors: Map<string, float>) (tree: Checked) =
    tree
    |> mapMerges (fun m ->
        match factors.TryFind m.Path with
        | Some factor when m.Merge = Add -> { m with Weights = m.Weights |> List.map ((*) factor) }
        | _ -> m)

/// Whether a layer kind has an initial scale γ (the normalisation layers).
let hasGamma (layer: CheckedLayer) = layer.Kind.Signature |> List.exists (fun p -> p.Name = "gamma")

/// The same tree with the initial γ of the layers at the given paths set to 0, both as written and as resolved.
let zeroGamma (paths: Set<string>) (tree: Checked) =
    tree
    |> mapLayers (fun layer ->
        if paths.Contains layer.Path then
            // Arguments as written stay in the kind's signature order.
            let written =
                layer.Kind.Signature
                |> List.choose (fun p ->
                    if p.Name = "gamma" then Some ("gamma", Float 0.0)
                    else layer.Layer.Args |> List.tryFind (fun (n, _) -> n = p.Name))
            { layer with Layer = { layer.Layer with Args = written }; Args = Args (layer.Kind.Signature, written) }
        else layer)

/// A multiplier on each weighted layer's chosen variance, given the tree and its weighted layers in
/// evaluation order.
type Scaling = Checked -> WeightedLayer list -> WeightedLayer -> float

let unscaled: Scaling = fun _ _ _ -> 1.0

/// The weighted layers' distinct paths, in evaluation order.
let private pathsOf (layers: WeightedLayer list) = layers |> List.map (fun l -> l.Path) |> List.distinct

/// Fixup (Zhang, Dauphin & Ma 2019), on top of He: the weighted layers of a residual body scaled in standard
/// deviation by L^(−1/(2m−2)) (L residual bodies with weights, m weighted layers in this body, counted in the
/// innermost body that holds them), the body's last weighted layer and the classifier (a final dense layer
/// outside every body) at zero.
let fixup: Scaling =
    fun tree layers ->
        let bodies = residuals tree |> List.map bodyOf
        let innermost path = bodies |> List.filter (fun b -> within b path) |> List.sortByDescending String.length |> List.tryHead
        let paths = pathsOf layers
        let byBody = paths |> List.groupBy innermost |> List.choose (fun (body, ps) -> body |> Option.map (fun _ -> ps))
        let count = float byBody.Length
        let inBodies =
            byBody
            |> List.collect (fun ps ->
                let m = ps.Length
                let last = List.last ps
                ps |> List.map (fun p -> p, if p = last then 0.0 else count ** (-1.0 / float (m - 1))))
        let classifier =
            layers
            |> List.tryLast
            |> Option.filter (fun l -> l.Kind = "dense" && (innermost l.Path).IsNone)
            |> Option.map (fun l -> l.Path, 0.0)
        let factors = Map.ofList (inBodies @ Option.toList classifier)
        fun layer -> factors.TryFind layer.Path |> Option.defaultValue 1.0

/// In-degree-aware scaling (Chen, Wu, Wang & Hanin, ICLR 2024: C = 2/d_in): the last weighted layer of each
/// branch of a sum of d branches has its weight variance divided by d, so that d such branches of equal
/// variance sum to that variance. An identity branch has no weights and is not scaled.
let inDegree: Scaling =
    fun tree layers ->
        let factors =
            sums tree
            |> List.collect (fun m ->
                let d = float m.Branches.Length
                m.Branches |> List.choose (fun b -> lastIn b layers |> Option.map (fun p -> p, 1.0 / d)))
            // A layer that ends branches of nested sums is scaled for the innermost one, which it feeds.
            |> List.fold (fun (acc: Map<string, float>) (p, f) -> if acc.ContainsKey p then acc else acc.Add (p, f)) Map.empty
        fun layer -> factors.TryFind layer.Path |> Option.defaultValue 1.0

/// Of the given node paths, those on the network's main path: inside no merge's branches (a merge's own
/// output is on it).
let mainPath (tree: Checked) (paths: string list) =
    let mergePaths = merges tree |> List.map (fun m -> m.Path)
    paths |> List.filter (fun p -> not (mergePaths |> List.exists (fun m -> m <> p && within m p)))
