/// The largest of a pooling window's values when they covary (small maps: overlapping windows, zero-padded
/// borders, offsets that differ across positions), by integrating over their joint Gaussian law with a fixed
/// set of normal draws: offsets outside, fluctuations inside, so that the result splits into the part constant
/// over samples and the part that fluctuates.
module internal Receptor.Core.Signal.WindowMax

open System
open Receptor.Core.Signal.Moments

/// Windows of more elements are left to the rule of a shared offset and independent fluctuations.
let maxElements = 64

// Many offset draws, few fluctuation draws under each: the offset, shared by a window, dominates the error.
let private offsetDraws = 4096
let private fluctuationDraws = 4

type WindowMoments =
    { Mean: float
      /// Var over offsets of E[max | offsets].
      Constant: float
      Fluctuating: float
      /// E[∂max/∂zᵢ] per element: Cov(max, y) = Σᵢ slopeᵢ·Cov(zᵢ, y) for any y jointly Gaussian with z.
      Slopes: float[] }

/// Standard normal draws, the same for every window so that results are deterministic and vary smoothly
/// with their inputs: offsetDraws rows (in antithetic pairs, u and −u, which cancels the error of the part
/// of the maximum that is odd in the offsets), then offsetDraws × fluctuationDraws rows, maxElements wide.
let private normals =
    lazy (
        let random = Random 20261205
        let count = offsetDraws * (1 + fluctuationDraws) * maxElements
        let values = Array.zeroCreate count
        for k in 0 .. 2 .. count - 1 do
            let u1 = 1.0 - random.NextDouble()
            let u2 = random.NextDouble()
            let r = sqrt (-2.0 * log u1)
            values[k] <- r * cos (2.0 * Math.PI * u2)
            if k + 1 < count then values[k + 1] <- r * sin (2.0 * Math.PI * u2)
        // The first coordinate carries a window's common offset, by far the largest part where offsets are
        // correlated across the window: stratified, at the normal's equally likely points, taken in bit-reversed
        // order so that every power-of-two prefix of the rows (pairCovariance uses a quarter) is stratified too.
        let strata = Special.normalQuantilePoints offsetDraws
        let pairs = offsetDraws / 2
        let bits = int (Math.Round (Math.Log2 (float pairs)))
        let reversed (r: int) = Seq.fold (fun acc b -> (acc <<< 1) ||| ((r >>> b) &&& 1)) 0 (seq { 0 .. bits - 1 })
        for pair in 0 .. pairs - 1 do
            values[2 * pair * maxElements] <- strata[pairs + reversed pair]
            for e in 0 .. maxElements - 1 do
                values[(2 * pair + 1) * maxElements + e] <- -values[2 * pair * maxElements + e]
        values)

/// L with L·Lᵀ = a for a positive semidefinite k×k matrix (row-major); columns whose pivot vanishes (a
/// value that is a copy of others, or zero) are left zero. The covariances between windows are
/// approximations, so a matrix may be slightly indefinite: no row of L is let grow past its diagonal's root,
/// which keeps every drawn value's variance what the matrix says.
let private cholesky (a: float[]) k =
    let l = Array.zeroCreate (k * k)
    let rowSquares = Array.zeroCreate k
    for j in 0 .. k - 1 do
        let d = a[j * k + j] - rowSquares[j]
        if d > 1e-9 * abs a[j * k + j] && d > 0.0 then
            let root = sqrt d
            l[j * k + j] <- root
            rowSquares[j] <- rowSquares[j] + d
            for i in j + 1 .. k - 1 do
                let mutable s = a[i * k + j]
                for m in 0 .. j - 1 do
                    s <- s - l[i * k + m] * l[j * k + m]
                let room = max 0.0 (a[i * k + i] - rowSquares[i])
                let value = max -(sqrt room) (min (sqrt room) (s / root))
                l[i * k + j] <- value
                rowSquares[i] <- rowSquares[i] + value * value
    l

/// z = mean + L·u for the draw row `row`.
let private draw (l: float[]) k (u: float[]) row (into: float[]) (mean: int -> float) =
    let offset = row * maxElements
    for i in 0 .. k - 1 do
        let mutable s = mean i
        for m in 0 .. i do
            s <- s + l[i * k + m] * u[offset + m]
        into[i] <- s

