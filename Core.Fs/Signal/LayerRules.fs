/// The exact moment rules of the general layer kinds (convolutions, pooling, normalisation, activations,
/// structural layers): each maps the signal a layer receives to the signal it gives, and Core.Fs/Kinds names
/// each kind's rule. See Propagation.fs for the approximations.
module internal Receptor.Core.Signal.LayerRules

open System.Collections.Generic
open Receptor.Dsl
open Receptor.Dsl.Layers
open Receptor.Core.Signal.Special
open Receptor.Core.Signal.Moments
open Receptor.Core.Signal.Signal

let private spatial (shape: Shape) =
    match shape with
    | Spatial (c, h, w) -> c, h, w
    | Flat n -> n, 1, 1

/// 3·Σ (E[x⁴] − E[x²]²)/(Σ E[x²])² over `terms` terms of each piece's channels, read at each segment's centre
/// (WeightedLayer.Kurtosis).
let private kurtosisOf (pieces: (float * Segment) list) terms =
    let moments =
        pieces
        |> List.map (fun (count, s) ->
            let centre = (s.Height / 2) * s.Width + s.Width / 2
            let z = s.Gaussian.Stats
            let second = Stats.second s.Values.Value centre
            count, second, Law.fourth s.Laws[centre] z.Mean[centre] (z.Constant[centre] + z.Fluctuating[centre]))
    let total = moments |> List.sumBy (fun (count, second, _) -> count * second)
    if total <= 0.0 then 0.0
    else 3.0 * (moments |> List.sumBy (fun (count, second, fourth) -> count * (fourth - second * second))) / (terms * total * total)

/// The pieces of a signal's segments covering channels [first, first + count).
let private piecesOf (segments: Segment list) first count =
    let rec go (segments: Segment list) offset acc =
        match segments with
        | [] -> List.rev acc
        | s :: rest ->
            let lo, hi = max first offset, min (first + count) (offset + s.Channels)
            let acc = if lo < hi then (s, lo - offset, hi - lo) :: acc else acc
            go rest (offset + s.Channels) acc
    go segments 0 []

/// Groups of at most this many input channels carry the spread of their channels' covariances (Gaussian.Spread).
let private smallGroup = 4

