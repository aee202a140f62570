module Receptor.Core.Fields.Widen

open Receptor.Dsl

let rec node copies (tree: Node) : Result<Node, string> =
    let all nodes =
        let folder state n = state |> Result.bind (fun acc -> node copies n |> Result.map (fun w -> w :: acc))
        nodes |> List.fold folder (Ok []) |> Result.map List.rev
    match tree with
    | Op layer -> Receptor.Core.Kinds.Registry.copies copies layer
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
    | Choice _ -> Error "a choice point is undecided: sample the search space first"

let input copies shape =
    match shape with
    | Spatial (c, h, w) -> Spatial (copies * c, h, w)
    | Flat n -> Flat (copies * n)
