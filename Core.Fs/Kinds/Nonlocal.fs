/// Nonlocal operators (Dsl/Layers/Nonlocal.fs). AutoInit (2023) has no estimator for them.
module internal Receptor.Core.Kinds.Nonlocal

open Receptor.Core.Signal
open Receptor.Core.Torch

/// They annihilate constants: a global average after one receives no gradient although the field is the
/// whole input, so the field is not the gradient's support.
let private nonlocal kind moments build =
    { Kind = kind
      Moments = moments
      AutoInit2023 = AutoInitRules.unknown
      Module = LayerModules.plain << build
      Weighted = false
      Activation = None
      Field = { Local = false; Exact = false; Linearised = None }
      Copies = Copies.unchanged }

let fraclap = nonlocal Receptor.Dsl.Layers.Nonlocal.fraclap (NonlocalRules.fractional false) (NonlocalModules.fractional false)
let invfraclap = nonlocal Receptor.Dsl.Layers.Nonlocal.invfraclap (NonlocalRules.fractional true) (NonlocalModules.fractional true)
let weightedlap = nonlocal Receptor.Dsl.Layers.Nonlocal.weightedlap NonlocalRules.weighted NonlocalModules.weighted

let kinds = [ fraclap; invfraclap; weightedlap ]
