/// DynOPool (Dsl/Layers/DynOPool.fs). AutoInit (2023) has no estimator for it.
module internal Receptor.Core.Kinds.DynOPool

open Receptor.Core.Signal
open Receptor.Core.Torch

/// Its field is the extent of the initial query points' bilinear reads, which training moves.
let dynopool =
    { Kind = Receptor.Dsl.Layers.DynOPool.dynopool
      Moments = DynOPoolRules.dynopool
      AutoInit2023 = AutoInitRules.unknown
      Module = LayerModules.plain << DynOPoolModules.dynopool
      Weighted = false
      Activation = None
      Field = { Local = false; Exact = false; Linearised = None }
      Copies = Copies.unchanged }

let kinds = [ dynopool ]
