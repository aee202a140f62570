/// What `receptor erf` reports about a measured map: sizes around the unit's theoretical centre, the
/// Gaussian fit, and the ratio of the effective to the theoretical field.
namespace Receptor.Core.Fields

/// The statistics of one measured ERF map.
type ErfSummary =
    { /// Luo's size and the mass squares around the pixel nearest the theoretical field's centre.
      Size: ErfSize
      Fit: GaussianFit
      Moments: Moments
      /// Geometric mean of the theoretical field's sides, unclipped.
      TheoreticalSize: float
      /// Luo's size over the theoretical size.
      Ratio: float }

/// Summaries of measured maps.
module ErfSummary =
    /// The summary of a measured map (see `ErfStats`).
    val ofMap: map: ErfMap -> ErfSummary
