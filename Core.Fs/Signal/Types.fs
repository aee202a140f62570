/// What the moment propagation works with and returns: weighted layers as it meets them, the weight
/// variances chosen for them, and the moments predicted at every node.
namespace Receptor.Core.Signal

open Receptor.Core.Signal.Signal

/// A weighted layer, or one part of one (sepconv's depthwise and pointwise halves), as the propagation
/// meets it.
type WeightedLayer =
    { Path: string
      /// "" for a single weight tensor, else the part's name (`<path>.<part>.weight`).
      Part: string
      Kind: string
      /// Inputs per output unit: (input channels / groups) · kernel area.
      FanIn: int
      /// Outputs per input unit: (output channels / groups) · kernel area.
      FanOut: int
      /// The output's variance per unit of weight variance: Σ over the fan-in of E[x²], averaged over
      /// output positions and channels (border positions see fewer inputs).
      Energy: float
      /// The output variance a white unit input gives per unit of weight variance and fan-in: 1, but ¼ for a
      /// modulated deformable convolution (masks σ(0) = ½ at init) and less than 1 for DCLS elements spread
      /// over several taps. Fan-counting methods divide by it; Energy already includes it.
      Gain: float
      HasBias: bool
      /// The output's excess kurtosis over the ensemble of draws and inputs, 3·Σ Var(x²)/(Σ E[x²])² over the
      /// fan-in's terms w·x: 6/fan-in on Gaussian input, 15/fan-in after a ReLU, near 0 for wide layers. The
      /// rules take every output to be Gaussian; where this is large (a 3×3 depthwise convolution's nine
      /// terms) that is visibly off.
      Kurtosis: float
      /// Whether this weight's output is the node's output: false for a sepconv's depthwise half and for the
      /// weights inside a selective-kernel unit, whose output is a normalised mixture no weight variance aims.
      Output: bool }

/// How a weighted layer's weights and bias are drawn, and the output variance that was aimed at.
type WeightVariance =
    { /// The variance of the zero-mean weights.
      Weight: float
      /// The variance of the bias around BiasMean.
      Bias: float
      /// The bias's mean: 0 except where a ReLU-gated readout starts its ReLU in the linear part (Initialisers).
      BiasMean: float
      /// The output variance the method aims the layer at: 1, or a ReLU-gated readout's smaller one under AutoInit.
      Target: float }

module WeightVariance =
    /// Zero-mean weights and bias of these variances, aimed at unit output variance.
    let centred weight bias = { Weight = weight; Bias = bias; BiasMean = 0.0; Target = 1.0 }

/// Predicted moments of one node's output, averaged over its channels and positions.
type NodeMoments =
    { Path: string
      Op: string
      Mean: float
      Variance: float
      /// The part of the variance that is a per-channel offset, constant over samples and positions.
      Offset: float }

type Prediction =
    { Nodes: NodeMoments list
      /// Every weighted layer in evaluation order with the weight variance it was given.
      Layers: (WeightedLayer * WeightVariance) list }

/// Which propagation rules to use: Receptor's, or AutoInit's (Bingham & Miikkulainen 2023) with its
/// simplifications, to compare the two on the same trees.
type Rules =
    | Exact
    | AutoInit2023

/// The input's per-position mean and variance, when not standard normal (e.g. measured on data).
type InputMoments = { Mean: float[]; Variance: float[] }

/// What the rules of one propagation share: fresh Gaussians, and the weighted layers' choices.
type internal Context =
    { /// Samples per batch over which batch norm takes its statistics in training mode; None for the ensemble.
      Batch: int option
      Ids: Ids
      Choose: WeightedLayer -> WeightVariance
      Chosen: ResizeArray<WeightedLayer * WeightVariance> }

module internal Context =
    /// Asks for a weighted layer's weight variance and records the choice.
    let choose (context: Context) (layer: WeightedLayer) =
        let chosen = context.Choose layer
        context.Chosen.Add (layer, chosen)
        chosen
