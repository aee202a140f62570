/// Convolutions (Dsl/Layers/Convolution.fs): plain, depthwise and depthwise-separable.
module internal Receptor.Core.Kinds.Convolution

open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Torch

let conv =
    { Kind = Layers.Convolution.conv
      Moments = LayerRules.conv
      AutoInit2023 = AutoInitRules.convolution
      Module = LayerModules.conv
      Weighted = true
      Activation = None
      Field = FieldBehaviour.linear
      // N times the outputs and the groups: copy k reads only copy k's channels, with the fan-in of one.
      Copies = Copies.multiplying "conv" [ "out"; "groups" ] }

let dwconv =
    { Kind = Layers.Convolution.dwconv
      Moments = fun context layer input -> Ok (LayerRules.convolution context layer input 1.0)
      AutoInit2023 = AutoInitRules.depthwise
      Module = LayerModules.dwconv
      Weighted = true
      Activation = None
      Field = FieldBehaviour.linear
      Copies = Copies.unchanged }

let sepconv =
    { Kind = Layers.Convolution.sepconv
      Moments = LayerRules.sepconv
      AutoInit2023 = AutoInitRules.separable
      Module = LayerModules.sepconv
      Weighted = true
      Activation = None
      Field = FieldBehaviour.linear
      Copies = Copies.impossible "sepconv's pointwise convolution mixes all channels" }

let kinds = [ conv; dwconv; sepconv ]
