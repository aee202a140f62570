/// Effective receptive fields (Luo, Li, Urtasun & Zemel, NeurIPS 2016): |∂y_c/∂x| for the central unit
/// y_c of a layer, summed over input channels and averaged over samples.
///
/// Batching: samples never interact (batchnorm runs on its running statistics, dropout draws independent
/// masks per element), so the sum of the samples' centre units has, in one backward pass, each sample's own
/// input gradient. Shared weights put the samples in the batch axis; fresh initialisations put them side by
/// side in the channel axis of a widened network (Widen). Parameters are frozen, so autograd computes no
/// weight gradients. Only the unit's cone runs (Cone): the network up to the layer, on the part of the input
/// the unit sees; the map is zero elsewhere.
namespace Receptor.Core.Fields

open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Data

/// What the samples feed the network.
type ErfInput =
    /// Standard normal pixels.
    | Gaussian
    /// Images of a data set, in order, one per sample.
    | Images of Dataset

/// Which weights the samples see.
type ErfWeights =
    /// A fresh default initialisation per sample.
    | FreshPerSample
    /// The same weights for every sample, set on the compiled network (e.g. by loading a checkpoint).
    | Shared of (torch.nn.Module -> Result<unit, Diagnostic>)

/// One ERF measurement.
type ErfRequest =
    { /// Names the compiled network.
      Name: string
      /// An expanded tree (no block calls).
      Tree: Node
      Input: Shape
      /// The layer whose central unit is differentiated; None for the last spatial layer.
      Layer: string option
      Samples: int
      /// Samples per forward/backward pass: 1 is the per-sample loop.
      PerPass: int
      /// Seeds TorchSharp's generator: the Gaussian inputs, the fresh weights and dropout's masks.
      Seed: int64
      Source: ErfInput
      Weights: ErfWeights
      /// Run only the unit's cone: the network up to the layer on the input window the unit sees, when
      /// that is exact (Cone.crop); false runs the whole image.
      CropToField: bool }

/// A measured ERF.
type ErfMap =
    { /// Mean |∂y_c/∂x| summed over channels, indexed [row, column].
      Values: float[,]
      Samples: int
      /// The layer's row in the analysis.
      Layer: NodeReport
      /// The theoretical field of the differentiated unit.
      Region: UnitRegion
      /// Why fresh initialisations ran one per pass, when they could not share one.
      Unbatched: string option
      /// The input window the passes ran on, when smaller than the image.
      Crop: Crop option }

/// ERF measurement.
module Erf =
    /// Measures the ERF of the request's layer at its central unit (`Theoretical.centreUnit`); the map has
    /// the input's height and width. Errors: a flat input, fewer than one sample or one sample per pass,
    /// images whose shape is not the input's or too few of them, an unknown or flat layer, a network that
    /// does not check or compile, weights that cannot be set. Fresh initialisations that cannot be widened
    /// (`Widen.node`) run one sample per pass, and the map says why.
    val measure: request: ErfRequest -> Result<ErfMap, Diagnostic>
