/// The moment rules of the dendritic ReLU units (Dsl/Layers/Dendritic.fs) at init: every shift is zero,
/// so each connection reads relu(x) and the unit is the plain layer on the rectified input, exactly.
module internal Receptor.Core.Signal.DendriticRules

open Receptor.Dsl
open Receptor.Core.Signal.Moments
open Receptor.Core.Signal.Signal

let private rectified (input: Signal) =
    { input with Segments = input.Segments |> List.map (Segment.mapLaws (Law.map Activation.relu.Fn)) }

let private dendconv (context: Context) (layer: CheckedLayer) (input: Signal) =
    let args = layer.Args
    let reads = Reads.ofWindow (Window.ofLayer layer "kernel" true) 1.0
    Ok (LayerRules.convolve context layer "" (rectified input) (args.Int "out") (args.Int "groups") reads (args.Bool "bias"))

let private dendense (context: Context) (layer: CheckedLayer) (input: Signal) = LayerRules.dense context layer (rectified input)

let rules: Map<string, Context -> CheckedLayer -> Signal -> Result<Signal, string>> =
    Map.ofList [ "dendconv", dendconv; "dendense", dendense ]
