/// What the propagation carries along the tree: for every channel segment of a node's output, per position,
/// the Gaussian that its values are a function of and that function (with the dropout masks it depends on).
/// Pointwise layers compose the function, so that x + f(x), x·σ(x) and activations after dropout stay exact;
/// layers that mix values (convolutions, pooling, sums of independent branches) start a fresh Gaussian with
/// the moments they produce.
module Receptor.Core.Signal.Signal

open System.Collections.Generic
open Receptor.Dsl
open Receptor.Core.Signal.Special
open Receptor.Core.Signal.Moments

/// Per-position moments of one channel's elements (every channel of a segment shares them), over weight
/// draws and inputs: the mean; the variance of the channel's random offset, constant over samples and
/// positions (μ·ΣW after a convolution of an input with non-zero mean, a bias); and the variance of the
/// rest, which fluctuates over samples and positions and is taken to be spatially uncorrelated.
type Stats =
    { Mean: float[]
      Constant: float[]
      Fluctuating: float[] }

module Stats =
    let create positions =
        { Mean = Array.zeroCreate positions
          Constant = Array.zeroCreate positions
          Fluctuating = Array.zeroCreate positions }

    let uniform positions mean constant fluctuating =
        { Mean = Array.create positions mean
          Constant = Array.create positions constant
          Fluctuating = Array.create positions fluctuating }

    /// E[x²] at position i.
    let second (s: Stats) i = s.Mean[i] * s.Mean[i] + s.Constant[i] + s.Fluctuating[i]

    let equal (a: Stats) (b: Stats) = a.Mean = b.Mean && a.Constant = b.Constant && a.Fluctuating = b.Fluctuating

/// Correlations by offset (dy, dx) within a radius, the same at every position of a map: (2r + 1)² of them,
/// row-major by (dy + r, dx + r).
type Stationary = { Width: int; Radius: int; Correlations: float[] }

/// How a channel's offsets, or its fluctuations, covary across positions: as a position × position matrix
/// (row-major, its diagonal the per-position variances) on maps of up to 32×32. On larger maps offsets are
/// taken to be perfectly correlated (exact away from zero-padded borders) and fluctuations to correlate as
/// they do at the map's centre, by offset, up to a radius (exact away from borders).
[<NoEquality; NoComparison>]
type Covariance =
    | Correlated
    | Independent
    | Matrix of float[]
    | Stationary of Stationary

module Covariance =
    let maxPositions = 1024

    /// Cov(xᵢ, xⱼ) given the per-position variances.
    let get covariance (variances: float[]) i j =
        match covariance with
        | Matrix k -> k[i * variances.Length + j]
        | Correlated -> sqrt (variances[i] * variances[j])
        | Independent -> if i = j then variances[i] else 0.0
        | Stationary s ->
            let dy, dx = i / s.Width - j / s.Width, i % s.Width - j % s.Width
            if abs dy > s.Radius || abs dx > s.Radius then 0.0
            else
                let side = 2 * s.Radius + 1
                s.Correlations[(dy + s.Radius) * side + dx + s.Radius] * sqrt (variances[i] * variances[j])

    /// (1/n)·Σⱼ Cov(xᵢ, xⱼ) for every position i.
    let rowMeans covariance (variances: float[]) =
        let n = variances.Length
        match covariance with
        | Correlated ->
            let rootMean = variances |> Array.averageBy sqrt
            variances |> Array.map (fun v -> sqrt v * rootMean)
        | Independent -> variances |> Array.map (fun v -> v / float n)
        | Matrix _ | Stationary _ -> Array.init n (fun i -> Seq.averageBy (fun j -> get covariance variances i j) (seq { 0 .. n - 1 }))

    /// How far a large map's fluctuations are followed: far enough for a few overlapping windows.
    let radius = 6

    let private build large n (f: int -> int -> float) =
        if n > maxPositions then large
        else
            let k = Array.zeroCreate (n * n)
            for i in 0 .. n - 1 do
                for j in i .. n - 1 do
                    let v = f i j
                    k[i * n + j] <- v
                    k[j * n + i] <- v
            Matrix k

    /// Offsets' covariance from its upper triangle, or Correlated on large maps.
    let offsets n f = build Correlated n f

    /// Fluctuations' covariance from its upper triangle on a map `width` wide; on large maps, the correlations
    /// f gives between the map's centre and its neighbours (Independent where they all vanish).
    let fluctuations width n (f: int -> int -> float) =
        if n <= maxPositions then build Independent n f
        else
            let height = n / width
            let centre = (height / 2) * width + width / 2
            let side = 2 * radius + 1
            let own = f centre centre
            let correlations =
                Array.init (side * side) (fun k ->
                    let y, x = height / 2 + k / side - radius, width / 2 + k % side - radius
                    if own <= 0.0 || y < 0 || y >= height || x < 0 || x >= width then 0.0
                    else
                        let j = y * width + x
                        if j = centre then 1.0
                        else
                            let other = f j j
                            if other <= 0.0 then 0.0 else f centre j / sqrt (own * other))
            if correlations |> Array.forall (fun c -> c = 0.0 || c = 1.0) then Independent
            else Stationary { Width = width; Radius = radius; Correlations = correlations }

