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
        let values = independent |> List.map (fun s -> s.Values.Value, s.Offsets.Value, s.Fluctuations.Value)
        let offset (v: Stats, k, _) i j = Covariance.get k v.Constant i j
        let fluctuation (v: Stats, _, k) i j = Covariance.get k v.Fluctuating i j
        let product f = values |> List.fold (fun p x -> p * f x) 1.0
        let means (v: Stats, _, _) i j = v.Mean[i] * v.Mean[j]
        // The maximum keeps the inputs' correlation between positions, scaled to its own variances.
        let rescaled part (diagonal: float[]) (variance: Stats -> float[]) i j =
            let scale = (values |> List.sumBy (fun (v, _, _) -> (variance v)[i])) * (values |> List.sumBy (fun (v, _, _) -> (variance v)[j]))
            if i = j then diagonal[i]
            elif scale > 0.0 then (values |> List.sumBy (fun x -> part x i j)) / sqrt scale * sqrt (diagonal[i] * diagonal[j])
            else 0.0
        let offsetCovariance i j =
            match merge with
            | Add | Mean -> values |> List.sumBy (fun x -> offset x i j)
            | Multiply -> product (fun x -> offset x i j + means x i j) - product (fun x -> means x i j)
            | Max | Concat -> rescaled offset stats.Constant (fun v -> v.Constant) i j
        let fluctuationCovariance i j =
            match merge with
            | Add | Mean -> values |> List.sumBy (fun x -> fluctuation x i j)
            // Independent factors: E[xᵢyᵢxⱼyⱼ] = E[xᵢxⱼ]·E[yᵢyⱼ]; the offsets' part is the rest.
            | Multiply -> product (fun x -> offset x i j + fluctuation x i j + means x i j) - product (fun x -> offset x i j + means x i j)
            | Max | Concat -> rescaled fluctuation stats.Fluctuating (fun v -> v.Fluctuating) i j
        let held = values |> List.exists (fun (_, _, k) -> match k with Independent -> false | _ -> true)
        let offsets = Covariance.offsets n offsetCovariance
        let fluctuations = if held then Covariance.fluctuations first.Width n fluctuationCovariance else Independent
        Signal.independent context.Ids op independent stats offsets fluctuations

/// A per-channel gate (c×1×1) seen at every position of an h×w map: one value per channel and sample at every
/// position, so its offsets and its fluctuations are perfectly correlated across positions (on large maps the
/// fluctuations are taken as fresh per position, which leaves each position's moments exact).
let private broadcast (context: Context) (output: Shape) (signal: Signal) =
    match signal.Shape, output with
    | Spatial (c, 1, 1), Spatial (_, h, w) when h * w > 1 ->
        let n = h * w
        let spread (segment: Segment) =
            let v = segment.Values.Value
            let stats = Stats.uniform n v.Mean[0] v.Constant[0] v.Fluctuating[0]
            Signal.gaussianSegment context.Ids segment.Channels h w stats
                (Covariance.offsets n (fun _ _ -> v.Constant[0]))
                (Covariance.fluctuations w n (fun _ _ -> v.Fluctuating[0]))
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

