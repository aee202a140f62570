/// The moment rules of the dendritic ReLU units (Dsl/Layers/Dendritic.fs) at init: every shift is zero,
/// so each connection reads relu(x) and the unit is the plain layer on the rectified input, exactly.
module internal Receptor.Core.Signal.DendriticRules

open Receptor.Dsl
open Receptor.Core.Signal.Moments
open Receptor.Core.Signal.Signal

let private rectified (input: Signal) =
    { input with Segments = input.Segments |> List.map (Segment.mapLaws (Law.map Activation.relu.Fn)) }

let dendconv (context: Context) (layer: CheckedLayer) (input: Signal) = Ok (LayerRules.convolution context layer (rectified input) 1.0)

let dendense (context: Context) (layer: CheckedLayer) (input: Signal) = LayerRules.dense context layer (rectified input)