/// A Gaussian z = μ + C + F at every position of a map: C the channel offset, F the fluctuation.
/// Identity matters: two values that are functions of the same Gaussian (and channel) are dependent.
[<ReferenceEquality>]
type Gaussian =
    { Id: int
      Stats: Stats
      Offsets: Covariance
      Fluctuations: Covariance
      /// Where a small fan-in leaves each channel's own fluctuation covariance between positions far from
      /// its average over weight draws (depthwise convolutions), its variance over the draws (n × n,
      /// row-major): a nonlinearity then turns it into covariance (Mehler's second term).
      Spread: float[] option }

/// One joint outcome of the dropout masks that a value depends on: the masks kept, and the value as a
/// function of z under that outcome.
type Outcome = { Kept: Set<int>; Fn: Fn }

/// A value as a function of its Gaussian z and of independent dropout masks (id, keep probability).
[<NoEquality; NoComparison>]
type Law =
    { Masks: (int * float) list
      Outcomes: Outcome list
      /// (μ, vc, vf) of z → (mean, constant, fluctuating) of the value.
      Memo: Dictionary<struct (float * float * float), struct (float * float * float * float)> }

module Law =
    /// Beyond this many masks in one value the law is given up for its moments (2^6 outcomes).
    let maxMasks = 6

    let private make masks outcomes = { Masks = masks; Outcomes = outcomes; Memo = Dictionary() }

    let identity () = make [] [ { Kept = Set.empty; Fn = Fn.identity } ]

    let map (f: Fn) law = make law.Masks (law.Outcomes |> List.map (fun o -> { o with Fn = Fn.compose f o.Fn }))

    let probability law (outcome: Outcome) =
        law.Masks |> List.fold (fun p (id, keep) -> if outcome.Kept.Contains id then p * keep else p * (1.0 - keep)) 1.0

    /// Inverted dropout: kept values are scaled by 1/keep, dropped ones are zero.
    let dropout id keep law =
        make
            ((id, keep) :: law.Masks)
            [ for o in law.Outcomes do
                  yield { Kept = o.Kept.Add id; Fn = Fn.compose (Fn.affine (1.0 / keep) 0.0) o.Fn }
                  yield { Kept = o.Kept; Fn = Fn.zero } ]

    /// The pointwise combination of two values of the same Gaussian; masks shared by both stay shared.
    let combine (op: float -> float -> float) a b =
        let masks = a.Masks @ (b.Masks |> List.filter (fun (id, _) -> not (List.exists (fun (i, _) -> i = id) a.Masks)))
        if masks.Length > maxMasks then None
        else
            let outcomeOf law (kept: Set<int>) =
                let own = law.Masks |> List.map fst |> Set.ofList
                law.Outcomes |> List.find (fun o -> o.Kept = Set.intersect kept own)
            let ids = masks |> List.map fst |> Array.ofList
            Some (
                make
                    masks
                    [ for bits in 0 .. (1 <<< ids.Length) - 1 do
                          let kept = ids |> Array.indexed |> Array.filter (fun (i, _) -> bits &&& (1 <<< i) <> 0) |> Array.map snd |> Set.ofArray
                          { Kept = kept; Fn = Fn.combine op (outcomeOf a kept).Fn (outcomeOf b kept).Fn } ])

    /// The value as a function of z averaged over its masks: what values at two positions, whose masks are
    /// drawn independently, share.
    let averaged law =
        law.Outcomes
        |> List.map (fun o -> Fn.compose (Fn.affine (probability law o) 0.0) o.Fn)
        |> List.reduce (Fn.combine (+))

    /// E[value⁴] when z ~ N(mean, variance), over the masks too.
    let fourth law (mean: float) (variance: float) =
        law.Outcomes |> List.sumBy (fun o -> probability law o * expect (Fn.derived (fun x -> pown (o.Fn.Apply x) 4) o.Fn) mean variance)

    /// (a, b) when the value is a·z + b.
    let affine law =
        match law.Masks, law.Outcomes with
        | [], [ o ] -> o.Fn.Affine
        | _ -> None

    /// Whether every outcome maps z = 0 to 0 (zero padding can then pad z itself).
    let keepsZero law = law.Outcomes |> List.forall (fun o -> o.Fn.Apply 0.0 = 0.0)

    /// The moments of the value when z has mean μ, offset variance vc and fluctuating variance vf: the mean
    /// and second moment over z ~ N(μ, vc + vf) and the masks; the offset part Var_C(E[value | C]) by nested
    /// quadrature (outer over C, inner over F and the masks); and the slope of the value's regression on z,
    /// Cov(value, z)/Var(z), which carries offset covariances across positions.
    /// Rounds to 40 significant bits, so that positions whose moments differ only by the order of summation
    /// (mirror images at the borders) share one computation.
    let round (x: float) = System.BitConverter.Int64BitsToDouble (System.BitConverter.DoubleToInt64Bits x &&& ~~~0xFFFL)

    /// The law's values at a few probe points of z, rounded: laws built alike at different positions share it,
    /// so that their work is shared too.
    let fingerprint law =
        [ for o in law.Outcomes do
              yield probability law o |> round
              for z in [ -4.0; -2.0; -1.0; -0.5; 0.0; 0.5; 1.0; 2.0; 4.0 ] -> round (o.Fn.Apply z) ]

    let at law (mean: float) (constant: float) (fluctuating: float) : struct (float * float * float * float) =
        let key = struct (round mean, round constant, round fluctuating)
        match law.Memo.TryGetValue key with
        | true, value -> value
        | _ ->
            let value =
                match affine law with
                | Some (a, b) -> struct (a * mean + b, a * a * constant, a * a * fluctuating, a)
                | None ->
                    let weighted = law.Outcomes |> List.map (fun o -> probability law o, o.Fn)
                    let total = constant + fluctuating
                    let first = weighted |> List.sumBy (fun (p, f) -> p * expect f mean total)
                    let second =
                        weighted |> List.sumBy (fun (p, f) -> p * expect (Fn.derived (fun x -> let y = f.Apply x in y * y) f) mean total)
                    let offset =
                        if constant <= 0.0 then 0.0
                        elif fluctuating <= 0.0 then second - first * first
                        else
                            let conditional c = weighted |> List.sumBy (fun (p, f) -> p * expect f (mean + c) fluctuating)
                            let square c = let g = conditional c in g * g
                            // E[value | C] is the Gaussian smoothing of f by F; when F is narrow beside C it
                            // keeps f's kinks, so integrate over C between them.
                            let kinks =
                                if fluctuating < 0.25 * constant then
                                    weighted
                                    |> List.map (fun (_, f) -> f.Kinks)
                                    |> List.fold (Option.map2 (@)) (Some [])
                                    |> Option.map (List.map (fun k -> k - mean))
                                else Some []
                            match kinks with
                            | Some (_ :: _ as ks) -> expect (Fn.kinked ks square) 0.0 constant - first * first
                            | _ -> NormalRule.expect coarse.Value (fun t -> square (sqrt constant * t)) - first * first
                    let offset = max 0.0 offset
                    let slope =
                        if total <= 0.0 then 0.0
                        else (weighted |> List.sumBy (fun (p, f) -> p * expect (Fn.derived (fun x -> f.Apply x * (x - mean)) f) mean total)) / total
                    struct (first, offset, max 0.0 (second - first * first - offset), slope)
            law.Memo[key] <- value
            value

