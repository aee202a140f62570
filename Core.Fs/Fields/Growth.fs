/// ERF against depth for families of n stacked 3×3 convolutions (Luo et al. 2016, figure 1 and §4):
/// plain, with two subsampling layers, dilated, residual and with dropout, each at random initialisation.
namespace Receptor.Core.Fields

open Receptor.Dsl
open Receptor.Dsl.Combinators
open Receptor.Core

[<RequireQualifiedAccess>]
type Family =
    | Plain
    /// The first and the middle layer have stride 2.
    | Strided
    /// Every convolution has dilation 2.
    | Dilated
    /// After the first layer, each layer is x + relu(conv(x)).
    | Residual
    /// Dropout (p = 0.2) after every activation, active while measuring.
    | Dropout

type GrowthPoint =
    { Depth: int
      Theoretical: float
      /// The ERF's spread: √ of the mean per-axis variance of the normalised map. Unlike a threshold or a
      /// fit it also measures dilated stacks, whose ERF is a lattice with holes.
      Spread: float
      /// Spread / TRF side.
      Ratio: float
      /// Luo's size.
      Luo: float
      /// Mean of the fitted σ over both axes, and the fit's R².
      Sigma: float
      RSquared: float }

type GrowthCurve =
    { Family: Family
      Points: GrowthPoint list
      /// Least-squares slope of log spread against log depth (½ for a Gaussian that grows like √n).
      Slope: float
      /// The same for spread/TRF (−½).
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

    /// Feature maps per layer: wide enough that ReLU gradients rarely die out.
    let width = 16

    let private convLayer = conv 3 width |> padding 1

    /// The family's network of the given depth (number of 3×3 convolutions).
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

    /// A one-channel square input just large enough for the central unit's whole field.
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

    /// Measures the family at one depth over `samples` fresh initialisations.
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

    /// Measures the family at each depth with `samples` fresh initialisations per depth.
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
