/// Block instantiation: every call of a parameterised block becomes the block's body, named after the
/// block, with its parameters' values substituted; arithmetic on constants is evaluated. The result is a
/// concrete tree, ready for shape checking.
module Receptor.Dsl.Expand

open Receptor.Dsl

/// Deeper block-call chains than this are taken for unbounded recursion.
let maxCallDepth = 64

/// More expanded nodes than this are taken for runaway nesting of blocks.
let maxNodes = 1_000_000

type private Env =
    { Blocks: Map<string, Block>
      Vars: Map<string, Value>
      CallDepth: int
      mutable Nodes: int }

let private fail path message = Error (Diagnostic.atPath path message)

/// A choice point left in a tree that is to be checked: the text is a search space, not a network.
let undecided path (name: string option) =
    let what = name |> Option.map (sprintf "choice point '%s'") |> Option.defaultValue "a choice point"
    Diagnostic.atPath path (sprintf "%s is undecided: this is a search space, not a network" what)
    |> Diagnostic.withHint "sample it first (receptor search space FILE prints samples)"

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
    | Choose (name, _) -> Error (undecided path name)
    | Int _ | Float _ | Bool _ | Word _ | Pair _ | Expr _ -> Ok value

let rec private isConcrete value =
    match value with
    | Var _ | Arith _ | Choose _ -> false
    | Int _ | Float _ | Bool _ | Word _ | Pair _ | Expr _ -> true

let private traverse f items =
    let folder state item = state |> Result.bind (fun acc -> f item |> Result.map (fun x -> x :: acc))
    items |> List.fold folder (Ok []) |> Result.map List.rev

let rec private expand env path node : Result<Node, Diagnostic> =
    env.Nodes <- env.Nodes + 1
    if env.Nodes > maxNodes then fail path (sprintf "the expanded network has more than %d nodes" maxNodes)
    else
    match node with
    | Op layer when layer.Args |> List.forall (snd >> isConcrete) -> Ok node
    | Op layer ->
        layer.Args
        |> traverse (fun (name, value) -> evaluate env path value |> Result.map (fun v -> name, v))
        |> Result.map (fun args -> Op { layer with Args = args })
    | Seq nodes -> children env path nodes |> Result.map Seq
    | Branches (merge, nodes) -> children env path nodes |> Result.map (fun nodes -> Branches (merge, nodes))
    | Residual (body, shortcut, scale) ->
        let body = expand env (Naming.join path "body") body
        let shortcut =
            match shortcut with
            | Some s -> expand env (Naming.join path "shortcut") s |> Result.map Some
            | None -> Ok None
        let scale =
            match scale with
            | Some s -> evaluate env path s |> Result.map Some
            | None -> Ok None
        match body, shortcut, scale with
        | Ok body, Ok shortcut, Ok scale -> Ok (Residual (body, shortcut, scale))
        | Error e, _, _ | _, Error e, _ | _, _, Error e -> Error e
    | Repeat (count, body) ->
        match evaluate env path count, expand env (Naming.join path "1") body with
        | Ok count, Ok body -> Ok (Repeat (count, body))
        | Error e, _ | _, Error e -> Error e
    | Named (name, body) -> expand env path body |> Result.map (fun body -> Named (name, body))
    | Choice (name, _) -> Error (undecided path name)
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
                let inner = { env with Vars = List.zip block.Parameters values |> Map.ofList; CallDepth = env.CallDepth + 1 }
                let result = expand inner path block.Body
                env.Nodes <- inner.Nodes
                result)
            |> Result.map (fun body -> Named (name, body))

and private children env path nodes =
    List.zip (Naming.segments nodes) nodes |> traverse (fun (segment, n) -> expand env (Naming.join path segment) n)

/// Expands an expression that may use the given blocks.
let node (blocks: Block list) (root: Node) =
    match blocks |> List.countBy (fun b -> b.Name) |> List.tryFind (fun (_, n) -> n > 1) with
    | Some (name, _) -> fail "" (sprintf "block '%s' is defined more than once" name)
    | None ->
        let env = { Blocks = blocks |> List.map (fun b -> b.Name, b) |> Map.ofList; Vars = Map.empty; CallDepth = 0; Nodes = 0 }
        expand env "" root

/// The program's network with every block call instantiated.
let program (p: Program) = node p.Blocks p.Body