/// z drawn `outer` × fluctuationDraws times (offset draw major), k values per draw.
let private draws outer (mean: float[]) (offsets: float[]) (fluctuations: float[]) =
    let k = mean.Length
    let u = normals.Value
    let lc, lf = cholesky offsets k, cholesky fluctuations k
    let c = Array.zeroCreate k
    let zs = Array.zeroCreate (outer * fluctuationDraws * k)
    let z = Array.zeroCreate k
    for s in 0 .. outer - 1 do
        draw lc k u s c (fun i -> mean[i])
        for t in 0 .. fluctuationDraws - 1 do
            draw lf k u (offsetDraws + s * fluctuationDraws + t) z (fun i -> c[i])
            System.Array.Copy (z, 0, zs, (s * fluctuationDraws + t) * k, k)
    zs

/// Cov(a, b) over draws, split into Cov over offsets of E[a | offsets]·E[b | offsets] and the rest; the
/// spread of the conditional means is corrected for what their own sampling noise adds.
let private split outer (a: float[]) (b: float[]) =
    let inner = fluctuationDraws
    let mutable sumA, sumB, sumConditional, sumProducts, sumWithin = 0.0, 0.0, 0.0, 0.0, 0.0
    for s in 0 .. outer - 1 do
        let mutable ma, mb, ab = 0.0, 0.0, 0.0
        for t in 0 .. inner - 1 do
            let d = s * inner + t
            ma <- ma + a[d]
            mb <- mb + b[d]
            ab <- ab + a[d] * b[d]
        let ca, cb = ma / float inner, mb / float inner
        sumA <- sumA + ca
        sumB <- sumB + cb
        sumConditional <- sumConditional + ca * cb
        sumProducts <- sumProducts + ab
        sumWithin <- sumWithin + (ab - float inner * ca * cb) / float (inner - 1)
    let meanA, meanB = sumA / float outer, sumB / float outer
    let total = sumProducts / float (outer * inner) - meanA * meanB
    let between = sumConditional / float outer - meanA * meanB - sumWithin / float outer / float inner
    let constant = if abs between > abs total then total else between
    constant, total - constant

/// The moments of maxᵢ fᵢ(zᵢ) over a window of k ≤ maxElements elements, z Gaussian with the given means
/// and offset and fluctuation covariances (k×k, row-major).
let moments (fns: Fn[]) (mean: float[]) (offsets: float[]) (fluctuations: float[]) =
    let k = fns.Length
    let zs = draws offsetDraws mean offsets fluctuations
    let count = offsetDraws * fluctuationDraws
    let maxima = Array.zeroCreate count
    let slopes = Array.zeroCreate k
    for d in 0 .. count - 1 do
        let mutable best, arg = Double.NegativeInfinity, 0
        for i in 0 .. k - 1 do
            let value = fns[i].Apply zs[d * k + i]
            if value > best then
                best <- value
                arg <- i
        maxima[d] <- best
        let z, h = zs[d * k + arg], 1e-6 * (1.0 + abs zs[d * k + arg])
        slopes[arg] <- slopes[arg] + (fns[arg].Apply (z + h) - fns[arg].Apply (z - h)) / (2.0 * h)
    let constant, fluctuating = split offsetDraws maxima maxima
    { Mean = Array.average maxima
      Constant = max 0.0 constant
      Fluctuating = max 0.0 fluctuating
      Slopes = slopes |> Array.map (fun x -> x / float count) }

/// Cov(max over A, max over B) of two windows that share elements, split into offsets' and fluctuations'
/// parts: the elements are the union's (fns, means, covariances over the union), a and b index into it.
let pairCovariance (fns: Fn[]) (mean: float[]) (offsets: float[]) (fluctuations: float[]) (a: int[]) (b: int[]) =
    let k = fns.Length
    let outer = offsetDraws / 4
    let zs = draws outer mean offsets fluctuations
    let count = outer * fluctuationDraws
    let maxOver (members: int[]) = Array.init count (fun d -> members |> Array.fold (fun best i -> max best (fns[i].Apply zs[d * k + i])) Double.NegativeInfinity)
    split outer (maxOver a) (maxOver b)
