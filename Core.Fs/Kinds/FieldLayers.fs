/// Field layers (Dsl/Layers/FieldLayers.fs): deformable convolution, DCLS and the selective-kernel unit.
/// AutoInit (2023) has no estimator for any of them.
module internal Receptor.Core.Kinds.FieldLayers

open Receptor.Core.Signal
open Receptor.Core.Torch

let private fieldLayer kind moments build field =
    { Kind = kind
      Moments = moments
      AutoInit2023 = AutoInitRules.unknown
      Module = LayerModules.plain << build
      Weighted = true
      Activation = None
      Field = field
      Copies = Copies.unchanged }

/// Offsets are unbounded: the nominal field is neither local nor exact.
let deform = fieldLayer Receptor.Dsl.Layers.FieldLayers.deform FieldRules.deform FieldModules.deform { Local = false; Exact = false; Linearised = None }

/// The dilated kernel is the largest extent the elements can reach, not the support of their taps.
let dcls = fieldLayer Receptor.Dsl.Layers.FieldLayers.dcls FieldRules.dcls FieldModules.dcls { Local = true; Exact = false; Linearised = None }

/// The attention averages the whole map.
let sk = fieldLayer Receptor.Dsl.Layers.FieldLayers.sk FieldRules.sk FieldModules.sk { Local = false; Exact = true; Linearised = None }

let kinds = [ deform; dcls; sk ]
