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

/// A Gaussian z = μ + C + F at every position of a map: C the channel offset, F the fluctuation.
/// Identity matters: two values that are functions of the same Gaussian (and channel) are dependent.
[<ReferenceEquality>]
type Gaussian = { Id: int; Stats: Stats }

/// One joint outcome of the dropout masks that a value depends on: the masks kept, and the value as a
/// function of z under that outcome.
type Outcome = { Kept: Set<int>; Fn: Fn }

/// A value as a function of its Gaussian z and of independent dropout masks (id, keep probability).
[<NoEquality; NoComparison>]
type Law =
    { Masks: (int * float) list
      Outcomes: Outcome list
      /// (μ, vc, vf) of z → (mean, constant, fluctuating) of the value.
      Memo: Dictionary<struct (float * float * float), struct (float * float * float)> }

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

    /// (a, b) when the value is a·z + b.
    let affine law =
        match law.Masks, law.Outcomes with
        | [], [ o ] -> o.Fn.Affine
        | _ -> None

    /// Whether every outcome maps z = 0 to 0 (zero padding can then pad z itself).
    let keepsZero law = law.Outcomes |> List.forall (fun o -> o.Fn.Apply 0.0 = 0.0)

    /// The moments of the value when z has mean μ, offset variance vc and fluctuating variance vf: the mean
    /// and second moment over z ~ N(μ, vc + vf) and the masks; the offset part Var_C(E[value | C]) by nested
    /// quadrature (outer over C, inner over F and the masks).
    let at law (mean: float) (constant: float) (fluctuating: float) =
        // Keys agree to 40 significant bits, so that positions whose moments differ only by the order of
        // summation (mirror images at the borders) share one computation.
        let round (x: float) = System.BitConverter.Int64BitsToDouble (System.BitConverter.DoubleToInt64Bits x &&& ~~~0xFFFL)
        let key = struct (round mean, round constant, round fluctuating)
        match law.Memo.TryGetValue key with
        | true, value -> value
        | _ ->
            let value =
                match affine law with
                | Some (a, b) -> struct (a * mean + b, a * a * constant, a * a * fluctuating)
                | None ->
                    let weighted = law.Outcomes |> List.map (fun o -> probability law o, o.Fn)
                    let total = constant + fluctuating
                    let first = weighted |> List.sumBy (fun (p, f) -> p * expect f mean total)
                    let second =
                        weighted
                        |> List.sumBy (fun (p, f) -> p * expect { f with Apply = (fun x -> let y = f.Apply x in y * y); Affine = None } mean total)
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
                    struct (first, offset, max 0.0 (second - first * first - offset))
            law.Memo[key] <- value
            value

/// Channels that share their Gaussian, law and per-position moments.
[<NoEquality; NoComparison>]
type Segment =
    { Channels: int
      Height: int
      Width: int
      Gaussian: Gaussian
      /// The first channel's index within the Gaussian's channels: values at the same index are dependent.
      Origin: int
      Law: Law
      /// The moments of the values themselves, per position.
      Values: Lazy<Stats> }

module Segment =
    let create channels height width gaussian origin law =
        { Channels = channels
          Height = height
          Width = width
          Gaussian = gaussian
          Origin = origin
          Law = law
          Values =
            lazy (
                let z = gaussian.Stats
                let n = z.Mean.Length
                let values = Stats.create n
                for i in 0 .. n - 1 do
                    let struct (m, c, f) = Law.at law z.Mean[i] z.Constant[i] z.Fluctuating[i]
                    values.Mean[i] <- m
                    values.Constant[i] <- c
                    values.Fluctuating[i] <- f
                values) }

    let withLaw law segment = create segment.Channels segment.Height segment.Width segment.Gaussian segment.Origin law

    /// The first `count` channels and the rest.
    let split count segment =
        let piece channels origin = { segment with Channels = channels; Origin = origin }
        piece count segment.Origin, piece (segment.Channels - count) (segment.Origin + count)

    let positions segment = segment.Height * segment.Width

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

module Signal =
    /// A segment whose values are Gaussian with the given moments, independent of everything before.
    let gaussianSegment (ids: Ids) channels height width stats =
        Segment.create channels height width { Id = ids.Next(); Stats = stats } 0 (Law.identity ())

    /// Standard normal input (every element independent N(0, 1)).
    let standardInput (ids: Ids) shape =
        match shape with
        | Spatial (c, h, w) -> { Shape = shape; Segments = [ gaussianSegment ids c h w (Stats.uniform (h * w) 0.0 0.0 1.0) ] }
        | Flat n -> { Shape = shape; Segments = [ gaussianSegment ids n 1 1 (Stats.uniform 1 0.0 0.0 1.0) ] }

    /// Input with the given per-position mean and variance, shared by every channel (no channel offset).
    let inputOfMaps (ids: Ids) shape (mean: float[]) (variance: float[]) =
        let c, h, w =
            match shape with
            | Spatial (c, h, w) -> c, h, w
            | Flat n -> n, 1, 1
        let stats = { Mean = Array.copy mean; Constant = Array.zeroCreate (h * w); Fluctuating = Array.copy variance }
        { Shape = shape; Segments = [ gaussianSegment ids c h w stats ] }

    /// Replaces a segment by a Gaussian with its moments: used where the exact law cannot be carried on.
    let moments (ids: Ids) (segment: Segment) =
        match Law.affine segment.Law with
        | Some (1.0, 0.0) -> segment
        | _ -> gaussianSegment ids segment.Channels segment.Height segment.Width segment.Values.Value

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
