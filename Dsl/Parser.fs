module Receptor.Dsl.Parser

open System
open FParsec
open Receptor.Dsl

let maxNesting = 200

type private State = { Depth: int; Calls: (string * Position) list }

type private P<'a> = Parser<'a, State>

let private comment: P<unit> = skipChar '#' >>. skipRestOfLine true
let private ws: P<unit> = skipMany ((spaces1 <?> "white space") <|> (comment <?> "comment"))
let private symbol s : P<unit> = skipString s >>. ws
let private isNameStart c = Char.IsAsciiLetter c || c = '_'
let private isNameChar c = Char.IsAsciiLetterOrDigit c || c = '_'
let private name: P<string> = many1Satisfy2L isNameStart isNameChar "a name" .>> ws

let private fatalAt (start: CharStreamState<State>) message : P<'a> =
    fun stream ->
        stream.BacktrackTo start
        Reply (FatalError, messageError message)

/// The stream's state, to place a later error where a construct began.
let private here: P<CharStreamState<State>> = fun stream -> Reply stream.State

/// Runs p, then check on its result; a failed check is a fatal error placed where p began.
let private validated (p: P<'a>) (check: 'a -> Result<'b, string>) : P<'b> =
    fun stream ->
        let start = stream.State
        let reply = p stream
        if reply.Status <> Ok then Reply (reply.Status, reply.Error)
        else
            match check reply.Result with
            | Result.Ok value -> Reply value
            | Result.Error message -> fatalAt start message stream

/// Enters one level of parentheses, failing past the nesting bound.
let private nested (p: P<'a>) : P<'a> =
    fun stream ->
        let state = stream.UserState
        if state.Depth >= maxNesting then
            Reply (FatalError, messageError (sprintf "nesting deeper than %d levels" maxNesting))
        else
            stream.UserState <- { state with Depth = state.Depth + 1 }
            let reply = p stream
            if reply.Status = Ok then stream.UserState <- { stream.UserState with Depth = state.Depth }
            reply

/// Whether a tree nests deeper than the bound; iterative, since the tree may be too deep to recurse on.
let private deeperThan bound (children: 'a -> 'a list) (root: 'a) =
    let pending = Collections.Generic.Stack [ struct (root, 1) ]
    let mutable found = false
    while not found && pending.Count > 0 do
        let struct (node, depth) = pending.Pop()
        if depth > bound then found <- true
        else
            for child in children node do
                pending.Push(struct (child, depth + 1))
    found

/// Rejects trees deeper than the nesting bound. Operator chains such as `1 + 1 + … + 1` are read
/// iteratively but nest as deeply as they are long, and later passes recurse on them.
let private shallow what (children: 'a -> 'a list) (tree: 'a) =
    if deeperThan maxNesting children tree then Result.Error (sprintf "%s nests deeper than %d levels" what maxNesting)
    else Result.Ok tree

/// `( p )`, counting one level of nesting once the parenthesis is consumed.
let private parenthesised (p: P<'a>) : P<'a> = symbol "(" >>. nested (p .>> symbol ")")

let private numberFormat =
    NumberLiteralOptions.AllowFraction ||| NumberLiteralOptions.AllowExponent

/// A number literal, optionally `h x w` for a pair: 3, 0.5, 1e-5, 3x5.
let private literal: P<Value> =
    let number =
        numberLiteral numberFormat "a number"
        >>= fun n ->
            if n.IsInteger then
                match Int32.TryParse n.String with
                | true, i -> preturn (Int i)
                | _ -> fail "integer out of range"
            else preturn (Float (Double.Parse (n.String, Globalization.CultureInfo.InvariantCulture)))
    let pairTail = attempt (skipChar 'x' >>. pint32)
    number .>>. opt pairTail
    >>= fun (first, second) ->
        match first, second with
        | Int h, Some w -> preturn (Pair (h, w))
        | _, Some _ -> fail "a size h x w needs whole numbers"
        | v, None -> preturn v
    .>> ws

let private negate value =
    match value with
    | Int i -> Int -i
    | Float f -> Float -f
    | other -> Arith (Minus, Int 0, other)

/// An argument of a choice point: a value, or `key=value`.
type private DomainArgument =
    | Positional of Value
    | Keyed of string * Value

/// The label of a choice point, given as a last argument `name=NAME`.
let private choiceLabel (keyed: (string * Value) list) =
    match keyed |> List.filter (fun (k, _) -> k = "name") with
    | [] -> Result.Ok None
    | [ _, Var n ] -> Result.Ok (Some n)
    | [ _, _ ] -> Result.Error "name= takes a name"
    | _ -> Result.Error "name= is given twice"

/// A choice point's keyed arguments other than those it takes.
let private unexpectedKeys (allowed: string list) (keyed: (string * Value) list) =
    match keyed |> List.tryFind (fun (k, _) -> k <> "name" && not (List.contains k allowed)) with
    | Some (k, _) -> Result.Error (sprintf "unknown argument '%s'" k)
    | None -> Result.Ok ()

/// The domain of `choice(…)`, `int(…)` or `real(…)` from its arguments.
let private domainOf keyword (arguments: DomainArgument list) : Result<Value, string> =
    let positional = arguments |> List.choose (function Positional v -> Some v | Keyed _ -> None)
    let keyed = arguments |> List.choose (function Keyed (k, v) -> Some (k, v) | Positional _ -> None)
    let number v =
        match v with
        | Int i -> Some (float i)
        | Float f -> Some f
        | _ -> None
    let build allowed make =
        unexpectedKeys allowed keyed
        |> Result.bind (fun () -> choiceLabel keyed)
        |> Result.bind (fun label -> make () |> Result.map (fun domain -> Choose (label, domain)))
    match keyword with
    | "choice" ->
        build [] (fun () ->
            if positional.IsEmpty then Result.Error "choice(…) needs at least one value" else Result.Ok (Among positional))
    | "int" ->
        build [ "step" ] (fun () ->
            let step = keyed |> List.tryPick (fun (k, v) -> if k = "step" then Some v else None) |> Option.defaultValue (Int 1)
            match positional, step with
            | [ Int low; Int high ], Int step when step >= 1 && low <= high -> Result.Ok (IntRange (low, high, step))
            | [ Int _; Int _ ], Int step when step < 1 -> Result.Error "int(…): step must be at least 1"
            | [ Int low; Int high ], Int _ -> Result.Error (sprintf "int(%d, %d): the low end exceeds the high end" low high)
            | _ -> Result.Error "int(low, high[, step=s]) takes whole numbers")
    | _ ->
        build [] (fun () ->
            let range low high log =
                match number low, number high with
                | Some low, Some high when log && low <= 0.0 -> Result.Error (sprintf "real(…, log): the low end must be positive, got %g" low)
                | Some low, Some high when low <= high -> Result.Ok (RealRange (low, high, log))
                | Some _, Some _ -> Result.Error "real(low, high): the low end exceeds the high end"
                | _ -> Result.Error "real(low, high[, log]) takes numbers"
            match positional with
            | [ low; high ] -> range low high false
            | [ low; high; Var "log" ] -> range low high true
            | _ -> Result.Error "real(low, high[, log]) takes two numbers and optionally log")

/// Argument values: literals, words, block parameters and integer arithmetic on them; in search spaces,
/// choice points `choice(…)`, `int(…)` and `real(…)`.
let private value: P<Value> =
    let arith, arithRef = createParserForwardedToRef<Value, State> ()
    let domainKeyword =
        attempt ((pstring "choice" <|> pstring "int" <|> pstring "real") .>> notFollowedBy (satisfy isNameChar) .>> ws .>> followedBy (skipChar '('))
    let domainArgument =
        (attempt (name .>> symbol "=") .>>. arith |>> Keyed) <|> (arith |>> Positional)
    let domain =
        domainKeyword >>= fun keyword -> validated (parenthesised (sepBy1 domainArgument (symbol ","))) (domainOf keyword)
    let word =
        name |>> fun n ->
            match n with
            | "true" -> Bool true
            | "false" -> Bool false
            | n -> Var n
    let atom, atomRef = createParserForwardedToRef<Value, State> ()
    atomRef.Value <-
        choice
            [ literal
              domain
              word
              parenthesised arith
              symbol "-" >>. nested atom |>> negate ]
        <?> "a value"
    let binary op symbolText = symbol symbolText >>% fun a b -> Arith (op, a, b)
    let product = chainl1 atom (binary Times "*" <|> binary Divide "/")
    arithRef.Value <- chainl1 product (binary Plus "+" <|> attempt (binary Minus "-"))
    let operands value =
        match value with
        | Arith (_, a, b) -> [ a; b ]
        | _ -> []
    validated arith (shallow "an arithmetic expression" operands)

let private unaryByName =
    [ Abs; Square; Cube; Sqrt; Exp; Log; Sin; Cos; Sinh; Cosh; Tanh; Asinh; Atan; Sinc; Relu; Sigmoid; Softplus; Gauss; Erf; Neg ]
    |> List.map (fun fn -> Printer.unaryName fn, fn)
    |> Map.ofList

let private binaryByName = Map.ofList [ "max", BinaryFn.Max; "min", Min ]

/// Activation expressions: x, constants, learnable scalars, functions and + − × ÷.
let private activation: P<ActExpr> =
    let expr, exprRef = createParserForwardedToRef<ActExpr, State> ()
    let call fnName =
        parenthesised (sepBy1 expr (symbol ","))
        >>= fun args ->
            match Map.tryFind fnName unaryByName, Map.tryFind fnName binaryByName, args with
            | Some fn, _, [ a ] -> preturn (Unary (fn, a))
            | _, Some fn, [ a; b ] -> preturn (Binary (fn, a, b))
            | Some _, _, _ -> fail (sprintf "%s takes one argument" fnName)
            | _, Some _, _ -> fail (sprintf "%s takes two arguments" fnName)
            | _ ->
                let known = Seq.append (Map.keys unaryByName) (Map.keys binaryByName)
                let hint = Registry.nearest known fnName |> Option.map (sprintf "; did you mean '%s'?") |> Option.defaultValue ""
                fail (sprintf "unknown function '%s'%s" fnName hint)
    let identifierTerm =
        name >>= fun n ->
            if n = "x" then preturn X
            else (followedBy (skipChar '(') >>. call n) <|> preturn (Scalar n)
    let constant =
        numberLiteral numberFormat "a number" .>> ws
        |>> fun n -> Const (Double.Parse (n.String, Globalization.CultureInfo.InvariantCulture))
    let primary =
        choice [ constant |>> (fun c -> c, true); (identifierTerm <|> parenthesised expr) |>> (fun e -> e, false) ]
        <?> "an expression of x"
    // A run of minus signs is read iteratively: a bare literal absorbs one (`-(2.0)` stays a negation),
    // each other is a negation.
    let factor =
        many (symbol "-") .>>. primary
        |>> fun (signs, (p, isLiteral)) ->
            let p, signs =
                match p, signs with
                | Const c, _ :: rest when isLiteral -> Const -c, rest
                | _ -> p, signs
            signs |> List.fold (fun e _ -> Unary (Neg, e)) p
    let binary fn symbolText = symbol symbolText >>% fun a b -> Binary (fn, a, b)
    let product = chainl1 factor (binary Mul "*" <|> binary Div "/")
    exprRef.Value <- chainl1 product (binary BinaryFn.Add "+" <|> binary Sub "-")
    let operands expression =
        match expression with
        | Unary (_, a) -> [ a ]
        | Binary (_, a, b) -> [ a; b ]
        | X | Const _ | Scalar _ -> []
    validated expr (shallow "an activation expression" operands)

/// Turns a parsed word into the value an argument type expects, also among a choice point's values.
let rec private classify argType v =
    match argType, v with
    | PaddingSpec, Var (("same" | "valid") as w) -> Word w
    | OneOf choices, Var w when List.contains w choices -> Word w
    | _, Choose (label, Among values) -> Choose (label, Among (values |> List.map (classify argType)))
    | _ -> v

let rec private isConcrete v =
    match v with
    | Var _ | Choose _ -> false
    | Arith (_, a, b) -> isConcrete a && isConcrete b
    | _ -> true

/// `evolve(EXPR[, name=NAME])`: an activation choice point that the search evolves from EXPR.
let private evolved: P<Value> =
    attempt (pstring "evolve" .>> notFollowedBy (satisfy isNameChar) .>> ws .>> followedBy (skipChar '('))
    >>. parenthesised (activation .>>. opt (symbol "," >>. symbol "name" >>. symbol "=" >>. name))
    |>> fun (start, label) -> Choose (label, Evolved start)

let private argumentValue argType =
    match argType with
    | Some Activation -> evolved <|> (activation |>> Expr)
    | Some t -> value |>> classify t
    | None -> value

/// One argument of a layer: `value` or `name=value`, checked against the kind's signature.
let private argument (kind: LayerKind) index : P<string * Value> =
    let spec n = kind.Signature |> List.tryFind (fun p -> p.Name = n)
    let namedArg =
        here .>>. attempt (name .>> symbol "=")
        >>= fun (start, argName) ->
            match spec argName with
            | Some p -> argumentValue (Some p.Type) |>> fun v -> argName, v
            | None when kind.AcceptsScalars -> argumentValue (Some Number) |>> fun v -> argName, v
            | None ->
                let known = kind.Signature |> List.map (fun p -> p.Name)
                let hint =
                    match Registry.nearest known argName with
                    | Some n -> sprintf "; did you mean '%s'?" n
                    | None -> sprintf "; it takes %s" (if known.IsEmpty then "no arguments" else String.concat ", " known)
                fatalAt start (sprintf "%s has no argument '%s'%s" kind.Name argName hint)
    let positionalArg =
        if index < kind.Signature.Length then
            let p = kind.Signature[index]
            argumentValue (Some p.Type) |>> fun v -> p.Name, v
        else fail (sprintf "%s takes at most %d arguments" kind.Name kind.Signature.Length)
    // A choice point is checked through the values it can take: each listed one, or a range's ends.
    let candidates v =
        match v with
        | Choose (_, Among values) -> values
        | Choose (_, IntRange (low, high, _)) -> [ Int low; Int high ]
        | Choose (_, RealRange (low, high, _)) -> [ Float low; Float high ]
        | Choose (_, Evolved start) -> [ Expr start ]
        | v -> [ v ]
    let checkType (argName, v) =
        match spec argName with
        | Some p ->
            candidates v
            |> List.filter (fun c -> isConcrete c && not (c |> function Arith _ -> true | _ -> false))
            |> List.fold (fun state c -> state |> Result.bind (fun () -> LayerCheck.accepts p.Type c)) (Result.Ok ())
            |> Result.map (fun () -> argName, v)
            |> Result.mapError (sprintf "%s: argument '%s': %s" kind.Name argName)
        | _ -> Result.Ok (argName, v)
    validated (namedArg <|> positionalArg) checkType

let private layerArguments (kind: LayerKind) : P<(string * Value) list> =
    let rec from index acc =
        argument kind index
        >>= fun arg ->
            let acc = arg :: acc
            (symbol "," >>. from (index + 1) acc) <|> preturn (List.rev acc)
    parenthesised (from 0 [] <|> preturn [])

/// Orders arguments as the signature does, scalars last; rejects repeats and missing required ones.
let private arrange (kind: LayerKind) (args: (string * Value) list) =
    let repeated = args |> List.countBy fst |> List.tryFind (fun (_, n) -> n > 1)
    let missing =
        kind.Signature |> List.tryFind (fun p -> p.Default = Required && not (List.exists (fun (n, _) -> n = p.Name) args))
    match repeated, missing with
    | Some (n, _), _ -> Result.Error (sprintf "%s: argument '%s' is given twice" kind.Name n)
    | _, Some p -> Result.Error (sprintf "%s: missing argument '%s' (%s)" kind.Name p.Name p.Doc)
    | None, None ->
        let index n =
            match kind.Signature |> List.tryFindIndex (fun p -> p.Name = n) with
            | Some i -> i
            | None -> Int32.MaxValue
        Result.Ok { Kind = kind.Name; Args = args |> List.sortBy (fst >> index) }

let private mergeByName =
    Map.ofList [ "add", Add; "concat", Concat; "multiply", Multiply; "mean", Mean; "max", Merge.Max ]

let private keywords = set [ "input"; "block"; "network"; "residual"; "repeat"; "choice"; "optional" ] + (mergeByName |> Map.keys |> Set.ofSeq)

let private recordCall callName position : P<unit> =
    updateUserState (fun s -> { s with Calls = (callName, position) :: s.Calls })

/// Architecture expressions: `term >> term >> …`.
let private expression: P<Node> =
    let expr, exprRef = createParserForwardedToRef<Node, State> ()
    let term, termRef = createParserForwardedToRef<Node, State> ()
    let inParens p = parenthesised p
    let residual =
        inParens (
            expr
            .>>. opt (attempt (symbol "," >>. symbol "shortcut" >>. symbol "=") >>. expr)
            .>>. opt (symbol "," >>. symbol "scale" >>. symbol "=" >>. value))
        |>> fun ((body, shortcut), scale) -> Residual (body, shortcut, scale)
    let repeat = inParens (value .>> symbol "," .>>. expr) |>> Repeat
    let label = attempt (symbol "name" >>. symbol "=") >>. name
    let choiceOf =
        let item = (label |>> Choice2Of2) <|> (expr |>> Choice1Of2)
        validated (inParens (sepBy1 item (symbol ","))) (fun items ->
            let options = items |> List.choose (function Choice1Of2 n -> Some n | Choice2Of2 _ -> None)
            match items |> List.choose (function Choice2Of2 l -> Some l | Choice1Of2 _ -> None), List.last items with
            | _, _ when options.IsEmpty -> Result.Error "choice(…) needs at least one option"
            | [], _ -> Result.Ok (Choice (None, options))
            | [ l ], Choice2Of2 _ -> Result.Ok (Choice (Some l, options))
            | [ _ ], Choice1Of2 _ -> Result.Error "name= comes after the options"
            | _ -> Result.Error "name= is given twice")
    let optionalOf =
        inParens (expr .>>. opt (symbol "," >>. label))
        |>> fun (option, l) -> Choice (l, [ option; Op { Kind = "identity"; Args = [] } ])
    let layerOrCall (start: CharStreamState<State>) (position: Position) identifier =
        match Registry.tryFind identifier with
        | Some kind ->
            let args = (followedBy (skipChar '(') >>. layerArguments kind) <|> preturn []
            args >>= fun args ->
                match arrange kind args with
                | Result.Ok layer -> preturn (Op layer)
                | Result.Error message -> fatalAt start message
        | None ->
            let args = (followedBy (skipChar '(') >>. inParens (sepBy value (symbol ","))) <|> preturn []
            recordCall identifier position >>. args |>> fun args -> Call (identifier, args)
    let named =
        fun (stream: CharStream<State>) ->
            let start = stream.State
            let position = stream.Position
            let reply = name stream
            if reply.Status <> Ok then Reply (reply.Status, reply.Error)
            else
                let identifier = reply.Result
                let rest =
                    match identifier with
                    | "residual" -> residual
                    | "repeat" -> repeat
                    | "choice" -> choiceOf
                    | "optional" -> optionalOf
                    | merge when mergeByName.ContainsKey merge ->
                        inParens (sepBy1 expr (symbol ",")) |>> fun branches -> Branches (mergeByName[merge], branches)
                    | _ ->
                        (symbol ":" >>. nested term |>> fun body -> Named (identifier, body))
                        <|> layerOrCall start position identifier
                rest stream
    // Only the first character is labelled: a label on the whole term would replace the message of an
    // error that `fatalAt` places at the term's start, such as a missing argument.
    let termStart = followedBy (skipChar '(' <|> skipSatisfy isNameStart) <?> "a layer or block"
    termRef.Value <- termStart >>. (inParens expr <|> named)
    exprRef.Value <- sepBy1 term (symbol ">>") |>> function [ single ] -> single | terms -> Seq terms
    expr

let private positive: P<int> =
    validated (pint32 .>> ws) (fun n -> if n >= 1 then Result.Ok n else Result.Error "sizes must be at least 1")

let private input: P<Shape> =
    symbol "input"
    >>. between (symbol "(") (symbol ")") (sepBy1 positive (symbol ","))
    >>= function
        | [ c; h; w ] -> preturn (Spatial (c, h, w))
        | [ n ] -> preturn (Flat n)
        | _ -> fail "input takes (channels, height, width) or (features)"

let private definitionName what : P<string> =
    validated name (fun n ->
        if keywords.Contains n then Result.Error (sprintf "'%s' is a keyword and cannot name a %s" n what)
        elif (Registry.tryFind n).IsSome then Result.Error (sprintf "'%s' is a layer kind and cannot name a %s" n what)
        else Result.Ok n)

let private block: P<Block> =
    symbol "block" >>. definitionName "block"
    .>>. (between (symbol "(") (symbol ")") (sepBy name (symbol ",")) <|> preturn [])
    .>> symbol "=" .>>. expression
    |>> fun ((blockName, parameters), body) -> { Name = blockName; Parameters = parameters; Body = body }

let private program: P<Program> =
    ws >>. input .>>. many block .>> symbol "network" .>>. definitionName "network" .>> symbol "=" .>>. expression
    .>> eof
    |>> fun (((shape, blocks), networkName), body) -> { Name = networkName; Input = shape; Blocks = blocks; Body = body }

let rec private describe (errors: ErrorMessageList) =
    let messages = ErrorMessageList.ToSortedArray errors
    let expected =
        messages
        |> Array.choose (fun m ->
            match m with
            | :? ErrorMessage.Expected as e -> Some e.Label
            | :? ErrorMessage.ExpectedString as e -> Some (sprintf "'%s'" e.String)
            | _ -> None)
        |> Array.distinct
    let others =
        messages
        |> Array.choose (fun m ->
            match m with
            | :? ErrorMessage.Message as e -> Some e.String
            | :? ErrorMessage.Unexpected as e -> Some ("unexpected " + e.Label)
            | :? ErrorMessage.UnexpectedString as e -> Some (sprintf "unexpected '%s'" e.String)
            | :? ErrorMessage.NestedError as e -> Some (describe e.Messages)
            | :? ErrorMessage.CompoundError as e -> Some (describe e.NestedErrorMessages)
            | _ -> None)
    let expectedText =
        match expected with
        | [||] -> []
        | [| single |] -> [ "expected " + single ]
        | many -> [ sprintf "expected %s or %s" (String.Join(", ", many[.. many.Length - 2])) many[many.Length - 1] ]
    match List.ofArray others @ expectedText with
    | [] -> "syntax error"
    | parts -> String.concat "; " parts

let private textPlace file (position: Position) = Text (file, int position.Line, int position.Column)

let private run parser file (text: string) =
    match runParserOnString parser { Depth = 0; Calls = [] } file text with
    | Success (result, state, _) -> Result.Ok (result, state)
    | Failure (_, error, _) -> Result.Error (Diagnostic.at (textPlace file error.Position) (describe error.Messages))

let parseProgram (file: string) (text: string) : Result<Program, Diagnostic> =
    run program file text
    |> Result.bind (fun (parsed, state) ->
        let blockNames = parsed.Blocks |> List.map (fun b -> b.Name)
        match state.Calls |> List.rev |> List.tryFind (fun (n, _) -> not (List.contains n blockNames)) with
        | None -> Result.Ok parsed
        | Some (unknown, position) ->
            let diagnostic = Diagnostic.at (textPlace file position) (sprintf "unknown layer or block '%s'" unknown)
            match Registry.nearest (Seq.append blockNames Registry.names) unknown with
            | Some n -> Result.Error (Diagnostic.withHint (sprintf "did you mean '%s'?" n) diagnostic)
            | None -> Result.Error diagnostic)

let parseNode (text: string) : Result<Node, Diagnostic> =
    run (ws >>. expression .>> eof) "<expression>" text |> Result.map fst

let parseActivation (text: string) : Result<ActExpr, Diagnostic> =
    run (ws >>. activation .>> eof) "<activation>" text |> Result.map fst
