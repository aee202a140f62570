/// Exact moment rules of the nonlocal PIDE operators (Dsl/Layers/Nonlocal.fs) at their initial parameters:
/// each is a fixed circulant linear map y = A·x per channel on the periodic map, so the mean maps by A, the
/// channel offsets' covariance by A·K·Aᵀ and the (spatially uncorrelated) fluctuations by Σᵢ A²ₒᵢ·Fᵢ.
/// The output is taken for Gaussian with those moments: exact on a Gaussian input (after a convolution), an
/// approximation after a nonlinearity, where the few large taps near the centre (the 5-point stencil's
/// five, say) keep some of the input's skew.
/// As everywhere in the propagation, the input's fluctuations are taken to be spatially uncorrelated; the
/// output's are not (A mixes positions) and convolutions pass that correlation on, so a second nonlocal
/// operator or an average pooling anywhere after one is predicted only approximately (a test measured a
/// weighted Laplacian two convolutions after a fractional one at 19.3 against 13.9 predicted).
module internal Receptor.Core.Signal.NonlocalRules

open System
open System.Numerics
open Receptor.Dsl
open Receptor.Dsl.Layers
open Receptor.Core.Signal.Signal

/// The circulant's generating kernel a(dy, dx) of a real, even Fourier multiplier on an h×w plane:
/// a = (1/HW)·Σ M(m, n)·cos(2π(m·dy/h + n·dx/w)).
let private kernelOfMultiplier h w (multiplier: int -> int -> float) =
    let cosines length = Array.init (length * length) (fun i -> cos (2.0 * Math.PI * float (i / length * (i % length)) / float length))
    let cy, cx = cosines h, cosines w
    let sines length = Array.init (length * length) (fun i -> sin (2.0 * Math.PI * float (i / length * (i % length)) / float length))
    let sy, sx = sines h, sines w
    let values = Array.init (h * w) (fun b -> multiplier (b / w) (b % w))
    Array.init (h * w) (fun d ->
        let dy, dx = d / w, d % w
        let mutable total = 0.0
        for m in 0 .. h - 1 do
            for n in 0 .. w - 1 do
                // cos(a + b) = cos a cos b − sin a sin b
                total <- total + values[m * w + n] * (cy[m * h + dy] * cx[n * w + dx] - sy[m * h + dy] * sx[n * w + dx])
        total / float (h * w))

/// The fractional Laplacian's kernel: multiplier |k|^(±2s), 0 at k = 0.
let fractionalKernel h w s inverse =
    let exponent = if inverse then -s else s
    kernelOfMultiplier h w (fun m n -> if m = 0 && n = 0 then 0.0 else Nonlocal.frequencySquared h w m n ** exponent)

/// The weighted Laplacian's kernel for weights W: a = ΣW·δ − W.
let weightedKernel h w (weights: float[]) =
    let total = Array.sum weights
    Array.init (h * w) (fun d -> (if d = 0 then total else 0.0) - weights[d])

/// y += c·x, a vector at a time.
let private axpy (c: float) (x: ReadOnlySpan<float>) (y: Span<float>) =
    let width = Vector<float>.Count
    let mutable i = 0
    if Vector.IsHardwareAccelerated then
        let scale = Vector<float> c
        while i + width <= x.Length do
            (Vector<float> (y.Slice i) + scale * Vector<float> (x.Slice i)).CopyTo (y.Slice i)
            i <- i + width
    while i < x.Length do
        y[i] <- y[i] + c * x[i]
        i <- i + 1

let private dot (x: float[]) (y: float[]) =
    let width = Vector<float>.Count
    let mutable sum = Vector<float>.Zero
    let mutable i = 0
    if Vector.IsHardwareAccelerated then
        while i + width <= x.Length do
            sum <- sum + Vector<float> (x, i) * Vector<float> (y, i)
            i <- i + width
    let mutable total = Vector.Dot (sum, Vector<float>.One)
    while i < x.Length do
        total <- total + x[i] * y[i]
        i <- i + 1
    total

/// y = A·x per channel with A[o, i] = a((o − i) mod the plane), on every segment: both covariances become
/// A·K·Aᵀ. A is read off the kernel, and held densely only on maps of at most Covariance.maxPositions
/// positions (on a 64×64 map it would hold 16 M entries); larger maps need only the diagonal.
let private circulant (context: Context) (kernel: float[]) (input: Signal) =
    let mapSegment (segment: Segment) =
        let h, w = segment.Height, segment.Width
        let n = h * w
        let a o i = kernel[((o / w - i / w + h) % h) * w + (o % w - i % w + w) % w]
        let rows = lazy (Array.init n (fun o -> Array.init n (fun i -> a o i)))
        let transform covariance (variances: float[]) =
            match covariance with
            | Correlated ->
                // K = r·rᵀ with r = √variance: A·K·Aᵀ = (A·r)(A·r)ᵀ.
                let r = variances |> Array.map sqrt
                let u = Array.init n (fun o -> Seq.sum (seq { for i in 0 .. n - 1 -> a o i * r[i] }))
                fun o o' -> u[o] * u[o']
            | Independent | Stationary _ when n > Covariance.maxPositions ->
                fun o o' -> if o = o' then Seq.sum (seq { for i in 0 .. n - 1 -> a o i * a o i * variances[i] }) else 0.0
            | held ->
                // A·K·Aᵀ with dense rows (n ≤ Covariance.maxPositions here): n³ multiply-adds, vectorised.
                let rows = rows.Value
                let product =
                    Array.init n (fun o ->
                        let row = Array.zeroCreate n
                        match held with
                        | Matrix k ->
                            for i in 0 .. n - 1 do
                                let coefficient = rows[o][i]
                                if coefficient <> 0.0 then axpy coefficient (ReadOnlySpan<float> (k, i * n, n)) (Span<float> row)
                        | _ ->
                            for i in 0 .. n - 1 do
                                row[i] <- rows[o][i] * variances[i]
                        row)
                fun o o' -> dot product[o] rows[o']
        let v = segment.Values.Value
        let offsets = transform segment.Offsets.Value v.Constant
        let fluctuations = transform segment.Fluctuations.Value v.Fluctuating
        let stats =
            { Mean = Array.init n (fun o -> Seq.sum (seq { for i in 0 .. n - 1 -> a o i * v.Mean[i] }))
              Constant = Array.init n (fun o -> max 0.0 (offsets o o))
              Fluctuating = Array.init n (fun o -> max 0.0 (fluctuations o o)) }
        let offDiagonal (diagonal: float[]) covariance o o' = if o = o' then diagonal[o] else covariance o o'
        Signal.gaussianSegment context.Ids segment.Channels h w stats
            (Covariance.offsets n (offDiagonal stats.Constant offsets))
            (Covariance.fluctuations w n (offDiagonal stats.Fluctuating fluctuations))
    { input with Segments = input.Segments |> List.map mapSegment }

let private plane (shape: Shape) =
    match shape with
    | Spatial (_, h, w) -> h, w
    | Flat n -> 1, n

let fractional inverse (context: Context) (layer: CheckedLayer) (input: Signal) =
    let h, w = plane input.Shape
    Ok (circulant context (fractionalKernel h w (Nonlocal.order layer.Args) inverse) input)

let weighted (context: Context) (_: CheckedLayer) (input: Signal) =
    let h, w = plane input.Shape
    Ok (circulant context (weightedKernel h w (Nonlocal.stencil h w)) input)
