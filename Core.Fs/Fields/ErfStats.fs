namespace Receptor.Core.Fields

open System

type Moments = { MeanRow: float; MeanColumn: float; VarianceRow: float; VarianceColumn: float }

type GaussianFit =
    { Amplitude: float
      CentreRow: float
      CentreColumn: float
      SigmaRow: float
      SigmaColumn: float
      RSquared: float }

type ErfSize =
    { Centre: int * int
      CentreValue: float
      Luo: float
      MassSquares: (float * int) list }

module ErfStats =
    let luoThreshold = 1.0 - 0.9545

    let massFractions = [ 0.2; 0.5; 0.99 ]

    let private total (map: float[,]) =
        let mutable s = 0.0
        map |> Array2D.iter (fun v -> s <- s + v)
        s

    let moments (map: float[,]) =
        let mass = total map
        let mutable mr, mc = 0.0, 0.0
        map |> Array2D.iteri (fun r c v -> mr <- mr + float r * v; mc <- mc + float c * v)
        let mr, mc = mr / mass, mc / mass
        let mutable vr, vc = 0.0, 0.0
        map |> Array2D.iteri (fun r c v -> vr <- vr + (float r - mr) ** 2.0 * v; vc <- vc + (float c - mc) ** 2.0 * v)
        { MeanRow = mr; MeanColumn = mc; VarianceRow = vr / mass; VarianceColumn = vc / mass }

    /// Solves a small dense system by Gaussian elimination with partial pivoting.
    let private solve (a: float[,]) (b: float[]) =
        let n = b.Length
        let m = Array2D.init n (n + 1) (fun i j -> if j < n then a[i, j] else b[i])
        for col in 0 .. n - 1 do
            let pivot = [ col .. n - 1 ] |> List.maxBy (fun r -> abs m[r, col])
            for j in 0 .. n do
                let t = m[col, j]
                m[col, j] <- m[pivot, j]
                m[pivot, j] <- t
            for r in col + 1 .. n - 1 do
                let f = m[r, col] / m[col, col]
                for j in col .. n do
                    m[r, j] <- m[r, j] - f * m[col, j]
        let x = Array.zeroCreate n
        for i in n - 1 .. -1 .. 0 do
            let s = [ i + 1 .. n - 1 ] |> List.sumBy (fun j -> m[i, j] * x[j])
            x[i] <- (m[i, n] - s) / m[i, i]
        x

    let private gaussian (p: float[]) r c =
        let dr, dc = float r - p[1], float c - p[2]
        p[0] * exp (-(dr * dr) / (2.0 * p[3] * p[3]) - (dc * dc) / (2.0 * p[4] * p[4]))

    let private residualSquares (map: float[,]) p =
        let mutable s = 0.0
        map |> Array2D.iteri (fun r c v -> s <- s + (v - gaussian p r c) ** 2.0)
        s

    let fitGaussian (map: float[,]) =
        let m = moments map
        let mutable maxValue = 0.0
        map |> Array2D.iter (fun v -> maxValue <- max maxValue v)
        let mutable p = [| maxValue; m.MeanRow; m.MeanColumn; sqrt (max m.VarianceRow 0.25); sqrt (max m.VarianceColumn 0.25) |]
        let mutable sse = residualSquares map p
        let mutable lambda = 1e-3
        let mutable iteration = 0
        while iteration < 200 && lambda < 1e12 do
            let jtj = Array2D.zeroCreate 5 5
            let jtr = Array.zeroCreate 5
            map
            |> Array2D.iteri (fun r c v ->
                let f = gaussian p r c
                let dr, dc = float r - p[1], float c - p[2]
                let grad =
                    [| (if p[0] = 0.0 then 0.0 else f / p[0])
                       f * dr / (p[3] * p[3])
                       f * dc / (p[4] * p[4])
                       f * dr * dr / (p[3] ** 3.0)
                       f * dc * dc / (p[4] ** 3.0) |]
                for i in 0..4 do
                    jtr[i] <- jtr[i] + grad[i] * (v - f)
                    for j in 0..4 do
                        jtj[i, j] <- jtj[i, j] + grad[i] * grad[j])
            let damped = Array2D.init 5 5 (fun i j -> if i = j then jtj[i, j] * (1.0 + lambda) else jtj[i, j])
            let step = solve damped jtr
            let candidate = Array.map2 (+) p step
            let candidateSse = residualSquares map candidate
            if Double.IsFinite candidateSse && candidateSse < sse then
                let converged = sse - candidateSse <= 1e-12 * sse
                p <- candidate
                sse <- candidateSse
                lambda <- lambda / 10.0
                iteration <- if converged then Int32.MaxValue else iteration + 1
            else
                lambda <- lambda * 10.0
                iteration <- iteration + 1
        let mutable mean = 0.0
        map |> Array2D.iter (fun v -> mean <- mean + v)
        mean <- mean / float map.Length
        let mutable tot = 0.0
        map |> Array2D.iter (fun v -> tot <- tot + (v - mean) ** 2.0)
        { Amplitude = p[0]
          CentreRow = p[1]
          CentreColumn = p[2]
          SigmaRow = abs p[3]
          SigmaColumn = abs p[4]
          RSquared = if tot = 0.0 then 0.0 else 1.0 - sse / tot }

    let size (map: float[,]) (row: int, column: int) =
        let rows, columns = Array2D.length1 map, Array2D.length2 map
        let centreValue = map[row, column]
        let mutable above = 0
        map |> Array2D.iter (fun v -> if v >= luoThreshold * centreValue then above <- above + 1)
        let mass = total map
        let squareMass h =
            let mutable s = 0.0
            for r in max 0 (row - h) .. min (rows - 1) (row + h) do
                for c in max 0 (column - h) .. min (columns - 1) (column + h) do
                    s <- s + map[r, c]
            s
        let side fraction =
            let h = [ 0 .. max rows columns ] |> List.find (fun h -> squareMass h >= fraction * mass * (1.0 - 1e-12))
            2 * h + 1
        { Centre = row, column
          CentreValue = centreValue
          Luo = sqrt (float above)
          MassSquares = massFractions |> List.map (fun f -> f, side f) }

    let nearestPixel (map: float[,]) (row: float, column: float) =
        let clamp n x = min (n - 1) (max 0 (int (Math.Round(x: float))))
        clamp (Array2D.length1 map) row, clamp (Array2D.length2 map) column

    let logLogSlope (points: (float * float) list) =
        let xs = points |> List.map (fst >> log)
        let ys = points |> List.map (snd >> log)
        let mx, my = List.average xs, List.average ys
        let sxy = List.map2 (fun x y -> (x - mx) * (y - my)) xs ys |> List.sum
        let sxx = xs |> List.sumBy (fun x -> (x - mx) ** 2.0)
        sxy / sxx
