/// N independent copies of a network as one network: every convolution gets N times the channels and N
/// times the groups, so copy k only ever reads copy k's channels. One forward and one backward pass then
/// serve N random initialisations at once, with each copy initialised exactly as the original would be
/// (a grouped convolution's fan-in is that of one group).
module Receptor.Core.Fields.Widen

open Receptor.Dsl

/// The network of `copies` independent copies, for an expanded tree (no block calls), or why it cannot be
/// built: a `concat` (it would interleave the copies' channels), a block call, or a layer whose kind cannot
/// be widened (`Kinds.Registry.copies`). Its input is `input copies` of the original's.
val node: copies: int -> tree: Node -> Result<Node, string>

/// The input shape of the copies: their channels (or features) side by side.
val input: copies: int -> shape: Shape -> Shape
