/// Normalisation (Dsl/Layers/Normalisation.fs): batch, layer and group normalisation.
module internal Receptor.Core.Kinds.Normalisation

open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Torch

let private normalisation kind moments build local copies =
    { Kind = kind
      Moments = moments
      AutoInit2023 = AutoInitRules.normalisation
      Module = build
      Weighted = false
      Activation = None
      // Statistics over the whole map change with its size; batch statistics do not depend on the crop's.
      Field = { Local = local; Exact = true; Linearised = Some "identity" }
      Copies = copies }

let batchnorm = normalisation Layers.Normalisation.batchnorm LayerRules.batchnorm LayerModules.batchnorm true Copies.unchanged

let layernorm =
    normalisation Layers.Normalisation.layernorm LayerRules.layernorm (LayerModules.groupnorm 1) false
        // One group per copy keeps each copy's statistics its own.
        (fun copies layer -> Ok (Combinators.layer "groupnorm" (("groups", Int copies) :: layer.Args)))

let groupnorm =
    normalisation Layers.Normalisation.groupnorm LayerRules.groupnorm
        (fun layer -> LayerModules.groupnorm (Layers.Normalisation.groups layer.Args) layer) false
        (Copies.multiplying "groupnorm" [ "groups" ])

let kinds = [ batchnorm; layernorm; groupnorm ]
