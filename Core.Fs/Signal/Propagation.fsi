/// Moment propagation: one fold over the checked tree predicting, at every node, the mean and variance of its
/// output over the ensemble of weight draws and inputs (training mode), given the variance of each weighted
/// layer's zero-mean weights. Each layer kind names its rule in its bundle (Core.Fs/Kinds), merges theirs in
/// MergeRules.fs. AutoInit's own rules (AutoInitRules.fs), also named per kind, run through the same fold.
///
/// Approximations, all stated here:
/// - a weighted layer's output is Gaussian given its moments (its fan-in sums many independent terms), and
///   independent of its input over the ensemble (zero-mean weights; exact to O(1/fan-in)); where a group has
///   at most four input channels (depthwise convolutions) the spread over draws of each channel's covariance
///   between positions is carried and turned into covariance by the next nonlinearity (Mehler's second term),
///   but the output's shape stays Gaussian (a 3×3 depthwise sum of nine skewed terms is not: after it, silu's
///   measured mean sits about 3 % under the prediction);
/// - covariances across positions, of the channel offsets and of the fluctuations, are held on maps of up to
///   32×32 (Novak et al.'s CNN-GP recursion for convolutions, exact for pooling, padding and upsampling,
///   Mehler's expansion through activations); larger maps take offsets to be perfectly correlated and hold the
///   fluctuations' correlations by offset, up to 6 positions away, as they are at the map's centre (exact
///   away from zero-padded borders);
/// - the maximum over a pooling window on held maps is integrated over the window's joint Gaussian law with a
///   fixed set of 16,384 stratified, antithetic draws (about 0.5 % on its mean); two windows that share
///   elements covary as drawn jointly, others through the maxima's slopes on their elements and the next
///   term of Mehler's expansion; windows of more than 64 elements (global max pooling of large maps) share one
///   offset and their fluctuations are taken as independent;
/// - normalisation statistics are those of the ensemble (batch and map large enough), or, with `runInBatches`,
///   batch norm's batch mean over b samples removes 1/b of each channel's spatially constant fluctuation on
///   maps of up to 32×32 (the batch's variance estimate is otherwise taken as exact);
/// - max pooling near padded borders on maps larger than 32×32 uses the window's average moments;
/// - a selective-kernel unit's attention is independent of the branch values it weighs (it comes from a
///   global average), and its output is Gaussian with its exact mean and variance;
/// - a sum, product or maximum of independent branches keeps its exact marginal law but forgets how it
///   depends on what came before; products and maxima treat the branches as independent given the weights.
module Receptor.Core.Signal.Propagation

open Receptor.Dsl
open Receptor.Core.Signal

/// Propagates moments through a checked tree whose input has the given shape, and records the predicted output
/// moments of every layer and merge in evaluation order (a merge after its branches). `choose` gives each weighted
/// layer its weight variance, seeing what the layer will receive (AutoInit chooses target/Energy; fixed schemes
/// ignore it); the prediction lists the choices in the order they were made. The input is standard normal unless
/// `inputMoments` gives its per-position mean and variance. `rules` picks Receptor's exact rules or AutoInit's own
/// (which keep one scalar mean and variance, the input's averaged). A node whose predicted moments are not finite,
/// or a rule that fails, is an error at that node's path.
val run:
    rules: Rules ->
    choose: (WeightedLayer -> WeightVariance) ->
    input: Shape ->
    inputMoments: InputMoments option ->
    tree: Checked ->
        Result<Prediction, Diagnostic>

/// `run` with batch norm's statistics taken over batches of `batch` samples, as in training mode: the batch's
/// mean removes 1/batch of each channel's spatially constant fluctuation (on maps of up to 32×32). `run` takes
/// batches large enough to be the ensemble.
val runInBatches:
    batch: int option ->
    rules: Rules ->
    choose: (WeightedLayer -> WeightVariance) ->
    input: Shape ->
    inputMoments: InputMoments option ->
    tree: Checked ->
        Result<Prediction, Diagnostic>