/// A (grouped) convolution: per group, the fan-in's second moments summed over what each element reads.
/// Weights are independent per element and channel, so two outputs covary through what they read with the
/// same element: Σₑ Σᵢⱼ aᵢbⱼ·E[cᵢcⱼ] of offsets (c = μ + C) and Σₑ Σᵢⱼ aᵢbⱼ·Cov(Fᵢ, Fⱼ) of fluctuations.
let convolve (context: Context) (layer: CheckedLayer) part output (input: Signal) cout groups (reads: Reads) bias =
    let cin = Shape.channels input.Shape
    let cinGroup, coutGroup = cin / groups, cout / groups
    let oh, ow = reads.Output
    let n = oh * ow
    let segments = Array.ofList input.Segments
    let indexOf (s: Segment) = Array.findIndex (fun x -> obj.ReferenceEquals (x, s)) segments
    let keyOf g = piecesOf input.Segments (g * cinGroup) cinGroup |> List.map (fun (s, _, n) -> indexOf s, n)
    let keys = Array.init groups keyOf
    let inputsOf (key: (int * int) list) =
        key
        |> List.map (fun (index, count) ->
            let s = segments[index]
            float count, s.Values.Value, s.Offsets.Value, s.Fluctuations.Value)
    // Summed over a key's channels: E[cᵢcⱼ], and Cov(Fᵢ, Fⱼ).
    let offsetProduct inputs i j =
        inputs |> List.sumBy (fun (count, v: Stats, k, _) -> count * (v.Mean[i] * v.Mean[j] + Covariance.get k v.Constant i j))
    let fluctuationProduct inputs i j =
        inputs |> List.sumBy (fun (count, v: Stats, _, k) -> count * Covariance.get k v.Fluctuating i j)
    let across (product: int -> int -> float) o o' =
        let a, b = reads.Positions[o], reads.Positions[o']
        let mutable total = 0.0
        for e in 0 .. a.Length - 1 do
            for i, x in a[e] do
                for j, y in b[e] do
                    total <- total + x * y * product i j
        total
    let energies = Dictionary<(int * int) list, float[] * float[]>(HashIdentity.Structural)
    for key in keys do
        if not (energies.ContainsKey key) then
            let inputs = inputsOf key
            energies[key] <- (Array.init n (fun o -> across (offsetProduct inputs) o o), Array.init n (fun o -> across (fluctuationProduct inputs) o o))
    let energy =
        keys |> Array.averageBy (fun key -> let o, f = energies[key] in Array.average (Array.map2 (+) o f))
    let kurtosis = kurtosisOf (keys[0] |> List.map (fun (index, count) -> float count, segments[index])) (float reads.Elements)
    let described =
        { Path = layer.Path
          Part = part
          Kind = layer.Kind.Name
          FanIn = cinGroup * reads.Elements
          FanOut = coutGroup * reads.Elements
          Energy = energy
          Gain = reads.Gain
          HasBias = bias
          Kurtosis = kurtosis
          Output = output }
    let chosen = Context.choose context described
    let biasVariance = if bias then chosen.Bias else 0.0
    // Plain taps on white fluctuations: two outputs never read one position through the same element.
    let whiteOutput (inputs: (float * Stats * Covariance * Covariance) list) =
        inputs |> List.forall (fun (_, _, _, k) -> match k with Independent -> true | _ -> false)
        && reads.Positions |> Array.forall (Array.forall (fun element -> element.Length <= 1))
    // One segment per run of consecutive groups with the same inputs.
    let runs =
        keys
        |> Array.fold (fun runs key ->
            match runs with
            | (k, n) :: rest when k = key -> (k, n + 1) :: rest
            | _ -> (key, 1) :: runs) []
        |> List.rev
    let output =
        runs
        |> List.map (fun (key, count) ->
            let inputs = inputsOf key
            let offsets, fluctuations = energies[key]
            let stats =
                { Mean = Array.create n (if bias then chosen.BiasMean else 0.0)
                  Constant = offsets |> Array.map (fun o -> chosen.Weight * o + biasVariance)
                  Fluctuating = fluctuations |> Array.map (fun f -> chosen.Weight * f) }
            let offsetCovariance =
                Covariance.offsets n (fun o o' ->
                    if o = o' then stats.Constant[o] else chosen.Weight * across (offsetProduct inputs) o o' + biasVariance)
            let fluctuationCovariance =
                if whiteOutput inputs then Independent
                else
                    Covariance.fluctuations ow n (fun o o' ->
                        if o = o' then stats.Fluctuating[o] else chosen.Weight * across (fluctuationProduct inputs) o o')
            // A channel's covariance between outputs o ≠ o′, Σₑₑ′ WₑWₑ′·Aₑₑ′ with Aₑₑ′ what element e reads for o
            // and e′ for o′ covary by, varies over the draws by σ⁴·Σₑₑ′ (Aₑₑ′² + Aₑₑ′·Aₑ′ₑ): by about 1/fan-in
            // relative to its average, large only where a group has a few input channels.
            let spread =
                if cinGroup > smallGroup || n > Covariance.maxPositions then None
                else
                    let read o e o' e' (v: Stats, k) =
                        let mutable total = 0.0
                        for i, x in reads.Positions[o][e] do
                            for j, y in reads.Positions[o'][e'] do
                                total <- total + x * y * Covariance.get k v.Fluctuating i j
                        total
                    let elements = reads.Elements
                    let matrix = Array.zeroCreate (n * n)
                    for o in 0 .. n - 1 do
                        for o' in o + 1 .. n - 1 do
                            let mutable total = 0.0
                            for channels, v, _, k in inputs do
                                for e in 0 .. elements - 1 do
                                    for e' in 0 .. elements - 1 do
                                        let forward = read o e o' e' (v, k)
                                        if forward <> 0.0 then
                                            total <- total + channels * forward * (forward + read o e' o' e (v, k))
                            let value = chosen.Weight * chosen.Weight * total
                            matrix[o * n + o'] <- value
                            matrix[o' * n + o] <- value
                    Some matrix
            Signal.spreadSegment context.Ids (count * coutGroup) oh ow stats offsetCovariance fluctuationCovariance spread)
    { Shape = Spatial (cout, oh, ow); Segments = output }

/// A convolution of the layer's window: conv, dwconv (its groups are its channels), dendconv, deform.
let convolution (context: Context) (layer: CheckedLayer) (input: Signal) share =
    let g = layer.Window
    let bias = Convolution.hasBias layer.Args
    convolve context layer "" true input (Shape.channels layer.Facts.Output) g.Groups (Reads.ofWindow g share) bias

let conv (context: Context) (layer: CheckedLayer) (input: Signal) = Ok (convolution context layer input 1.0)

let sepconv (context: Context) (layer: CheckedLayer) (input: Signal) =
    let c = Shape.channels input.Shape
    let depthwiseWindow = layer.Window
    let depthwise = convolve context layer "depthwise" false input c c (Reads.ofWindow depthwiseWindow 1.0) false
    let pointwiseWindow =
        { Kernel = 1, 1; Stride = 1, 1; Dilation = 1, 1; Padding = (0, 0, 0, 0); Groups = 1; Input = depthwiseWindow.Output; Output = depthwiseWindow.Output }
    Ok (convolve context layer "pointwise" true depthwise (Shape.channels layer.Facts.Output) 1 (Reads.ofWindow pointwiseWindow 1.0) (Convolution.hasBias layer.Args))

let dense (context: Context) (layer: CheckedLayer) (input: Signal) =
    let out = Shape.channels layer.Facts.Output
    let bias = Convolution.hasBias layer.Args
    let mutable offsets, fluctuations = 0.0, 0.0
    for s in input.Segments do
        let v = s.Values.Value
        for i in 0 .. v.Mean.Length - 1 do
            offsets <- offsets + float s.Channels * (v.Mean[i] * v.Mean[i] + v.Constant[i])
            fluctuations <- fluctuations + float s.Channels * v.Fluctuating[i]
    let fanIn = Shape.channels input.Shape
    let described =
        { Path = layer.Path; Part = ""; Kind = layer.Kind.Name; FanIn = fanIn; FanOut = out; Energy = offsets + fluctuations; Gain = 1.0; HasBias = bias
          Kurtosis = kurtosisOf (input.Segments |> List.map (fun s -> float s.Channels, s)) (float (Segment.positions input.Segments.Head))
          Output = true }
    let chosen = Context.choose context described
    let stats =
        Stats.uniform 1 (if bias then chosen.BiasMean else 0.0) (chosen.Weight * offsets + (if bias then chosen.Bias else 0.0)) (chosen.Weight * fluctuations)
    Ok { Shape = Flat out; Segments = [ Signal.gaussianSegment context.Ids out 1 1 stats Independent Independent ] }

let private mapLaws (f: Law -> Law) (input: Signal) =
    { input with Segments = input.Segments |> List.map (Segment.mapLaws f) }

let activation (activation: Activation) (input: Signal) =
    Ok (mapLaws (Law.map activation.Fn) input)

let dropout (context: Context) (layer: CheckedLayer) (input: Signal) =
    let keep = 1.0 - Structural.dropProbability layer.Args
    let id = context.Ids.Next()
    let segments =
        input.Segments
        |> List.map (fun s ->
            let s = if s.Laws |> Array.exists (fun l -> l.Masks.Length >= Law.maxMasks) then Signal.project context.Ids s else s
            Segment.mapLaws (Law.dropout id keep) s)
    Ok { input with Segments = segments }

let scale (_: Context) (layer: CheckedLayer) (input: Signal) =
    Ok (mapLaws (Law.map (Fn.affine (Structural.scaleFactor layer.Args) 0.0)) input)

let passThrough (_: Context) (layer: CheckedLayer) (input: Signal) =
    Ok { input with Shape = layer.Facts.Output }

/// Average pooling: each output reads its window with share 1/divisor.
let private averageSegment (context: Context) (windows: (int[] * float)[]) oh ow (segment: Segment) =
    let reads = windows |> Array.map (fun (positions, divisor) -> positions |> Array.map (fun i -> i, 1.0 / divisor))
    Signal.linear context.Ids reads oh ow segment

let private pooled (layer: CheckedLayer) (input: Signal) (pool: Segment -> Segment) =
    Ok { Shape = layer.Facts.Output; Segments = input.Segments |> List.map pool }

let avgpool (context: Context) (layer: CheckedLayer) (input: Signal) =
    let window = layer.Window
    let oh, ow = window.Output
    let windows = Window.pooling window (Pooling.countsPadding layer.Args)
    pooled layer input (averageSegment context windows oh ow)

let private globalWindow (input: Signal) =
    let _, h, w = spatial input.Shape
    [| Array.init (h * w) id, float (h * w) |]

let gavgpool (context: Context) (layer: CheckedLayer) (input: Signal) =
    pooled layer input (averageSegment context (globalWindow input) 1 1)

/// PyTorch's adaptive windows: [⌊i·n/m⌋, ⌈(i+1)·n/m⌉) along each axis.
let adaptiveavgpool (context: Context) (layer: CheckedLayer) (input: Signal) =
    let _, h, w = spatial input.Shape
    let _, oh, ow = spatial layer.Facts.Output
    let span i n m = i * n / m, ((i + 1) * n + m - 1) / m
    let windows =
        Array.init (oh * ow) (fun o ->
            let (y0, y1), (x0, x1) = span (o / ow) h oh, span (o % ow) w ow
            [| for y in y0 .. y1 - 1 do for x in x0 .. x1 - 1 -> y * w + x |], float ((y1 - y0) * (x1 - x0)))
    pooled layer input (averageSegment context windows oh ow)

/// The moments of max(f(μ + C + Fᵢ)) over k elements sharing the offset C: nested over C.
let private maxMoments k (f: Fn) mean constant fluctuating =
    if constant <= 0.0 then
        let m = maxOfIid k f mean fluctuating
        struct (m.Mean, 0.0, m.Variance)
    elif fluctuating <= 0.0 then
        let m = Moments.ofFn f mean constant
        struct (m.Mean, m.Variance, 0.0)
    else
        let rule = coarse.Value
        let mutable first, firstSquared, second = 0.0, 0.0, 0.0
        for i in 0 .. rule.Points.Length - 1 do
            let m = maxOfIid k f (mean + sqrt constant * rule.Points[i]) fluctuating
            first <- first + rule.Weights[i] * m.Mean
            firstSquared <- firstSquared + rule.Weights[i] * m.Mean * m.Mean
            second <- second + rule.Weights[i] * m.Second
        struct (first, max 0.0 (firstSquared - first * first), max 0.0 (second - firstSquared))

/// Max pooling over windows of at most WindowMax.maxElements: each window's values are drawn from their joint
/// law (WindowMax); two outputs covary as drawn together where their windows share elements, else through the
/// slopes of each maximum on its elements.
let private jointMax (context: Context) (windows: (int[] * float)[]) oh ow (segment: Segment) =
    let gaussian = segment.Gaussian
    let z = gaussian.Stats
    // The joint law of the values at some positions: their functions of z, z's means and both covariances,
    // and a key under which positions alike (the map's interior) share one computation.
    let lawAt (positions: int[]) =
        let sub covariance (variances: float[]) =
            [| for i in positions do for j in positions -> Covariance.get covariance variances i j |]
        let laws = positions |> Array.map (fun i -> segment.Laws[i])
        let means = positions |> Array.map (fun i -> z.Mean[i])
        let offsets, fluctuations = sub gaussian.Offsets z.Constant, sub gaussian.Fluctuations z.Fluctuating
        let key = (laws, Array.map Law.round means, Array.map Law.round offsets, Array.map Law.round fluctuations)
        laws |> Array.map (fun l -> l.Outcomes.Head.Fn), means, offsets, fluctuations, key
    let memoised (memo: Dictionary<obj, 'T>) key (compute: unit -> 'T) =
        match memo.TryGetValue key with
        | true, value -> value
        | _ ->
            let value = compute ()
            memo[key] <- value
            value
    let memo = Dictionary<obj, WindowMax.WindowMoments>(HashIdentity.Structural)
    let results =
        windows
        |> Array.map (fun (positions, _) ->
            let fns, means, offsets, fluctuations, key = lawAt positions
            memoised memo (box key) (fun () -> WindowMax.moments fns means offsets fluctuations))
    let n = oh * ow
    let stats =
        { Mean = results |> Array.map (fun r -> r.Mean)
          Constant = results |> Array.map (fun r -> r.Constant)
          Fluctuating = results |> Array.map (fun r -> r.Fluctuating) }
    // Windows that share elements: their maxima's covariance drawn jointly over the union.
    let shared = Dictionary<obj, float * float>(HashIdentity.Structural)
    let pairMemo = Dictionary<obj, float * float>(HashIdentity.Structural)
    let overlapping o o' =
        let a, b = fst windows[o], fst windows[o']
        let union = Array.append a b |> Array.distinct
        if union.Length = a.Length + b.Length || union.Length > WindowMax.maxElements then None
        else
            Some (
                memoised shared (box (o, o')) (fun () ->
                    let fns, means, offsets, fluctuations, key = lawAt union
                    let indexA = a |> Array.map (fun i -> Array.findIndex ((=) i) union)
                    let indexB = b |> Array.map (fun i -> Array.findIndex ((=) i) union)
                    memoised pairMemo (box (key, indexA, indexB)) (fun () ->
                        WindowMax.pairCovariance fns means offsets fluctuations indexA indexB)))
    // Other windows: the linear part Σᵢⱼ pᵢqⱼKᵢⱼ (p, q the slopes) and, as in Mehler's expansion, the
    // variance it leaves out at the square of the linear parts' correlation.
    let across covariance (variances: float[]) (diagonal: float[]) (part: float * float -> float) =
        let linear o o' =
            let a, b = fst windows[o], fst windows[o']
            let mutable total = 0.0
            for x in 0 .. a.Length - 1 do
                for y in 0 .. b.Length - 1 do
                    total <- total + results[o].Slopes[x] * results[o'].Slopes[y] * Covariance.get covariance variances a[x] b[y]
            total
        let explained = Array.init n (fun o -> max 0.0 (linear o o))
        fun o o' ->
            if o = o' then diagonal[o]
            else
                let total =
                    match overlapping o o' with
                    | Some pair -> part pair
                    | None ->
                        let l = linear o o'
                        let scale = explained[o] * explained[o']
                        let rest = sqrt (max 0.0 (diagonal[o] - explained[o]) * max 0.0 (diagonal[o'] - explained[o']))
                        if scale > 0.0 then l + rest * l * l / scale else l
                let bound = sqrt (diagonal[o] * diagonal[o'])
                max -bound (min bound total)
    Signal.gaussianSegment context.Ids segment.Channels oh ow stats
        (Covariance.offsets n (across gaussian.Offsets z.Constant stats.Constant fst))
        (Covariance.fluctuations ow n (across gaussian.Fluctuations z.Fluctuating stats.Fluctuating snd))

/// Max pooling over larger windows (global max pooling of large maps): the window's elements share the channel
/// offset and fluctuate independently.
let private sharedOffsetMax (context: Context) (windows: (int[] * float)[]) oh ow (segment: Segment) =
    let z = segment.Gaussian.Stats
    let memo = Dictionary<obj, struct (float * float * float)>(HashIdentity.Structural)
    let stats = Stats.create (oh * ow)
    windows
    |> Array.iteri (fun o (positions, _) ->
        let k = positions.Length
        let average (map: float[]) = positions |> Array.averageBy (fun i -> map[i])
        // The law of the window's first position stands for the window's.
        let law = segment.Laws[positions[0]]
        let f = law.Outcomes.Head.Fn
        let mean, constant, fluctuating = average z.Mean, average z.Constant, average z.Fluctuating
        let key = box (k, law, Law.round mean, Law.round constant, Law.round fluctuating)
        let value =
            match memo.TryGetValue key with
            | true, value -> value
            | _ ->
                let value = maxMoments k f mean constant fluctuating
                memo[key] <- value
                value
        let struct (m, c, v) = value
        stats.Mean[o] <- m
        stats.Constant[o] <- c
        stats.Fluctuating[o] <- v)
    // The outputs' offsets correlate as the inputs' do on average between the two windows.
    let inputs = segment.Values.Value
    let k = segment.Offsets.Value
    let correlation i j =
        let scale = inputs.Constant[i] * inputs.Constant[j]
        if scale > 0.0 then Covariance.get k inputs.Constant i j / sqrt scale else 0.0
    let offsets =
        Covariance.offsets (oh * ow) (fun o o' ->
            if o = o' then stats.Constant[o]
            else
                let a, _ = windows[o]
                let b, _ = windows[o']
                let rho = Seq.average (seq { for i in a do for j in b -> correlation i j })
                rho * sqrt (stats.Constant[o] * stats.Constant[o']))
    Signal.gaussianSegment context.Ids segment.Channels oh ow stats offsets Independent

/// Max pooling; the law of the values is used exactly when it involves no dropout mask.
let private maxSegment (context: Context) (windows: (int[] * float)[]) oh ow (segment: Segment) =
    let segment = if segment.Laws |> Array.forall (fun l -> l.Masks.IsEmpty) then segment else Signal.project context.Ids segment
    if windows |> Array.forall (fun (positions, _) -> positions.Length <= WindowMax.maxElements) then
        jointMax context windows oh ow segment
    else sharedOffsetMax context windows oh ow segment

let maxpool (context: Context) (layer: CheckedLayer) (input: Signal) =
    let window = layer.Window
    let oh, ow = window.Output
    pooled layer input (maxSegment context (Window.pooling window false) oh ow)

let gmaxpool (context: Context) (layer: CheckedLayer) (input: Signal) =
    pooled layer input (maxSegment context (globalWindow input) 1 1)

/// Batch normalisation in training mode. Spatial: per channel over batch and positions, which removes the
/// channel's offset (up to its variation across positions at padded borders); flat: per feature.
let batchnorm (context: Context) (layer: CheckedLayer) (input: Signal) =
    let { Normalisation.Gamma = gamma; Normalisation.Beta = beta; Normalisation.Epsilon = eps } = Normalisation.settings layer.Args
    let normalise (s: Segment) =
        let v = s.Values.Value
        let n = v.Mean.Length
        match input.Shape with
        | Spatial _ ->
            let mean = Array.average v.Mean
            // The channel's mean over positions is removed: its offsets lose their average over positions.
            let k = s.Offsets.Value
            let rowMeans = Covariance.rowMeans k v.Constant
            let grandMean = Array.average rowMeans
            let centred i j = Covariance.get k v.Constant i j - rowMeans[i] - rowMeans[j] + grandMean
            // A batch of b samples also removes its mean fluctuation: Cov(xᵢ − m, xⱼ − m) = Kᵢⱼ − (rᵢ + rⱼ)/b + g/b
            // with r the rows' means of K over positions and g theirs (held maps; negligible on larger ones).
            let batched =
                match context.Batch with
                | Some b when n <= Covariance.maxPositions ->
                    let f = s.Fluctuations.Value
                    let rows = Covariance.rowMeans f v.Fluctuating
                    let grand = Array.average rows
                    Some (fun i j -> Covariance.get f v.Fluctuating i j - (rows[i] + rows[j] - grand) / float b)
                | _ -> None
            let fluctuating i = match batched with Some c -> c i i | None -> v.Fluctuating[i]
            let variance = Array.init n (fun i -> (v.Mean[i] - mean) ** 2.0 + centred i i + fluctuating i) |> Array.average
            let sd = sqrt (variance + eps)
            if v.Constant |> Array.forall (fun c -> c = 0.0) && not (batched.IsSome && Segment.isGaussian s) then
                Segment.mapLaws (Law.map (Fn.affine (gamma / sd) (beta - gamma * mean / sd))) s
            else
                let scale = gamma * gamma / (sd * sd)
                let stats =
                    { Mean = v.Mean |> Array.map (fun m -> beta + gamma * (m - mean) / sd)
                      Constant = Array.init n (fun i -> scale * centred i i)
                      Fluctuating = Array.init n (fun i -> scale * fluctuating i) }
                let fluctuations =
                    match batched, s.Fluctuations.Value with
                    | Some c, _ -> Covariance.fluctuations s.Width n (fun i j -> scale * c i j)
                    | None, (Matrix _ as k) -> Covariance.fluctuations s.Width n (fun i j -> scale * Covariance.get k v.Fluctuating i j)
                    | None, other -> other
                // Normalising rescales each channel's covariances, and their spread with them.
                let spread = if Segment.isGaussian s then s.Gaussian.Spread |> Option.map (Array.map (fun x -> scale * scale * x)) else None
                Signal.spreadSegment context.Ids s.Channels s.Height s.Width stats (Covariance.offsets n (fun i j -> scale * centred i j)) fluctuations spread
        | Flat _ ->
            let stats =
                { Mean = Array.create n beta
                  Constant = Array.zeroCreate n
                  Fluctuating = v.Fluctuating |> Array.map (fun f -> gamma * gamma * f / (f + eps)) }
            let uniform = v.Mean |> Array.forall ((=) v.Mean[0]) && v.Fluctuating |> Array.forall ((=) v.Fluctuating[0])
            if uniform && v.Constant |> Array.forall (fun c -> c = 0.0) then
                let sd = sqrt (v.Fluctuating[0] + eps)
                Segment.mapLaws (Law.map (Fn.affine (gamma / sd) (beta - gamma * v.Mean[0] / sd))) s
            else Signal.gaussianSegment context.Ids s.Channels s.Height s.Width stats Independent Independent
    Ok { input with Segments = input.Segments |> List.map normalise }

/// Group (and layer) normalisation: per sample over each group's channels and positions. The statistics of
/// a sample are taken to be the ensemble's, so the output is an affine function of the input per group and
/// channel offsets survive.
let private groupNormalise groups (layer: CheckedLayer) (input: Signal) =
    let { Normalisation.Gamma = gamma; Normalisation.Beta = beta; Normalisation.Epsilon = eps } = Normalisation.settings layer.Args
    let size = Shape.channels input.Shape / groups
    let affineOf g =
        let pieces = piecesOf input.Segments (g * size) size
        let sumOver (term: Stats -> int -> float) =
            pieces |> List.sumBy (fun (s, _, n) -> let v = s.Values.Value in float n * Seq.sumBy (term v) (seq { 0 .. v.Mean.Length - 1 }))
        let count = sumOver (fun _ _ -> 1.0)
        let mean = sumOver (fun v i -> v.Mean[i]) / count
        let second = sumOver Stats.second / count
        let sd = sqrt (second - mean * mean + eps)
        gamma / sd, beta - gamma * mean / sd
    let affines = Array.init groups affineOf
    // Each segment is cut where the group affine changes; whole groups inside one segment share theirs.
    let cut (start: int) (segment: Segment) =
        let runs =
            [ start .. start + segment.Channels - 1 ]
            |> List.fold (fun runs channel ->
                let a = affines[channel / size]
                match runs with
                | (b, count) :: rest when b = a -> (b, count + 1) :: rest
                | _ -> (a, 1) :: runs) []
            |> List.rev
        let rec pieces (rest: Segment) runs =
            match runs with
            | [] -> []
            | ((a, b), n) :: more ->
                let piece, remainder = if more.IsEmpty then rest, rest else Segment.split n rest
                Segment.mapLaws (Law.map (Fn.affine a b)) piece :: pieces remainder more
        pieces segment runs, start + segment.Channels
    Ok { input with Segments = input.Segments |> List.mapFold (fun start s -> cut start s) 0 |> fst |> List.concat }

let layernorm (_: Context) (layer: CheckedLayer) (input: Signal) = groupNormalise 1 layer input

let groupnorm (_: Context) (layer: CheckedLayer) (input: Signal) =
    match input.Shape with
    | Spatial _ -> groupNormalise (Normalisation.groups layer.Args) layer input
    // The compiler normalises flat vectors over all features (LayerNorm).
    | Flat _ -> groupNormalise 1 layer input

/// Zero padding: z itself is padded when the law maps 0 to 0 (relu, tanh, …), else the values' moments are.
let zeropad (context: Context) (layer: CheckedLayer) (input: Signal) =
    let ph, pw = Structural.zeroPadding layer.Args
    let _, h, w = spatial input.Shape
    let oh, ow = h + 2 * ph, w + 2 * pw
    let pad (map: float[]) =
        Array.init (oh * ow) (fun o ->
            let y, x = o / ow - ph, o % ow - pw
            if y >= 0 && y < h && x >= 0 && x < w then map[y * w + x] else 0.0)
    let segments =
        input.Segments
        |> List.map (fun s ->
            let s = if s.Laws |> Array.forall Law.keepsZero then s else Signal.project context.Ids s
            let z = s.Gaussian.Stats
            let source o = let y, x = o / ow - ph, o % ow - pw in if y >= 0 && y < h && x >= 0 && x < w then y * w + x else -1
            let padded covariance (variances: float[]) o o' =
                let i, j = source o, source o'
                if i >= 0 && j >= 0 then Covariance.get covariance variances i j else 0.0
            let padded =
                { Id = context.Ids.Next()
                  Stats = { Mean = pad z.Mean; Constant = pad z.Constant; Fluctuating = pad z.Fluctuating }
                  Offsets = Covariance.offsets (oh * ow) (padded s.Gaussian.Offsets z.Constant)
                  Fluctuations = Covariance.fluctuations ow (oh * ow) (padded s.Gaussian.Fluctuations z.Fluctuating)
                  Spread = None }
            let zero = Law.identity ()
            let laws =
                Array.init (oh * ow) (fun o ->
                    let y, x = o / ow - ph, o % ow - pw
                    if y >= 0 && y < h && x >= 0 && x < w then s.Laws[y * w + x] else zero)
            Segment.create s.Channels oh ow padded s.Origin laws)
    Ok { Shape = layer.Facts.Output; Segments = segments }

/// Nearest upsampling copies values (the law carries over); bilinear mixes up to four neighbours with
/// PyTorch's weights (align_corners = false).
let upsample (context: Context) (layer: CheckedLayer) (input: Signal) =
    let factor, bilinear = Structural.upsampling layer.Args
    let _, h, w = spatial input.Shape
    let oh, ow = h * factor, w * factor
    let source u n =
        let x = max 0.0 ((float u + 0.5) / float factor - 0.5)
        let i0 = min (int (floor x)) (n - 1)
        let i1 = min (i0 + 1) (n - 1)
        let t = x - float i0
        if i0 = i1 then [ i0, 1.0 ] else [ i0, 1.0 - t; i1, t ]
    let segments =
        input.Segments
        |> List.map (fun s ->
            if not bilinear then
                let z = s.Gaussian.Stats
                let origin o = (o / ow / factor) * w + (o % ow) / factor
                let copy (map: float[]) = Array.init (oh * ow) (fun o -> map[origin o])
                let copied covariance (variances: float[]) o o' = Covariance.get covariance variances (origin o) (origin o')
                let gaussian =
                    { Id = context.Ids.Next()
                      Stats = { Mean = copy z.Mean; Constant = copy z.Constant; Fluctuating = copy z.Fluctuating }
                      Offsets = Covariance.offsets (oh * ow) (copied s.Gaussian.Offsets z.Constant)
                      Fluctuations = Covariance.fluctuations ow (oh * ow) (copied s.Gaussian.Fluctuations z.Fluctuating)
                      Spread = None }
                Segment.create s.Channels oh ow gaussian s.Origin (Array.init (oh * ow) (fun o -> s.Laws[origin o]))
            else
                let reads = Array.init (oh * ow) (fun o -> [| for y, a in source (o / ow) h do for x, b in source (o % ow) w -> y * w + x, a * b |])
                Signal.linear context.Ids reads oh ow s)
    Ok { Shape = layer.Facts.Output; Segments = segments }
