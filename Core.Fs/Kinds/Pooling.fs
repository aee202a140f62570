/// Pooling (Dsl/Layers/Pooling.fs): windowed max and average, global and adaptive.
module internal Receptor.Core.Kinds.Pooling

open Receptor.Core.Signal
open Receptor.Core.Torch

let private pooling kind moments autoInit build field =
    { Kind = kind
      Moments = moments
      AutoInit2023 = autoInit
      Module = build
      Weighted = false
      Activation = None
      Field = field
      Copies = Copies.unchanged }

/// Fixed output sizes do not crop: a smaller map gives a different window.
let private global' linearised = { Local = false; Exact = true; Linearised = linearised }

let maxpool =
    pooling Receptor.Dsl.Layers.Pooling.maxpool LayerRules.maxpool (AutoInitRules.maximum AutoInitRules.kernelArea)
        (LayerModules.pool true) { Local = true; Exact = true; Linearised = Some "avgpool" }

let avgpool =
    pooling Receptor.Dsl.Layers.Pooling.avgpool LayerRules.avgpool (AutoInitRules.average (AutoInitRules.kernelArea >> float))
        (LayerModules.pool false) FieldBehaviour.linear

let gavgpool =
    pooling Receptor.Dsl.Layers.Pooling.gavgpool LayerRules.gavgpool (AutoInitRules.average (AutoInitRules.wholeMap >> float))
        (LayerModules.stateless "gavgpool" (fun x -> TorchSharp.torch.nn.functional.adaptive_avg_pool2d (x, 1L))) (global' None)

let gmaxpool =
    pooling Receptor.Dsl.Layers.Pooling.gmaxpool LayerRules.gmaxpool (AutoInitRules.maximum AutoInitRules.wholeMap)
        (LayerModules.stateless "gmaxpool" (fun x -> TorchSharp.torch.nn.functional.adaptive_max_pool2d (x, [| 1L; 1L |])))
        (global' (Some "gavgpool"))

/// Adaptive windows are uneven, so the field is fractional: exact only in extent.
let adaptiveavgpool =
    // AutoInit's window: input positions per output position.
    let window (layer: Receptor.Dsl.CheckedLayer) = float (Receptor.Dsl.Shape.elements layer.Input) / float (Receptor.Dsl.Shape.elements layer.Facts.Output)
    pooling Receptor.Dsl.Layers.Pooling.adaptiveavgpool LayerRules.adaptiveavgpool (AutoInitRules.average window)
        LayerModules.adaptiveavgpool { Local = false; Exact = false; Linearised = None }

let kinds = [ maxpool; avgpool; gavgpool; gmaxpool; adaptiveavgpool ]
