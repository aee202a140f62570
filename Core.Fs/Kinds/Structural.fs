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

/// Which input channel each output channel of a shuffle reads: output j·g + i is input i·(C/g) + j.
let private shuffled groups channels = Array.init channels (fun o -> (o % groups) * (channels / groups) + o / groups)

/// The channel permutation moves each channel's values, law and dependence (its Gaussian and index) with it:
/// every run of output channels that reads consecutive channels of one segment is a slice of that segment.
let private shuffleMoments: Context -> CheckedLayer -> Signal.Signal -> Result<Signal.Signal, string> =
    fun _ layer input ->
        let sources = shuffled (Layers.Structural.shuffleGroups layer.Args) (Shape.channels input.Shape)
        let owners =
            input.Segments
            |> List.collect (fun segment -> List.init segment.Channels (fun k -> segment, segment.Origin + k))
            |> Array.ofList
        let runs =
            sources
            |> Array.fold (fun runs source ->
                let segment, origin = owners[source]
                match runs with
                | (s: Signal.Segment, first, count) :: rest when obj.ReferenceEquals (s, segment) && first + count = origin ->
                    (s, first, count + 1) :: rest
                | _ -> (segment, origin, 1) :: runs) []
            |> List.rev
        Ok { input with Segments = runs |> List.map (fun (segment, origin, count) -> { segment with Channels = count; Origin = origin }) }

let private shuffleModule (layer: CheckedLayer) =
    let groups = int64 (Layers.Structural.shuffleGroups layer.Args)
    LayerModules.lambda "shuffle" (fun x ->
        let n, c, h, w = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        x.reshape(n, groups, c / groups, h, w).transpose(1L, 2L).reshape (n, c, h, w))

let shuffle =
    { structural Layers.Structural.shuffle shuffleMoments AutoInitRules.passThrough shuffleModule FieldBehaviour.linear with
        Copies = Copies.impossible "shuffle would interleave the copies' channels" }

let kinds = [ identity; dropout; scale; flatten; dense; zeropad; upsample; shuffle ]
