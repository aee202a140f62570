/// Path segments: how a node is named among its siblings (`stage2/block1/conv2`).
module Receptor.Dsl.Naming

open Receptor.Dsl

let mergeName merge =
    match merge with
    | Add -> "add"
    | Concat -> "concat"
    | Multiply -> "multiply"
    | Mean -> "mean"
    | Max -> "max"

let private baseName node =
    match node with
    | Op layer -> Registry.tryFind layer.Kind |> Option.map (fun k -> k.Name) |> Option.defaultValue layer.Kind
    | Seq _ -> "seq"
    | Branches (merge, _) -> mergeName merge
    | Residual _ -> "residual"
    | Repeat _ -> "repeat"
    | Named (name, _) -> name
    | Call (block, _) -> block
    | Choice _ -> "choice"

/// Segments for siblings: a name used once stands alone, a name used more often gets its ordinal.
let segments (siblings: Node list) =
    let counts = siblings |> List.countBy baseName |> dict
    let seen = System.Collections.Generic.Dictionary<string, int>()
    siblings
    |> List.map (fun node ->
        let name = baseName node
        if counts[name] = 1 then name
        else
            let n = (match seen.TryGetValue name with | true, n -> n | _ -> 0) + 1
            seen[name] <- n
            // relu6 twice gives relu6_1 and relu6_2, not relu61 and relu62.
            if System.Char.IsDigit name[name.Length - 1] then name + "_" + string n else name + string n)

let join path segment = if path = "" then segment else path + "/" + segment
