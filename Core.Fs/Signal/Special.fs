/// Special functions and Gaussian quadrature that the moment calculus rests on: erf and the normal
/// distribution (.NET has neither), and Gauss–Hermite nodes computed once by Newton's iteration.
module Receptor.Core.Signal.Special

open System

let private sqrtPi = sqrt Math.PI

/// erf(x) by its Taylor series for |x| < 2 (about 30 terms to full double precision).
let private erfSeries x =
    let x2 = x * x
    let mutable term = x
    let mutable sum = x
    let mutable n = 0
    while abs term > 1e-17 * abs sum do
        n <- n + 1
        term <- -term * x2 / float n
        sum <- sum + term / float (2 * n + 1)
    2.0 / sqrtPi * sum

/// erfc(x) for x ≥ 2 by the continued fraction erfc x = e^{-x²}/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))),
/// evaluated by Lentz's method until it stops changing (about 50 terms at x = 2, 10 beyond x = 6).
let private erfcFraction x =
    if x > 27.3 then 0.0
    else
        let tiny = 1e-300
        let mutable f = x
        let mutable c = x
        let mutable d = 0.0
        let mutable k = 1
        let mutable converged = false
        while not converged && k < 500 do
            let a = float k / 2.0
            d <- x + a * d
            d <- (if d = 0.0 then tiny else 1.0 / d)
            c <- x + a / c
            if c = 0.0 then c <- tiny
            let delta = c * d
            f <- f * delta
            converged <- abs (delta - 1.0) < 1e-16
            k <- k + 1
        exp (-x * x) / sqrtPi / f

let erfc x =
    if Double.IsNaN x then nan
    elif x >= 2.0 then erfcFraction x
    elif x <= -2.0 then 2.0 - erfcFraction -x
    else 1.0 - erfSeries x

let erf x =
    if Double.IsNaN x then nan
    elif abs x < 2.0 then erfSeries x
    elif x > 0.0 then 1.0 - erfcFraction x
    else erfcFraction -x - 1.0

/// The standard normal density φ.
let normalPdf x = exp (-0.5 * x * x) / sqrt (2.0 * Math.PI)

/// The standard normal distribution function Φ, accurate in both tails.
let normalCdf x = 0.5 * erfc (-x / sqrt 2.0)

/// Gauss–Hermite rule for ∫ e^{-x²} g(x) dx: nodes and weights, by Newton's iteration on the normalised
/// Hermite recurrence with the classical starting guesses (Numerical Recipes' gauher).
let gaussHermite (n: int) =
    if n < 1 then invalidArg (nameof n) "at least one node"
    let nodes = Array.zeroCreate<float> n
    let weights = Array.zeroCreate<float> n
    let piToMinusQuarter = Math.Pow(Math.PI, -0.25)
    let mutable z = 0.0
    for i in 0 .. (n + 1) / 2 - 1 do
        z <-
            match i with
            | 0 -> sqrt (float (2 * n + 1)) - 1.85575 * Math.Pow(float (2 * n + 1), -0.16667)
            | 1 -> z - 1.14 * Math.Pow(float n, 0.426) / z
            | 2 -> 1.86 * z - 0.86 * nodes[0]
            | 3 -> 1.91 * z - 0.91 * nodes[1]
            | _ -> 2.0 * z - nodes[i - 2]
        let mutable derivative = 0.0
        let mutable converged = false
        let mutable iterations = 0
        while not converged do
            // p1 is the normalised Hermite polynomial of degree n at z, p2 that of degree n − 1.
            let mutable p1 = piToMinusQuarter
            let mutable p2 = 0.0
            for j in 1 .. n do
                let p3 = p2
                p2 <- p1
                p1 <- z * sqrt (2.0 / float j) * p2 - sqrt (float (j - 1) / float j) * p3
            derivative <- sqrt (2.0 * float n) * p2
            let previous = z
            z <- previous - p1 / derivative
            iterations <- iterations + 1
            converged <- abs (z - previous) <= 3e-14 * max 1.0 (abs z)
            if iterations > 100 then failwithf "Gauss–Hermite: node %d of %d did not converge" i n
        nodes[i] <- z
        nodes[n - 1 - i] <- -z
        weights[i] <- 2.0 / (derivative * derivative)
        weights[n - 1 - i] <- weights[i]
    nodes, weights

