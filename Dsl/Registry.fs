module Receptor.Dsl.Registry

open Receptor.Dsl
open Receptor.Dsl.Layers

let kinds: LayerKind list =
    Convolution.kinds @ Pooling.kinds @ Normalisation.kinds @ Activations.kinds @ Structural.kinds
    @ FieldLayers.kinds @ Dendritic.kinds @ Nonlocal.kinds @ DynOPool.kinds

let private byName =
    kinds
    |> List.collect (fun k -> (k.Name, k) :: (k.Aliases |> List.map (fun a -> a, k)))
    |> dict

let names = byName.Keys |> Seq.sort |> List.ofSeq

let tryFind name =
    match byName.TryGetValue name with
    | true, kind -> Some kind
    | _ -> None

/// Levenshtein distance.
let private editDistance (a: string) (b: string) =
    let previous = Array.init (b.Length + 1) id
    let current = Array.zeroCreate (b.Length + 1)
    for i in 1 .. a.Length do
        current[0] <- i
        for j in 1 .. b.Length do
            let cost = if a[i - 1] = b[j - 1] then 0 else 1
            current[j] <- min (min (current[j - 1] + 1) (previous[j] + 1)) (previous[j - 1] + cost)
        Array.blit current 0 previous 0 current.Length
    previous[b.Length]

let nearest (candidates: string seq) (name: string) =
    candidates
    |> Seq.map (fun c -> c, editDistance (name.ToLowerInvariant()) c)
    |> Seq.filter (fun (c, d) -> d <= max 2 (c.Length / 3))
    |> Seq.sortBy snd
    |> Seq.tryHead
    |> Option.map fst
