/// Summaries of an effective-receptive-field map (non-negative values over input pixels, row-major):
/// moments, an axis-aligned 2-D Gaussian fit, Luo et al.'s threshold size and centred mass squares.
namespace Receptor.Core.Fields

/// The map read as a distribution over pixels.
type Moments = { MeanRow: float; MeanColumn: float; VarianceRow: float; VarianceColumn: float }

/// A · exp(−(r − r₀)²/(2σr²) − (c − c₀)²/(2σc²)) fitted by least squares.
type GaussianFit =
    { Amplitude: float
      CentreRow: float
      CentreColumn: float
      SigmaRow: float
      SigmaColumn: float
      /// 1 − SS_res / SS_tot over every pixel.
      RSquared: float }

/// Sizes of a map around one pixel.
type ErfSize =
    { /// The pixel the sizes are measured around (row, column).
      Centre: int * int
      CentreValue: float
      /// √(number of pixels ≥ (1 − 95.45 %) · centre value), Luo et al. 2016.
      Luo: float
      /// Side of the smallest centred square holding each fraction of the mass: (fraction, side).
      MassSquares: (float * int) list }

/// Statistics of ERF maps, indexed [row, column].
module ErfStats =
    /// Luo et al.'s threshold, as a fraction of the centre value: a 2σ band of a Gaussian holds 95.45 %.
    val luoThreshold: float

    /// The fractions of the mass whose centred squares `size` measures: 20 %, 50 % and 99 %.
    val massFractions: float list

    /// The mean and variance of the row and of the column, the map's values weighing the pixels.
    val moments: map: float[,] -> Moments

    /// The Gaussian that fits the map best in least squares, by Levenberg–Marquardt started from the moments
    /// (at most 200 iterations); the σ are positive.
    val fitGaussian: map: float[,] -> GaussianFit

    /// Luo's size and the mass squares (`massFractions`) around a centre pixel; squares are clipped to the map.
    val size: map: float[,] -> row: int * column: int -> ErfSize

    /// The pixel nearest a point, inside the map.
    val nearestPixel: map: float[,] -> row: float * column: float -> int * int

    /// Least-squares slope of log y against log x, over (x, y) points with positive coordinates.
    val logLogSlope: points: (float * float) list -> float