/// Channels that share their Gaussian, laws and per-position moments.
[<NoEquality; NoComparison>]
type Segment =
    { Channels: int
      Height: int
      Width: int
      Gaussian: Gaussian
      /// The first channel's index within the Gaussian's channels: values at the same index are dependent.
      Origin: int
      /// The value's law at each position; positions alike share one law object.
      Laws: Law[]
      /// The moments of the values themselves, per position.
      Values: Lazy<Stats>
      /// The covariance of the values' channel offsets across positions.
      Offsets: Lazy<Covariance>
      /// The covariance of the values' fluctuations across positions.
      Fluctuations: Lazy<Covariance> }

module Segment =
    /// Cov of the values' offsets at i and j from those of z, by the first two terms of their Hermite
    /// (Mehler) expansion: sᵢsⱼ·K + RᵢRⱼ·K²/(vcᵢ·vcⱼ), with s the regression slope on z and R² the rest of
    /// the value's offset variance; exact for affine laws, on the diagonal and for uncorrelated positions.
    let private valueOffsets (gaussian: Gaussian) (laws: Law[]) (values: Stats) =
        match gaussian.Offsets with
        | Correlated | Stationary _ -> Correlated
        | Independent -> Independent
        | Matrix k ->
            let z = gaussian.Stats
            let n = z.Mean.Length
            let slope = Array.init n (fun i -> let struct (_, _, _, s) = Law.at laws[i] z.Mean[i] z.Constant[i] z.Fluctuating[i] in s)
            let rest = Array.init n (fun i -> sqrt (max 0.0 (values.Constant[i] - slope[i] * slope[i] * z.Constant[i])))
            Covariance.offsets n (fun i j ->
                if i = j then values.Constant[i]
                else
                    let c = k[i * n + j]
                    let scale = z.Constant[i] * z.Constant[j]
                    slope[i] * slope[j] * c + (if scale > 0.0 then rest[i] * rest[j] * c * c / scale else 0.0))

    /// Cov of the values' fluctuations at i and j: Mehler's expansion of their whole covariance (from z's
    /// offsets and fluctuations) less the offsets' part. Exact for affine laws; where z's fluctuations are
    /// uncorrelated the values' are too (fluctuations and dropout masks are drawn per element).
    let private valueFluctuations width (gaussian: Gaussian) (laws: Law[]) (values: Stats) (offsets: Lazy<Covariance>) =
        match gaussian.Fluctuations, gaussian.Spread with
        | Independent, None -> Independent
        | fluctuations, spread ->
            let z = gaussian.Stats
            let n = z.Mean.Length
            let zCovariance i j = Covariance.get fluctuations z.Fluctuating i j
            match laws |> Array.map Law.affine with
            // An affine law keeps correlations; the spread of a linear function's covariance averages out.
            | slopes when slopes |> Array.forall Option.isSome ->
                match fluctuations with
                | Matrix _ ->
                    let a = slopes |> Array.map (fun s -> fst s.Value)
                    Covariance.fluctuations width n (fun i j -> if i = j then values.Fluctuating[i] else a[i] * a[j] * zCovariance i j)
                | other -> other
            | _ ->
                let total i = z.Constant[i] + z.Fluctuating[i]
                let memo = Dictionary<obj, Mehler.Expansion>(HashIdentity.Structural)
                let expansions =
                    Array.init n (fun i ->
                        let key = box (laws[i], Law.round z.Mean[i], Law.round (total i))
                        match memo.TryGetValue key with
                        | true, e -> e
                        | _ ->
                            let e = Mehler.expand (Law.averaged laws[i]) z.Mean[i] (total i)
                            memo[key] <- e
                            e)
                // A channel's correlation ρ varies over weight draws: E[ρ²] exceeds the mean's square by the spread.
                let spreadTerm i j scale =
                    match spread with
                    | Some k -> expansions[i].Coefficients[1] * expansions[j].Coefficients[1] * k[i * n + j] / scale
                    | None -> 0.0
                Covariance.fluctuations width n (fun i j ->
                    if i = j then values.Fluctuating[i]
                    else
                        let f = zCovariance i j
                        let scale = total i * total j
                        if scale <= 0.0 then 0.0
                        elif f = 0.0 then spreadTerm i j scale
                        else
                            let rho = (Covariance.get gaussian.Offsets z.Constant i j + f) / sqrt scale
                            Mehler.covariance expansions[i] expansions[j] rho - Covariance.get offsets.Value values.Constant i j
                            + spreadTerm i j scale)

    let create channels height width gaussian origin (laws: Law[]) =
        let values =
            lazy (
                let z = gaussian.Stats
                let n = z.Mean.Length
                let values = Stats.create n
                for i in 0 .. n - 1 do
                    let struct (m, c, f, _) = Law.at laws[i] z.Mean[i] z.Constant[i] z.Fluctuating[i]
                    values.Mean[i] <- m
                    values.Constant[i] <- c
                    values.Fluctuating[i] <- f
                values)
        let offsets = lazy (valueOffsets gaussian laws values.Value)
        { Channels = channels
          Height = height
          Width = width
          Gaussian = gaussian
          Origin = origin
          Laws = laws
          Values = values
          Offsets = offsets
          Fluctuations = lazy (valueFluctuations width gaussian laws values.Value offsets) }

    let withLaws laws segment = create segment.Channels segment.Height segment.Width segment.Gaussian segment.Origin laws

    /// Applies f once to each distinct law of the segment.
    let mapLaws (f: Law -> Law) segment =
        let mapped = Dictionary<Law, Law>(HashIdentity.Reference)
        let laws =
            segment.Laws
            |> Array.map (fun law ->
                match mapped.TryGetValue law with
                | true, m -> m
                | _ ->
                    let m = f law
                    mapped[law] <- m
                    m)
        withLaws laws segment

    /// The first `count` channels and the rest.
    let split count segment =
        let piece channels origin = { segment with Channels = channels; Origin = origin }
        piece count segment.Origin, piece (segment.Channels - count) (segment.Origin + count)

    let positions segment = segment.Height * segment.Width

    let isGaussian segment = segment.Laws |> Array.forall (fun l -> Law.affine l = Some (1.0, 0.0))

