/// ERF against depth for families of n stacked 3×3 convolutions (Luo et al. 2016, figure 1 and §4):
/// plain, with two subsampling layers, dilated, residual and with dropout, each at random initialisation.
namespace Receptor.Core.Fields

open Receptor.Dsl

/// A family of stacks of n 3×3 convolutions of `Growth.width` channels, each followed by relu.
[<RequireQualifiedAccess>]
type Family =
    /// conv → relu, n times.
    | Plain
    /// The first and the middle layer have stride 2.
    | Strided
    /// Every convolution has dilation 2.
    | Dilated
    /// After the first layer, each layer is x + relu(conv(x)).
    | Residual
    /// Dropout (p = 0.2) after every activation, active while measuring.
    | Dropout

/// A family's ERF at one depth.
type GrowthPoint =
    { /// The number of convolutions.
      Depth: int
      /// The theoretical field's side (`ErfSummary.TheoreticalSize`).
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

/// A family's ERF against depth.
type GrowthCurve =
    { Family: Family
      /// One point per depth, in the order asked for.
      Points: GrowthPoint list
      /// Least-squares slope of log spread against log depth (½ for a Gaussian that grows like √n).
      Slope: float
      /// The same for spread/TRF (−½).
      RatioSlope: float }

/// The families' networks and their measurement.
module Growth =
    /// Every family, in declaration order.
    val all: Family list

    /// The family's name on the command line: `plain`, `strided`, `dilated`, `residual` or `dropout`.
    val name: family: Family -> string

    /// Parses a comma-separated list of family names; an unknown name is an error listing the families.
    val parse: text: string -> Result<Family list, Diagnostic>

    /// Feature maps per layer: wide enough that ReLU gradients rarely die out.
    val width: int

    /// The family's network of the given depth (number of 3×3 convolutions).
    val network: family: Family -> depth: int -> Node

    /// A one-channel square input just large enough for the central unit's whole field.
    val input: family: Family -> depth: int -> Shape

    /// Measures the family at one depth over `samples` fresh initialisations, all in one widened pass.
    val at: family: Family -> samples: int -> seed: int64 -> depth: int -> Result<GrowthPoint, Diagnostic>

    /// Measures the family at each depth with `samples` fresh initialisations per depth (`at`), and fits the
    /// slopes; at least two depths, each at least 1.
    val measure: family: Family -> depths: int list -> samples: int -> seed: int64 -> Result<GrowthCurve, Diagnostic>
