/// Initialisers: values of one type, applied to a compiled network. Each analytic method is a choice of
/// weight variance per weighted layer, made inside the moment propagation (AutoInit sees what each layer
/// receives; He, Glorot and PyTorch's default only count fans); LSUV measures on a batch instead.
module Receptor.Core.Signal.Initialisers

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch

/// How weights are drawn, at a given variance and zero mean.
type WeightLaw =
    /// Normal.
    | Normal
    /// Normal truncated at ±2 standard deviations of the underlying normal, rescaled to the variance.
    | TruncatedNormal
    /// Uniform on ±√(3·variance).
    | Uniform
    /// A (semi-)orthogonal matrix of shape (out, fan-in), scaled to the variance.
    | Orthogonal
    /// Symmetric Weibull of shape 2 (±√E, E exponential), scaled to the variance: with the `arcsine`
    /// activation, each term w·φ(z) of a pre-activation is exactly normal, so pre-activations stay Gaussian at
    /// any width (Wolinski & Arbel, "Gaussian pre-activations in neural networks: myth or reality?").
    | Weibull

/// Which fan He's variance divides by.
type FanMode =
    /// Inputs per output unit: preserves the forward variance.
    | FanIn
    /// Outputs per input unit: preserves the backward variance.
    | FanOut

/// An initialisation method.
type Method =
    /// Every weighted layer's output variance set to 1 by moment propagation under the given rules.
    | AutoInit of rules: Rules * law: WeightLaw
    /// He et al. (2015): Var = 2 / ((1 + α²)·fan·gain), α the negative slope of the ReLU-family activation
    /// that follows the layer (0 when none does), gain what the layer's sampling does to a white input's
    /// variance (WeightedLayer.Gain: ¼ for modulated deformable taps, the bilinear spreading of DCLS).
    | He of mode: FanMode * law: WeightLaw
    /// Glorot & Bengio (2010): Var = 2 / (fan-in + fan-out).
    | Glorot of law: WeightLaw
    /// PyTorch's default: weights and biases uniform in ±1/√fan-in.
    | TorchDefault
    /// Mishkin & Matas (2016): orthogonal, then each layer rescaled on one batch until |std − 1| < 0.1
    /// (at most 10 tries).
    | Lsuv
    /// Fixup (Zhang, Dauphin & Ma 2019): He, then residual bodies scaled and their last layers and the
    /// classifier zeroed (Residuals.fixup). Fixup's scalar biases and multipliers start at 0 and 1, so the
    /// network computes the same at initialisation without them.
    | Fixup of law: WeightLaw
    /// SkipInit (De & Smith 2020): He, and every residual computes x + α·f(x) with a learnable α that starts
    /// at 0 (Network.ResidualGain), so each block starts as its shortcut.
    | SkipInit of law: WeightLaw
    /// Zhu et al. (2021): the basis method's draw, then one scale per parameter tensor learnt on data
    /// (see GradInit).
    | GradInit of basis: Method * settings: Receptor.Core.Signal.GradInit.Settings

/// The output variance AutoInit aims every weighted layer at, the readout excepted.
val target: float

/// The output variance AutoInit aims a ReLU-gated readout at: the last weighted layer, when only
/// activations, pooling, flattening and dropout follow it and one of them is a ReLU (All-CNN-C's class maps).
val readoutTarget: float

/// The bias mean of a ReLU-gated readout: ten of its output's standard deviations, so that the ReLU starts
/// linear (no class map silent) with the logits near each other.
val readoutShift: float

/// The weight variances a method chooses, with the moments it predicts at every node. Residual policies
/// and the search's constraints plan without drawing any weights.
val plan:
    method: Method ->
    input: Shape ->
    inputMoments: InputMoments option ->
    tree: Checked ->
        Result<Prediction, Diagnostic>

/// The weight (and bias) tensors of a weighted layer, looked up by the parameter names the compiler gives
/// its path; an error names a layer the network holds no weight for.
val tensorsOf:
    network: Network -> layer: WeightedLayer -> Result<TorchSharp.Modules.Parameter * TorchSharp.Modules.Parameter option, Diagnostic>

/// Draws every planned layer's weights by the law, and its biases (normal, or uniform where the plan gives
/// them a variance), each at its planned variance, without recording gradients.
val applyPlan: law: WeightLaw -> layers: (WeightedLayer * WeightVariance) list -> network: Network -> Result<unit, Diagnostic>

/// LSUV's rescaling loop, layer by layer in evaluation order; sepconv rescales its pointwise part.
/// Returns the number of forward passes it made.
val lsuv: layers: WeightedLayer list -> network: Network -> batch: torch.Tensor -> Result<int, Diagnostic>

/// The weight variances a network actually holds: the mean square of each planned tensor.
val realised: network: Network -> layers: WeightedLayer list -> Result<(WeightedLayer * WeightVariance) list, Diagnostic>

/// A method made ready for one network: what it plans, and how to draw one initialisation from it.
type Prepared =
    { /// The method prepared.
      Method: Method
      /// The plan's weight variances and the moments they lead to (for LSUV, before its rescaling).
      Plan: Prediction
      /// Draws fresh weights from the torch generator; LSUV then rescales them on the batch, GradInit learns
      /// its scales on its own data.
      Draw: torch.Tensor -> Result<unit, Diagnostic> }

/// Prepares a method whose chosen variances are multiplied as `scaling` says (a residual policy). The first
/// propagation finds the weighted layers; a second one applies the scaling, so that adaptive methods
/// (AutoInit) see what the scaled layers feed them.
val prepareScaled:
    method: Method ->
    scaling: Residuals.Scaling ->
    inputMoments: InputMoments option ->
    network: Network ->
        Result<Prepared, Diagnostic>

/// Prepares a method for a network, unscaled: plans it on the network's tree (for SkipInit, creating the
/// residual gains its draws zero).
val prepare: method: Method -> inputMoments: InputMoments option -> network: Network -> Result<Prepared, Diagnostic>

/// The moments a plan's own variances lead to when batch norm takes its statistics over batches of `batch`
/// samples, as it does when measured in training mode (Propagation.runInBatches).
val predictInBatches:
    prepared: Prepared -> batch: int -> network: Network -> inputMoments: InputMoments option -> Result<Prediction, Diagnostic>

/// The moments predicted from the variances a network holds (after LSUV, say): weight variances averaged
/// over the given draws.
val predictRealised:
    prepared: Prepared ->
    draws: (WeightedLayer * WeightVariance) list list ->
    network: Network ->
    inputMoments: InputMoments option ->
        Result<Prediction, Diagnostic>

/// Parses a method name as the command line writes it (case-insensitive; `kaiming` and `xavier` are
/// accepted for he and glorot). GradInit needs data, so it is made elsewhere (Initialisation).
val parseMethod: name: string -> rules: Rules -> law: WeightLaw -> Result<Method, string>

/// A method's name as parseMethod reads it (the first of its spellings).
val methodName: method: Method -> string

/// A weight law's name as parseLaw reads it.
val lawName: law: WeightLaw -> string

/// Parses a weight law's name (case-insensitive; `truncated` for truncated-normal).
val parseLaw: name: string -> Result<WeightLaw, string>

/// A rule set's name as parseRules reads it.
val rulesName: rules: Rules -> string

/// Parses a rule set's name: exact, or autoinit-2023 (also autoinit2023).
val parseRules: name: string -> Result<Rules, string>
