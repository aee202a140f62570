/// Shape checking: instantiates blocks, unrolls repeats and infers C×H×W at every node, producing the
/// checked tree. Errors name the layer path.
module Receptor.Dsl.Shapes

open Receptor.Dsl

/// Deeper block-call chains than this are taken for unbounded recursion.
let maxCallDepth = 64

/// A repeat count above this is taken for a mistake rather than a network.
let maxRepeat = 100_000

type private Env = { Blocks: Map<string, Block>; Vars: Map<string, Value>; CallDepth: int }

let private fail path message = Error (Diagnostic.atPath path message)

let rec private evaluate env path value =
    match value with
    | Var name ->
        match env.Vars.TryFind name with
        | Some v -> Ok v
        | None ->
            let diagnostic = Diagnostic.atPath path (sprintf "'%s' is not a parameter of the enclosing block" name)
            match Registry.nearest (env.Vars |> Map.keys) name with
            | Some n -> Error (Diagnostic.withHint (sprintf "did you mean '%s'?" n) diagnostic)
            | None -> Error diagnostic
    | Arith (op, a, b) ->
        match evaluate env path a, evaluate env path b with
        | Error e, _ | _, Error e -> Error e
        | Ok (Int x), Ok (Int y) ->
            match op with
            | Plus -> Ok (Int (x + y))
            | Minus -> Ok (Int (x - y))
            | Times -> Ok (Int (x * y))
            | Divide when y = 0 -> fail path "division by zero"
            | Divide when x % y <> 0 -> fail path (sprintf "%d / %d is not a whole number" x y)
            | Divide -> Ok (Int (x / y))
        | Ok ((Int _ | Float _) as x), Ok ((Int _ | Float _) as y) ->
            let real v = match v with Int i -> float i | Float f -> f | _ -> nan
            let x, y = real x, real y
            match op with
            | Plus -> Ok (Float (x + y))
            | Minus -> Ok (Float (x - y))
            | Times -> Ok (Float (x * y))
            | Divide -> Ok (Float (x / y))
        | Ok _, Ok _ -> fail path "arithmetic needs numbers"
    | Int _ | Float _ | Bool _ | Word _ | Pair _ | Expr _ -> Ok value

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
    | _, first :: _ ->
        match shapes |> List.tryFind ((<>) first) with
        | Some other ->
            fail path (sprintf "%s: branch shapes %s and %s differ" name (Shape.format first) (Shape.format other))
        | None -> Ok (first, int64 (shapes.Length - 1) * Shape.elements first)

let rec private check env path node input : Result<Checked, Diagnostic> =
    match node with
    | Op layer ->
        layer.Args
        |> traverse (fun (name, value) -> evaluate env path value |> Result.map (fun v -> name, v))
        |> Result.bind (fun args ->
            let layer = { layer with Args = args }
            match LayerCheck.check layer with
            | Error (message, hint) ->
                Error { Place = LayerPath path; Message = message; Hint = hint }
            | Ok (kind, resolved) ->
                match kind.Facts resolved input with
                | Error message -> fail path (sprintf "%s (input %s)" message (Shape.format input))
                | Ok facts ->
                    Ok (CheckedOp { Path = path; Layer = layer; Kind = kind; Args = resolved; Input = input; Facts = facts }))
    | Seq nodes -> sequence env path (List.zip (Naming.segments nodes) nodes) input
    | Branches (merge, nodes) ->
        List.zip (Naming.segments nodes) nodes
        |> traverse (fun (segment, n) -> check env (Naming.join path segment) n input)
        |> Result.bind (fun branches ->
            mergeAt path merge branches (List.replicate branches.Length 1.0) input)
    | Residual (body, shortcut, scale) ->
        let shortcut =
            match shortcut with
            | Some s -> check env (Naming.join path "shortcut") s input
            | None -> Ok (CheckedSeq [])
        let scale =
            match scale with
            | Some s -> evaluate env path s |> Result.bind (number path)
            | None -> Ok 1.0
        match shortcut, check env (Naming.join path "body") body input, scale with
        | Ok shortcut, Ok body, Ok scale -> mergeAt path Add [ shortcut; body ] [ 1.0; scale ] input
        | Error e, _, _ | _, Error e, _ | _, _, Error e -> Error e
    | Repeat (count, body) ->
        evaluate env path count
        |> Result.bind (fun count ->
            match count with
            | Int n when n >= 1 && n <= maxRepeat ->
                sequence env path (List.init n (fun i -> string (i + 1), body)) input
            | Int n -> fail path (sprintf "repeat count %d must lie in 1..%d" n maxRepeat)
            | _ -> fail path "repeat count must be an integer")
    | Named (_, body) -> check env path body input
    | Call (name, args) ->
        match env.Blocks.TryFind name with
        | None ->
            let diagnostic = Diagnostic.atPath path (sprintf "unknown block '%s'" name)
            let candidates = Seq.append (env.Blocks |> Map.keys) Registry.names
            match Registry.nearest candidates name with
            | Some n -> Error (Diagnostic.withHint (sprintf "did you mean '%s'?" n) diagnostic)
            | None -> Error diagnostic
        | Some block when block.Parameters.Length <> args.Length ->
            fail path (sprintf "block '%s' takes %d arguments (%s), got %d" name block.Parameters.Length
                           (String.concat ", " block.Parameters) args.Length)
        | Some _ when env.CallDepth >= maxCallDepth ->
            fail path (sprintf "block '%s' nests deeper than %d calls; does it call itself?" name maxCallDepth)
        | Some block ->
            args
            |> traverse (evaluate env path)
            |> Result.bind (fun values ->
                let vars = List.zip block.Parameters values |> Map.ofList
                check { env with Vars = vars; CallDepth = env.CallDepth + 1 } path block.Body input)

and private sequence env path (named: (string * Node) list) input =
    let folder state (segment, n) =
        state
        |> Result.bind (fun (acc, shape) ->
            check env (Naming.join path segment) n shape
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

/// Checks an expression that uses no blocks.
let checkNode (input: Shape) (node: Node) =
    check { Blocks = Map.empty; Vars = Map.empty; CallDepth = 0 } "" node input

/// Checks a whole program: its blocks are in scope for the body and for each other.
let checkProgram (program: Program) =
    let duplicates = program.Blocks |> List.countBy (fun b -> b.Name) |> List.filter (fun (_, n) -> n > 1)
    match duplicates with
    | (name, _) :: _ -> Error (Diagnostic.atPath "" (sprintf "block '%s' is defined more than once" name))
    | [] ->
        let blocks = program.Blocks |> List.map (fun b -> b.Name, b) |> Map.ofList
        check { Blocks = blocks; Vars = Map.empty; CallDepth = 0 } "" program.Body program.Input