/// A node's output: its shape and its channel segments, in channel order. Flat vectors keep the maps
/// they were flattened from (features are channel-major), so each feature keeps its own moments.
[<NoEquality; NoComparison>]
type Signal = { Shape: Shape; Segments: Segment list }

/// Fresh Gaussians for a propagation; ids only need to be unique within one.
type Ids() =
    let mutable next = 0
    member _.Next() =
        next <- next + 1
        next

/// Marginal laws: a value whose law cannot be carried on exactly (a sum, product or maximum of independent
/// values) is re-expressed as a monotone function of a fresh standard normal that has its exact marginal
/// distribution: v = Q(Φ(u)), Q tabulated from the values' quantiles and corrected to the exact mean and
/// variance. Later nonlinearities then see the skew of x + f(x)-free sums such as relu(z₁) + body(z₂).
module Marginal =
    /// Normal quantile points at which each input value is discretised.
    let private fine = lazy (normalQuantilePoints 256)
    let private sparse = lazy (normalQuantilePoints 64)

    /// The grid of u on which Q∘Φ is tabulated.
    let private grid = Array.init 97 (fun i -> -6.0 + 0.125 * float i)

    /// A discrete law: values and their probabilities.
    type private Atoms = { Values: float[]; Probabilities: float[] }

    /// The discrete law of one value at one position.
    let private atoms (points: float[]) (law: Law) (mean: float) (variance: float) =
        let sd = sqrt (max variance 0.0)
        let outcomes = Array.ofList law.Outcomes
        let n = points.Length
        let values = Array.zeroCreate (outcomes.Length * n)
        let probabilities = Array.zeroCreate (outcomes.Length * n)
        outcomes
        |> Array.iteri (fun k o ->
            let p = Law.probability law o / float n
            for j in 0 .. n - 1 do
                values[k * n + j] <- o.Fn.Apply (mean + sd * points[j])
                probabilities[k * n + j] <- p)
        { Values = values; Probabilities = probabilities }

    /// The law of op(x, y) for independent discrete x and y, sorted by value.
    let private combine (op: float -> float -> float) (a: Atoms) (b: Atoms) =
        let n, m = a.Values.Length, b.Values.Length
        let values = Array.zeroCreate (n * m)
        let probabilities = Array.zeroCreate (n * m)
        for i in 0 .. n - 1 do
            for j in 0 .. m - 1 do
                values[i * m + j] <- op a.Values[i] b.Values[j]
                probabilities[i * m + j] <- a.Probabilities[i] * b.Probabilities[j]
        System.Array.Sort (values, probabilities)
        { Values = values; Probabilities = probabilities }

    let private sorted (a: Atoms) =
        let values, probabilities = Array.copy a.Values, Array.copy a.Probabilities
        System.Array.Sort (values, probabilities)
        { Values = values; Probabilities = probabilities }

    /// Re-discretises a sorted law at 256 equally likely levels, to bound the work of the next step.
    let private compress (a: Atoms) =
        let count = 256
        let total = Array.sum a.Probabilities
        let values = Array.zeroCreate count
        let mutable cumulative = 0.0
        let mutable j = 0
        for k in 0 .. a.Values.Length - 1 do
            cumulative <- cumulative + a.Probabilities[k] / total
            while j < count && (float j + 0.5) / float count <= cumulative do
                values[j] <- a.Values[k]
                j <- j + 1
        for k in j .. count - 1 do
            values[k] <- a.Values[a.Values.Length - 1]
        { Values = values; Probabilities = Array.create count (1.0 / float count) }

    /// Q∘Φ tabulated on the grid from a sorted law (interpolating between its atoms' probability midpoints),
    /// then made exact in mean and variance.
    let private tabulate (a: Atoms) (mean: float) (variance: float) =
        let values = a.Values
        let total = Array.sum a.Probabilities
        let midpoints = Array.zeroCreate values.Length
        let mutable before = 0.0
        for k in 0 .. values.Length - 1 do
            let p = a.Probabilities[k] / total
            midpoints[k] <- before + 0.5 * p
            before <- before + p
        let last = values.Length - 1
        let quantile (p: float) =
            if p <= midpoints[0] then values[0]
            elif p >= midpoints[last] then values[last]
            else
                let found = System.Array.BinarySearch (midpoints, p)
                let k = if found >= 0 then found else ~~~found - 1
                let k = min k (last - 1)
                let t = (p - midpoints[k]) / (midpoints[k + 1] - midpoints[k])
                values[k] + t * (values[k + 1] - values[k])
        let table = grid |> Array.map (fun u -> quantile (normalCdf u))
        let raw u =
            let x = (u - grid[0]) / 0.125
            let i = max 0 (min (grid.Length - 2) (int (floor x)))
            table[i] + (x - float i) * (table[i + 1] - table[i])
        let m = NormalRule.expect Special.fine.Value raw
        let v = NormalRule.expect Special.fine.Value (fun u -> (raw u - m) ** 2.0)
        let scale = if v > 0.0 then sqrt (variance / v) else 0.0
        let apply u = mean + scale * (raw u - m)
        if scale > 0.0 && Array.pairwise table |> Array.forall (fun (a, b) -> b > a) then
            let inverse y =
                let target = m + (y - mean) / scale
                let i = table |> Array.tryFindIndex (fun t -> t >= target) |> Option.defaultValue (table.Length - 1) |> max 1
                grid[i - 1] + 0.125 * (target - table[i - 1]) / (table[i] - table[i - 1])
            Fn.monotone apply inverse
        else Fn.smooth apply

    let private combined (op: float -> float -> float) (parts: (Law * float * float) list) =
        let discretised = parts |> List.mapi (fun i (law, m, v) -> atoms (if i = 0 then fine.Value else sparse.Value) law m v)
        match discretised with
        | [ single ] -> sorted single
        | first :: rest -> rest |> List.fold (fun acc next -> combine op (compress acc) next) (sorted first)
        | [] -> invalidArg (nameof parts) "nothing to combine"

    /// The law, as a function of a standard normal, of op applied to independent values given by their laws
    /// and Gaussian moments (mean, total variance) at one position; `mean` and `variance` are the exact
    /// moments of the result.
    let ofIndependent (op: float -> float -> float) (parts: (Law * float * float) list) mean variance =
        tabulate (combined op parts) mean variance

    /// The mean and variance of op applied to independent values, from their discretised laws.
    let momentsOf (op: float -> float -> float) (parts: (Law * float * float) list) =
        let a = combined op parts
        let total = Array.sum a.Probabilities
        let mean = (Array.map2 (*) a.Values a.Probabilities |> Array.sum) / total
        mean, (Array.map2 (fun x p -> (x - mean) * (x - mean) * p) a.Values a.Probabilities |> Array.sum) / total

