/// What `receptor erf` reports about a measured map: sizes around the unit's theoretical centre, the
/// Gaussian fit, and the ratio of the effective to the theoretical field.
namespace Receptor.Core.Fields

type ErfSummary =
    { Size: ErfSize
      Fit: GaussianFit
      Moments: Moments
      /// Geometric mean of the theoretical field's sides, unclipped.
      TheoreticalSize: float
      /// Luo's size over the theoretical size.
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
