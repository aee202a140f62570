/// Dendritic units (Dsl/Layers/Dendritic.fs). AutoInit (2023) has no estimator for them.
module internal Receptor.Core.Kinds.Dendritic

open Receptor.Core.Signal
open Receptor.Core.Torch

let private dendritic kind moments build =
    { Kind = kind
      Moments = moments
      AutoInit2023 = AutoInitRules.unknown
      Module = LayerModules.plain << build
      Weighted = true
      Activation = None
      Field = { Local = false; Exact = true; Linearised = None }
      Copies = Copies.unchanged }

let dendconv = dendritic Receptor.Dsl.Layers.Dendritic.dendconv DendriticRules.dendconv DendriticModules.dendconv
let dendense = dendritic Receptor.Dsl.Layers.Dendritic.dendense DendriticRules.dendense DendriticModules.dendense

let kinds = [ dendconv; dendense ]