/// Gauss–Legendre rule on [−1, 1]: nodes and weights, by Newton's iteration on the Legendre recurrence.
let gaussLegendre (n: int) =
    if n < 1 then invalidArg (nameof n) "at least one node"
    let nodes = Array.zeroCreate<float> n
    let weights = Array.zeroCreate<float> n
    for i in 0 .. (n + 1) / 2 - 1 do
        let mutable z = cos (Math.PI * (float i + 0.75) / (float n + 0.5))
        let mutable derivative = 0.0
        let mutable converged = false
        while not converged do
            let mutable p1 = 1.0
            let mutable p2 = 0.0
            for j in 1 .. n do
                let p3 = p2
                p2 <- p1
                p1 <- ((2.0 * float j - 1.0) * z * p2 - (float j - 1.0) * p3) / float j
            derivative <- float n * (z * p1 - p2) / (z * z - 1.0)
            let previous = z
            z <- previous - p1 / derivative
            converged <- abs (z - previous) <= 3e-15
        nodes[i] <- -z
        nodes[n - 1 - i] <- z
        weights[i] <- 2.0 / ((1.0 - z * z) * derivative * derivative)
        weights[n - 1 - i] <- weights[i]
    nodes, weights

/// A rule for expectations under the standard normal: E[g(Z)] ≈ Σ wᵢ g(zᵢ), with Σ wᵢ = 1.
type NormalRule = { Points: float[]; Weights: float[] }

module NormalRule =
    let ofHermite n =
        let nodes, weights = gaussHermite n
        { Points = nodes |> Array.map (fun x -> sqrt 2.0 * x)
          Weights = weights |> Array.map (fun w -> w / sqrtPi) }

    /// E[g(Z)] for Z ~ N(0, 1).
    let expect (rule: NormalRule) (g: float -> float) =
        let mutable sum = 0.0
        for i in 0 .. rule.Points.Length - 1 do
            sum <- sum + rule.Weights[i] * g rule.Points[i]
        sum

/// Beyond ±10 standard deviations the normal density (< 1e-22) contributes nothing a double can see.
let tailBound = 10.0

/// The `count` equally likely points of N(0, 1): Φ⁻¹((j + ½)/count), j = 0 … count − 1, by bisection on Φ.
let normalQuantilePoints count =
    Array.init count (fun j ->
        let p = (float j + 0.5) / float count
        let mutable lo, hi = -tailBound, tailBound
        for _ in 1 .. 60 do
            let mid = 0.5 * (lo + hi)
            if normalCdf mid < p then lo <- mid else hi <- mid
        0.5 * (lo + hi))

let private legendre8 = lazy (gaussLegendre 8)

/// E[g(Z)] for Z ~ N(0, 1) when g is smooth between the given breakpoints: composite 8-point
/// Gauss–Legendre on panels of width at most 2 over [−10, 10] (about 90 nodes, ~1e-10 relative), with a
/// panel edge at every breakpoint, so that kinks (relu at 0, hardswish at ±3) cost no accuracy.
let expectPiecewise (breakpoints: float list) (g: float -> float) =
    let nodes, weights = legendre8.Value
    let cuts = breakpoints |> List.filter (fun b -> b > -tailBound && b < tailBound) |> List.distinct |> List.sort
    let edges = (-tailBound :: cuts) @ [ tailBound ]
    let mutable sum = 0.0
    for a, b in List.pairwise edges do
        let panels = max 1 (int (ceil ((b - a) / 2.0)))
        let width = (b - a) / float panels
        for p in 0 .. panels - 1 do
            let middle = a + (float p + 0.5) * width
            for i in 0 .. nodes.Length - 1 do
                let t = middle + 0.5 * width * nodes[i]
                sum <- sum + 0.5 * width * weights[i] * normalPdf t * g t
    sum

/// 128 nodes for one-dimensional expectations (exact for polynomials of degree 255).
let fine = lazy (NormalRule.ofHermite 128)

/// 24 nodes for the outer axis of nested expectations, whose integrands are smooth.
let coarse = lazy (NormalRule.ofHermite 24)
