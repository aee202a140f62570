module Receptor.Core.Kinds.Registry

open Receptor.Dsl

let internal all: KindPhases list =
    Convolution.kinds @ Pooling.kinds @ Normalisation.kinds @ Activations.kinds @ Structural.kinds
    @ FieldLayers.kinds @ Dendritic.kinds @ Nonlocal.kinds @ DynOPool.kinds

let private byName = all |> List.map (fun phases -> phases.Kind.Name, phases) |> dict

let unregistered =
    let dsl = Receptor.Dsl.Registry.kinds |> List.map (fun k -> k.Name) |> Set.ofList
    let here = all |> List.map (fun p -> p.Kind.Name) |> Set.ofList
    Set.difference dsl here |> Set.toList, Set.difference here dsl |> Set.toList

let internal tryPhases (layer: CheckedLayer) =
    match byName.TryGetValue layer.Kind.Name with
    | true, phases -> Ok phases
    | _ -> Error (sprintf "layer kind '%s' has no phases in Core.Fs/Kinds" layer.Kind.Name)

let internal phases (layer: CheckedLayer) =
    match tryPhases layer with
    | Ok phases -> phases
    | Error message -> invalidOp (sprintf "%s: %s" layer.Path message)

let isWeighted (kind: string) = match byName.TryGetValue kind with | true, p -> p.Weighted | _ -> false

let field (kind: string) = match byName.TryGetValue kind with | true, p -> Some p.Field | _ -> None

let activation (layer: CheckedLayer) = (phases layer).Activation |> Option.map (fun computes -> computes layer)

let copies count (layer: Layer) =
    match Receptor.Dsl.Registry.tryFind layer.Kind |> Option.bind (fun k -> match byName.TryGetValue k.Name with | true, p -> Some p | _ -> None) with
    | Some phases -> phases.Copies count layer
    | None -> Error (sprintf "unknown layer kind '%s'" layer.Kind)

let activationOfLayer (layer: Layer) =
    Shapes.checkNode (Flat 1) (Op layer) |> Result.map (fun tree -> Checked.layers tree |> Seq.head |> activation)
