/// N independent copies of a network as one network: every convolution gets N times the channels and N
/// times the groups, so copy k only ever reads copy k's channels. One forward and one backward pass then
/// serve N random initialisations at once, with each copy initialised exactly as the original would be
/// (a grouped convolution's fan-in is that of one group).
module Receptor.Core.Fields.Widen

open Receptor.Dsl

let private canonical (layer: Layer) =
    Registry.tryFind layer.Kind |> Option.map (fun k -> k.Name) |> Option.defaultValue layer.Kind

let private intArg name fallback (layer: Layer) =
    match layer.Args |> List.tryFind (fun (n, _) -> n = name) with
    | Some (_, Int i) -> i
    | _ -> fallback

let private setArgs (updates: (string * Value) list) (layer: Layer) =
    let kept = layer.Args |> List.filter (fun (n, _) -> not (updates |> List.exists (fun (u, _) -> u = n)))
    Combinators.layer (canonical layer) (kept @ updates)

let private widenLayer copies (layer: Layer) =
    match canonical layer with
    | "conv" ->
        Ok (setArgs [ "out", Int (copies * intArg "out" 1 layer); "groups", Int (copies * intArg "groups" 1 layer) ] layer)
    | "groupnorm" -> Ok (setArgs [ "groups", Int (copies * intArg "groups" 1 layer) ] layer)
    | "layernorm" -> Ok (Combinators.layer "groupnorm" (("groups", Int copies) :: layer.Args))
    // A pointwise convolution without groups would mix the copies.
    | "sepconv" -> Error "sepconv's pointwise convolution mixes all channels"
    // Depthwise layers, per-channel norms, activations and pools act channel by channel already; dense and
    // flatten come after every spatial layer, where mixing cannot reach a measured unit.
    | _ -> Ok (Op layer)

/// The network of `copies` independent copies, for an expanded tree (no block calls), or why it cannot be
/// built.
let rec node copies (tree: Node) : Result<Node, string> =
    let all nodes =
        let folder state n = state |> Result.bind (fun acc -> node copies n |> Result.map (fun w -> w :: acc))
        nodes |> List.fold folder (Ok []) |> Result.map List.rev
    match tree with
    | Op layer -> widenLayer copies layer
    | Seq nodes -> all nodes |> Result.map Seq
    | Branches (Concat, _) -> Error "concat would interleave the copies' channels"
    | Branches (merge, nodes) -> all nodes |> Result.map (fun ns -> Branches (merge, ns))
    | Residual (body, shortcut, scale) ->
        node copies body
        |> Result.bind (fun b ->
            match shortcut with
            | Some s -> node copies s |> Result.map (fun s -> Residual (b, Some s, scale))
            | None -> Ok (Residual (b, None, scale)))
    | Repeat (count, body) -> node copies body |> Result.map (fun b -> Repeat (count, b))
    | Named (name, body) -> node copies body |> Result.map (fun b -> Named (name, b))
    | Call (block, _) -> Error (sprintf "block '%s' is not expanded" block)

/// The input shape of the copies: their channels side by side.
let input copies shape =
    match shape with
    | Spatial (c, h, w) -> Spatial (copies * c, h, w)
    | Flat n -> Flat (copies * n)
