namespace Receptor.Core.Fields

open Receptor.Dsl
open Receptor.Dsl.Combinators
open Receptor.Core

[<RequireQualifiedAccess>]
type Family =
    | Plain
    | Strided
    | Dilated
    | Residual
    | Dropout

type GrowthPoint =
    { Depth: int
      Theoretical: float
      Spread: float
      Ratio: float
      Luo: float
      Sigma: float
      RSquared: float }

type GrowthCurve =
    { Family: Family
      Points: GrowthPoint list
      Slope: float
      RatioSlope: float }

module Growth =
    let all = [ Family.Plain; Family.Strided; Family.Dilated; Family.Residual; Family.Dropout ]

    let name family =
        match family with
        | Family.Plain -> "plain"
        | Family.Strided -> "strided"
        | Family.Dilated -> "dilated"
        | Family.Residual -> "residual"
        | Family.Dropout -> "dropout"

    let parse (text: string) =
        let parseOne (word: string) =
            match all |> List.tryFind (fun f -> name f = word.Trim()) with
            | Some f -> Ok f
            | None ->
                Error (
                    Diagnostic.at Nowhere (sprintf "unknown family '%s'" word)
                    |> Diagnostic.withHint ("families: " + (all |> List.map name |> String.concat ", ")))
        text.Split ','
        |> Array.toList
        |> List.fold (fun state word -> state |> Result.bind (fun acc -> parseOne word |> Result.map (fun f -> acc @ [ f ]))) (Ok [])

    let width = 16

    let private convLayer = conv 3 width |> padding 1

    let network family depth =
        let layer i =
            match family with
            | Family.Plain -> convLayer --> relu
            | Family.Strided when i = 0 || i = depth / 2 -> (convLayer |> stride 2) --> relu
            | Family.Strided -> convLayer --> relu
            | Family.Dilated -> (conv 3 width |> padding 2 |> dilation 2) --> relu
            | Family.Residual when i = 0 -> convLayer --> relu
            | Family.Residual -> residual (convLayer --> relu)
            | Family.Dropout -> convLayer --> relu --> dropout 0.2
        List.init depth layer |> List.reduce (-->)

    let input family depth =
        let tree = network family depth
        let fits side =
            Analysis.ofNode "growth" (Spatial (1, side, side)) tree
            |> Result.toOption
            |> Option.bind (fun report ->
                Theoretical.lastSpatial report
                |> Result.bind (fun node -> Theoretical.region report node (Theoretical.centreUnit node))
                |> Result.toOption)
            |> Option.exists (fun region -> region.Clipped = region.Unclipped)
        let side = Seq.initInfinite (fun i -> 2 * depth + 3 + 2 * i) |> Seq.find fits
        Spatial (1, side, side)

    let at family samples seed depth =
        let request =
            { Name = name family
              Tree = network family depth
              Input = input family depth
              Layer = None
              Samples = samples
              PerPass = samples
              Seed = seed
              Source = Gaussian
              Weights = FreshPerSample
              CropToField = true }
        Erf.measure request
        |> Result.map (fun map ->
            let summary = ErfSummary.ofMap map
            let spread = sqrt ((summary.Moments.VarianceRow + summary.Moments.VarianceColumn) / 2.0)
            { Depth = depth
              Theoretical = summary.TheoreticalSize
              Spread = spread
              Ratio = spread / summary.TheoreticalSize
              Luo = summary.Size.Luo
              Sigma = (summary.Fit.SigmaRow + summary.Fit.SigmaColumn) / 2.0
              RSquared = summary.Fit.RSquared })

    let measure family (depths: int list) samples seed =
        if depths.Length < 2 || depths |> List.exists (fun d -> d < 1) then
            Error (Diagnostic.at Nowhere "--depths needs at least two depths, each at least 1")
        else
            depths
            |> List.fold (fun state d -> state |> Result.bind (fun acc -> at family samples seed d |> Result.map (fun p -> acc @ [ p ]))) (Ok [])
            |> Result.map (fun points ->
                { Family = family
                  Points = points
                  Slope = ErfStats.logLogSlope [ for p in points -> float p.Depth, p.Spread ]
                  RatioSlope = ErfStats.logLogSlope [ for p in points -> float p.Depth, p.Ratio ] })
