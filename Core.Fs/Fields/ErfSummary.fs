namespace Receptor.Core.Fields

type ErfSummary =
    { Size: ErfSize
      Fit: GaussianFit
      Moments: Moments
      TheoreticalSize: float
      Ratio: float }

module ErfSummary =
    let private length (s: Span) = s.Last - s.First + 1.0

    let ofMap (map: ErfMap) =
        let rows, columns = map.Region.Unclipped
        let theoretical = sqrt (length rows * length columns)
        let size = ErfStats.size map.Values (ErfStats.nearestPixel map.Values map.Region.Centre)
        { Size = size
          Fit = ErfStats.fitGaussian map.Values
          Moments = ErfStats.moments map.Values
          TheoreticalSize = theoretical
          Ratio = size.Luo / theoretical }
