/// Every layer kind's phases, in the order of the Dsl's registry, looked up by the kind's name.
module Receptor.Core.Kinds.Registry

open Receptor.Dsl

let internal all: KindPhases list =
    Convolution.kinds @ Pooling.kinds @ Normalisation.kinds @ Activations.kinds @ Structural.kinds
    @ FieldLayers.kinds @ Dendritic.kinds @ Nonlocal.kinds @ DynOPool.kinds

let private byName = all |> List.map (fun phases -> phases.Kind.Name, phases) |> dict

/// The Dsl's kinds that have no phases here, and names here that the Dsl does not know: both empty, as a
/// test checks, so that every layer that checks also propagates, compiles and initialises.
let unregistered =
    let dsl = Receptor.Dsl.Registry.kinds |> List.map (fun k -> k.Name) |> Set.ofList
    let here = all |> List.map (fun p -> p.Kind.Name) |> Set.ofList
    Set.difference dsl here |> Set.toList, Set.difference here dsl |> Set.toList

/// The phases of a checked layer's kind, or why there are none (a tree built by hand with an unknown kind).
let internal tryPhases (layer: CheckedLayer) =
    match byName.TryGetValue layer.Kind.Name with
    | true, phases -> Ok phases
    | _ -> Error (sprintf "layer kind '%s' has no phases in Core.Fs/Kinds" layer.Kind.Name)

/// The phases of a checked layer's kind. Checking only accepts registered kinds, so a miss is a bug.
let internal phases (layer: CheckedLayer) =
    match tryPhases layer with
    | Ok phases -> phases
    | Error message -> invalidOp (sprintf "%s: %s" layer.Path message)

/// Whether the kind holds weights that an initialiser sets.
let isWeighted (kind: string) = match byName.TryGetValue kind with | true, p -> p.Weighted | _ -> false

/// What the receptive-field tools may assume of the kind.
let field (kind: string) = match byName.TryGetValue kind with | true, p -> Some p.Field | _ -> None

/// The activation a checked layer computes element by element, when its kind is an activation.
let activation (layer: CheckedLayer) = (phases layer).Activation |> Option.map (fun computes -> computes layer)

/// The same layer as N independent copies side by side (see Fields/Widen), for a layer of a known kind.
let copies count (layer: Layer) =
    match Receptor.Dsl.Registry.tryFind layer.Kind |> Option.bind (fun k -> match byName.TryGetValue k.Name with | true, p -> Some p | _ -> None) with
    | Some phases -> phases.Copies count layer
    | None -> Error (sprintf "unknown layer kind '%s'" layer.Kind)

/// The activation one layer computes (None when its kind is not an activation), checked as in a network on
/// a flat input, so that act's scalars need their initial values.
let activationOfLayer (layer: Layer) =
    Shapes.checkNode (Flat 1) (Op layer) |> Result.map (fun tree -> Checked.layers tree |> Seq.head |> activation)
