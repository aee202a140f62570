/// The exact rules of merges: concat appends channel segments; sums, products, means and maxima combine
/// aligned pieces, exactly where they are functions of the same Gaussian.
module internal Receptor.Core.Signal.MergeRules

open System.Collections.Generic
open Receptor.Dsl
open Receptor.Core.Signal.Moments
open Receptor.Core.Signal.Signal

/// Sums, products or maxima of aligned pieces. Pieces of the same Gaussian and channels combine their laws
/// exactly (x + f(x), x·σ(x)); independent groups combine their moments exactly (the maximum's through the
/// discretised laws) and are carried on by their exact marginal law.
let private combinePieces (context: Context) merge (weights: float list) (pieces: Segment list) =
    let weighted =
        List.zip weights pieces |> List.map (fun (w, p) -> if w = 1.0 then p else Segment.mapLaws (Law.map (Fn.affine w 0.0)) p)
    let op =
        match merge with
        | Add | Mean -> (+)
        | Multiply -> (*)
        | Max -> max
        | Concat -> invalidOp "concat has no pointwise combination"
    // Group by (Gaussian, origin), keeping first-appearance order.
    let groups =
        weighted
        |> List.fold (fun (groups: (Segment * Segment list) list) p ->
            match groups |> List.tryFindIndex (fun (head, _) -> obj.ReferenceEquals (head.Gaussian, p.Gaussian) && head.Origin = p.Origin) with
            | Some i -> groups |> List.mapi (fun j (h, members) -> if i = j then h, members @ [ p ] else h, members)
            | None -> groups @ [ p, [ p ] ]) []
    let combineGroup (head: Segment, members: Segment list) =
        let combined = Dictionary<obj, Law option>(HashIdentity.Structural)
        let lawAt i =
            let laws = members |> List.map (fun m -> m.Laws[i])
            match combined.TryGetValue (box laws) with
            | true, law -> law
            | _ ->
                let law = laws.Tail |> List.fold (fun acc l -> acc |> Option.bind (fun a -> Law.combine op a l)) (Some laws.Head)
                combined[box laws] <- law
                law
        let laws = Array.init (Segment.positions head) lawAt
        if laws |> Array.forall Option.isSome then [ Segment.withLaws (Array.map Option.get laws) head ]
        // Too many masks to enumerate: the members are taken for independent.
        else members
    match groups |> List.collect combineGroup with
    | [ single ] -> single
    | independent ->
        let first = independent.Head
        let n = Segment.positions first
        let stats = Stats.create n
        let values = independent |> List.map (fun s -> s.Values.Value)
        for i in 0 .. n - 1 do
            match merge with
            | Add | Mean ->
                for v in values do
                    stats.Mean[i] <- stats.Mean[i] + v.Mean[i]
                    stats.Constant[i] <- stats.Constant[i] + v.Constant[i]
                    stats.Fluctuating[i] <- stats.Fluctuating[i] + v.Fluctuating[i]
            | Multiply ->
                // E[xy | W] = E[x | W]·E[y | W]; E[x²y²] = E[x²]·E[y²].
                let mean = values |> List.fold (fun p v -> p * v.Mean[i]) 1.0
                let offsetSecond = values |> List.fold (fun p v -> p * (v.Mean[i] * v.Mean[i] + v.Constant[i])) 1.0
                let second = values |> List.fold (fun p v -> p * Stats.second v i) 1.0
                stats.Mean[i] <- mean
                stats.Constant[i] <- max 0.0 (offsetSecond - mean * mean)
                stats.Fluctuating[i] <- max 0.0 (second - offsetSecond)
            | Max ->
                // Exact moments from the discretised laws; the offset share of the variance kept in proportion.
                let mean, variance = Marginal.momentsOf max (independent |> List.map (fun s -> Signal.part s i))
                let offsets = values |> List.sumBy (fun v -> v.Constant[i])
                let totals = values |> List.sumBy (fun v -> v.Constant[i] + v.Fluctuating[i])
                let share = if totals > 0.0 then offsets / totals else 0.0
                stats.Mean[i] <- mean
                stats.Constant[i] <- share * variance
                stats.Fluctuating[i] <- (1.0 - share) * variance
            | Concat -> ()
        let values = independent |> List.map (fun s -> s.Values.Value, s.Offsets.Value)
        let offsets =
            Offsets.init n (fun i j ->
                let cov (v: Stats, k) = Offsets.get k v.Constant i j
                match merge with
                | Add | Mean -> values |> List.sumBy cov
                | Multiply ->
                    let product f = values |> List.fold (fun p x -> p * f x) 1.0
                    product (fun (v, k) -> cov (v, k) + v.Mean[i] * v.Mean[j]) - product (fun (v, _) -> v.Mean[i] * v.Mean[j])
                | Max | Concat ->
                    let scale = (values |> List.sumBy (fun (v, _) -> v.Constant[i])) * (values |> List.sumBy (fun (v, _) -> v.Constant[j]))
                    if i = j then stats.Constant[i]
                    elif scale > 0.0 then (values |> List.sumBy cov) / sqrt scale * sqrt (stats.Constant[i] * stats.Constant[j])
                    else 0.0)
        Signal.independent context.Ids op independent stats offsets

/// A per-channel gate (c×1×1) seen at every position of an h×w map: one value per channel and sample at every
/// position, so its offsets are the same everywhere. Its fluctuation becomes a fresh one per position, which
/// leaves each position's moments, all a product with another branch needs, exact.
let private broadcast (context: Context) (output: Shape) (signal: Signal) =
    match signal.Shape, output with
    | Spatial (c, 1, 1), Spatial (_, h, w) when h * w > 1 ->
        let n = h * w
        let spread (segment: Segment) =
            let v = segment.Values.Value
            let stats = Stats.uniform n v.Mean[0] v.Constant[0] v.Fluctuating[0]
            Signal.gaussianSegment context.Ids segment.Channels h w stats (Offsets.init n (fun _ _ -> v.Constant[0]))
        { Shape = Spatial (c, h, w); Segments = signal.Segments |> List.map spread }
    | _ -> signal

let merge (context: Context) (merge: CheckedMerge) (branches: Signal list) =
    match merge.Merge with
    | Concat -> Ok { Shape = merge.Output; Segments = branches |> List.collect (fun b -> b.Segments) }
    | kind ->
        let weights =
            match kind with
            | Mean -> List.replicate branches.Length (1.0 / float branches.Length)
            | _ -> merge.Weights
        let branches = if kind = Multiply then branches |> List.map (broadcast context merge.Output) else branches
        let aligned = Signal.align (branches |> List.map (fun b -> b.Segments))
        let sameMaps =
            aligned |> List.forall (fun pieces -> pieces |> List.forall (fun p -> p.Height = pieces.Head.Height && p.Width = pieces.Head.Width))
        if not sameMaps then
            Error (sprintf "%s of flat vectors flattened from different shapes has no moment rule" (Naming.mergeName kind))
        else Ok { Shape = merge.Output; Segments = aligned |> List.map (combinePieces context kind weights) }

