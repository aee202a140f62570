module Receptor.Dsl.Shapes

open Receptor.Dsl

let maxRepeat = 100_000

let maxLayers = 1_000_000

/// Counts checked layers, so that nested repeats cannot unroll without bound.
type private Budget = { mutable Layers: int }

let private fail path message = Error (Diagnostic.atPath path message)

let private traverse f items =
    let folder state item =
        state |> Result.bind (fun acc -> f item |> Result.map (fun x -> x :: acc))
    items |> List.fold folder (Ok []) |> Result.map List.rev

let private number path value =
    match value with
    | Int i -> Ok (float i)
    | Float f -> Ok f
    | _ -> fail path "expected a number"

let private mergeShapes path merge (shapes: Shape list) =
    let name = Naming.mergeName merge
    match merge, shapes with
    | _, [] -> fail path (sprintf "%s needs at least one branch" name)
    | Concat, first :: _ ->
        match first with
        | Spatial (_, h, w) ->
            match shapes |> List.tryFind (function Spatial (_, h', w') -> h' <> h || w' <> w | Flat _ -> true) with
            | Some other ->
                fail path (sprintf "concat: branch shapes %s and %s differ in H×W" (Shape.format first) (Shape.format other))
            | None -> Ok (Spatial (shapes |> List.sumBy Shape.channels, h, w), 0L)
        | Flat _ ->
            match shapes |> List.tryFind (function Spatial _ -> true | Flat _ -> false) with
            | Some other ->
                fail path (sprintf "concat: branch shapes %s and %s differ" (Shape.format first) (Shape.format other))
            | None -> Ok (Flat (shapes |> List.sumBy Shape.channels), 0L)
    | Multiply, _ ->
        // A per-channel gate (c×1×1) scales every position of a c×h×w branch, as squeeze-and-excitation does.
        let full = shapes |> List.maxBy Shape.elements
        let fits shape =
            shape = full
            || (match shape, full with
                | Spatial (c, 1, 1), Spatial (c', _, _) -> c = c'
                | _ -> false)
        match shapes |> List.tryFind (fits >> not) with
        | Some other ->
            fail path (sprintf "multiply: branch shapes %s and %s differ (a c×1×1 gate may scale a c×h×w branch)" (Shape.format other) (Shape.format full))
        | None -> Ok (full, int64 (shapes.Length - 1) * Shape.elements full)
    | _, first :: _ ->
        match shapes |> List.tryFind ((<>) first) with
        | Some other ->
            fail path (sprintf "%s: branch shapes %s and %s differ" name (Shape.format first) (Shape.format other))
        | None -> Ok (first, int64 (shapes.Length - 1) * Shape.elements first)

let rec private check (budget: Budget) path node input : Result<Checked, Diagnostic> =
    match node with
    | Op _ when budget.Layers >= maxLayers -> fail path (sprintf "the network has more than %d layers" maxLayers)
    | Op layer ->
        budget.Layers <- budget.Layers + 1
        match LayerCheck.check layer with
        | Error (message, hint) -> Error { Place = LayerPath path; Message = message; Hint = hint }
        | Ok (kind, resolved) ->
            match kind.Facts resolved input with
            | Error message -> fail path (sprintf "%s (input %s)" message (Shape.format input))
            | Ok facts ->
                Ok (CheckedOp { Path = path; Layer = layer; Kind = kind; Args = resolved; Input = input; Facts = facts })
    | Seq nodes -> sequence budget path (List.zip (Naming.segments nodes) nodes) input
    | Branches (merge, nodes) ->
        List.zip (Naming.segments nodes) nodes
        |> traverse (fun (segment, n) -> check budget (Naming.join path segment) n input)
        |> Result.bind (fun branches ->
            mergeAt path merge branches (List.replicate branches.Length 1.0) input)
    | Residual (body, shortcut, scale) ->
        let shortcut =
            match shortcut with
            | Some s -> check budget (Naming.join path "shortcut") s input
            | None -> Ok (CheckedSeq [])
        let scale =
            match scale with
            | Some s -> number path s
            | None -> Ok 1.0
        match shortcut, check budget (Naming.join path "body") body input, scale with
        | Ok shortcut, Ok body, Ok scale -> mergeAt path Add [ shortcut; body ] [ 1.0; scale ] input
        | Error e, _, _ | _, Error e, _ | _, _, Error e -> Error e
    | Repeat (count, body) ->
        match count with
        | Int n when n >= 1 && n <= maxRepeat -> sequence budget path (List.init n (fun i -> string (i + 1), body)) input
        | Int n -> fail path (sprintf "repeat count %d must lie in 1..%d" n maxRepeat)
        | _ -> fail path "repeat count must be an integer"
    | Named (_, body) -> check budget path body input
    | Call (name, _) -> fail path (sprintf "unknown block '%s'" name)
    | Choice (name, _) -> Error (Expand.undecided path name)

and private sequence budget path (named: (string * Node) list) input =
    let folder state (segment, n) =
        state
        |> Result.bind (fun (acc, shape) ->
            check budget (Naming.join path segment) n shape
            |> Result.map (fun c -> c :: acc, Checked.output shape c))
    named |> List.fold folder (Ok ([], input)) |> Result.map (fun (acc, _) -> CheckedSeq (List.rev acc))

and private mergeAt path merge branches weights input =
    mergeShapes path merge (branches |> List.map (Checked.output input))
    |> Result.map (fun (output, flops) ->
        CheckedBranches
            { Path = path
              Merge = merge
              Branches = branches
              Weights = weights
              Input = input
              Output = output
              Flops = flops })

/// Checks a concrete expression (block calls already expanded).
let private checkConcrete input node = check { Layers = 0 } "" node input

let checkNode (input: Shape) (node: Node) =
    Expand.node [] node |> Result.bind (checkConcrete input)

let checkProgram (program: Program) =
    Expand.program program |> Result.bind (checkConcrete program.Input)