module Signal =
    let private uniformLaws positions = Array.create positions (Law.identity ())

    /// A Gaussian segment whose channels' fluctuation covariances spread over weight draws (Gaussian.Spread).
    let spreadSegment (ids: Ids) channels height width stats offsets fluctuations spread =
        let gaussian = { Id = ids.Next(); Stats = stats; Offsets = offsets; Fluctuations = fluctuations; Spread = spread }
        Segment.create channels height width gaussian 0 (uniformLaws (height * width))

    /// A segment whose values are Gaussian with the given moments and covariances across positions,
    /// independent of everything before.
    let gaussianSegment (ids: Ids) channels height width stats offsets fluctuations =
        spreadSegment ids channels height width stats offsets fluctuations None

    /// A fresh standard-normal Gaussian split into offset and fluctuation as the given moments are, with
    /// per-position laws that turn it into values with those moments.
    let projectedSegment (ids: Ids) channels height width (stats: Stats) (offsets: Covariance) (fluctuations: Covariance) (laws: Law[]) =
        let n = height * width
        let total i = stats.Constant[i] + stats.Fluctuating[i]
        let standard =
            { Mean = Array.zeroCreate n
              Constant = Array.init n (fun i -> if total i > 0.0 then stats.Constant[i] / total i else 0.0)
              Fluctuating = Array.init n (fun i -> if total i > 0.0 then stats.Fluctuating[i] / total i else 1.0) }
        let standardised covariance build =
            match covariance with
            | Matrix k -> build n (fun i j -> if total i > 0.0 && total j > 0.0 then k[i * n + j] / sqrt (total i * total j) else 0.0)
            | other -> other
        let gaussian =
            { Id = ids.Next()
              Stats = standard
              Offsets = standardised offsets Covariance.offsets
              Fluctuations = standardised fluctuations (Covariance.fluctuations width)
              Spread = None }
        Segment.create channels height width gaussian 0 laws

    /// Standard normal input (every element independent N(0, 1)).
    let standardInput (ids: Ids) shape =
        match shape with
        | Spatial (c, h, w) ->
            { Shape = shape; Segments = [ gaussianSegment ids c h w (Stats.uniform (h * w) 0.0 0.0 1.0) Independent Independent ] }
        | Flat n -> { Shape = shape; Segments = [ gaussianSegment ids n 1 1 (Stats.uniform 1 0.0 0.0 1.0) Independent Independent ] }

    /// Input with the given per-position mean and variance, shared by every channel (no channel offset).
    let inputOfMaps (ids: Ids) shape (mean: float[]) (variance: float[]) =
        let c, h, w =
            match shape with
            | Spatial (c, h, w) -> c, h, w
            | Flat n -> n, 1, 1
        let stats = { Mean = Array.copy mean; Constant = Array.zeroCreate (h * w); Fluctuating = Array.copy variance }
        { Shape = shape; Segments = [ gaussianSegment ids c h w stats Independent Independent ] }

    /// Per position, a law built once per distinct key (the input laws and rounded moments).
    let private perPosition (n: int) (key: int -> obj) (build: int -> Law) =
        let built = Dictionary<obj, Law>(HashIdentity.Structural)
        Array.init n (fun i ->
            let k = key i
            match built.TryGetValue k with
            | true, law -> law
            | _ ->
                let law = build i
                built[k] <- law
                law)

    /// Re-expresses a segment as a function of a fresh Gaussian with the same marginal law at every position
    /// and no dropout masks: used where the exact law cannot be carried on.
    let project (ids: Ids) (segment: Segment) =
        if Segment.isGaussian segment then segment
        else
            let z = segment.Gaussian.Stats
            let v = segment.Values.Value
            let laws =
                perPosition (Segment.positions segment)
                    (fun i -> box (Law.fingerprint segment.Laws[i], Law.round z.Mean[i], Law.round (z.Constant[i] + z.Fluctuating[i]), Law.round v.Mean[i], Law.round (v.Constant[i] + v.Fluctuating[i])))
                    (fun i ->
                        let fn = Marginal.ofIndependent (+) [ segment.Laws[i], z.Mean[i], z.Constant[i] + z.Fluctuating[i] ] v.Mean[i] (v.Constant[i] + v.Fluctuating[i])
                        Law.map fn (Law.identity ()))
            projectedSegment ids segment.Channels segment.Height segment.Width v segment.Offsets.Value segment.Fluctuations.Value laws

    /// A piece's law and Gaussian moments (mean, total variance) at position i.
    let part (s: Segment) i = let z = s.Gaussian.Stats in s.Laws[i], z.Mean[i], z.Constant[i] + z.Fluctuating[i]

    /// op over independent aligned pieces: the given moments, and the marginal law of the result.
    let independent (ids: Ids) (op: float -> float -> float) (pieces: Segment list) (stats: Stats) (offsets: Covariance) (fluctuations: Covariance) =
        let first = pieces.Head
        let n = Segment.positions first
        let laws =
            perPosition n
                (fun i ->
                    box (pieces |> List.map (fun s -> let law, m, v = part s i in Law.fingerprint law, Law.round m, Law.round v), Law.round stats.Mean[i], Law.round (stats.Constant[i] + stats.Fluctuating[i])))
                (fun i ->
                    let fn = Marginal.ofIndependent op (pieces |> List.map (fun s -> part s i)) stats.Mean[i] (stats.Constant[i] + stats.Fluctuating[i])
                    Law.map fn (Law.identity ()))
        projectedSegment ids first.Channels first.Height first.Width stats offsets fluctuations laws

    /// Values read through fixed shares, yₒ = Σᵢ aₒᵢ·xᵢ (pooling, resampling): means, offsets and
    /// fluctuations follow exactly, both covariances as Σᵢⱼ aₒᵢ·aₒ′ⱼ·Kᵢⱼ.
    let linear (ids: Ids) (reads: (int * float)[][]) oh ow (segment: Segment) =
        let v = segment.Values.Value
        let transform covariance (variances: float[]) o o' =
            let mutable total = 0.0
            for i, a in reads[o] do
                for j, b in reads[o'] do
                    total <- total + a * b * Covariance.get covariance variances i j
            total
        let offsets = transform segment.Offsets.Value v.Constant
        let fluctuations = transform segment.Fluctuations.Value v.Fluctuating
        let n = oh * ow
        let stats =
            { Mean = reads |> Array.map (Array.sumBy (fun (i, a) -> a * v.Mean[i]))
              Constant = Array.init n (fun o -> offsets o o)
              Fluctuating = Array.init n (fun o -> fluctuations o o) }
        gaussianSegment ids segment.Channels oh ow stats (Covariance.offsets n offsets) (Covariance.fluctuations ow n fluctuations)

    /// Cuts every branch's segments at the union of their boundaries, giving aligned pieces.
    let align (branches: Segment list list) : Segment list list =
        let rec go (rest: Segment list list) acc =
            if rest |> List.exists List.isEmpty then List.rev acc
            else
                let width = rest |> List.map (fun s -> (List.head s).Channels) |> List.min
                let pieces, remainders =
                    rest
                    |> List.map (fun segments ->
                        match segments with
                        | head :: tail when head.Channels = width -> head, tail
                        | head :: tail ->
                            let first, second = Segment.split width head
                            first, second :: tail
                        | [] -> failwith "unreachable: empty branch")
                    |> List.unzip
                go remainders (pieces :: acc)
        go branches []

    /// Channel-averaged mean and variance of the node's output, and the mean offset variance.
    let summary (signal: Signal) =
        let mutable count, first, second, offset = 0.0, 0.0, 0.0, 0.0
        for s in signal.Segments do
            let v = s.Values.Value
            for i in 0 .. v.Mean.Length - 1 do
                let c = float s.Channels
                count <- count + c
                first <- first + c * v.Mean[i]
                second <- second + c * Stats.second v i
                offset <- offset + c * v.Constant[i]
        let mean = first / count
        mean, second / count - mean * mean, offset / count
