/// Structural layers (Dsl/Layers/Structural.fs): identity, dropout, scale, flatten, dense, zero padding and
/// upsampling.
module internal Receptor.Core.Kinds.Structural

open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Torch

let private structural kind moments autoInit build field =
    { Kind = kind
      Moments = moments
      AutoInit2023 = autoInit
      Module = build
      Weighted = false
      Activation = None
      Field = field
      Copies = Copies.unchanged }

/// A kind whose output size does not follow its input's window by window.
let private notLocal = { Local = false; Exact = true; Linearised = None }

let identity =
    structural Layers.Structural.identity LayerRules.passThrough AutoInitRules.passThrough (LayerModules.stateless "identity" id)
        FieldBehaviour.linear

/// Random masks differ between a crop and the whole map.
let dropout =
    structural Layers.Structural.dropout LayerRules.dropout AutoInitRules.dropout LayerModules.dropout
        { notLocal with Linearised = Some "identity" }

let scale =
    structural Layers.Structural.scale LayerRules.scale AutoInitRules.scale LayerModules.scale FieldBehaviour.elementwise

let flatten =
    structural Layers.Structural.flatten LayerRules.passThrough AutoInitRules.passThrough
        (LayerModules.stateless "flatten" (fun x -> x.flatten 1L)) notLocal

let dense =
    { structural Layers.Structural.dense LayerRules.dense AutoInitRules.dense LayerModules.dense notLocal with Weighted = true }

let zeropad = structural Layers.Structural.zeropad LayerRules.zeropad AutoInitRules.zeropad LayerModules.zeropad FieldBehaviour.linear

/// Upsampling's fractional stride gives a field exact only in extent.
let upsample =
    structural Layers.Structural.upsample LayerRules.upsample AutoInitRules.passThrough LayerModules.upsample
        { Local = false; Exact = false; Linearised = None }

let kinds = [ identity; dropout; scale; flatten; dense; zeropad; upsample ]
