module Receptor.Dsl.Printer

open System
open System.Globalization
open Receptor.Dsl

let formatFloat (f: float) =
    let text = f.ToString("R", CultureInfo.InvariantCulture)
    if text.Contains '.' || text.Contains 'E' || text.Contains "Infinity" || text.Contains "NaN" then text
    else text + ".0"

let unaryName fn =
    match fn with
    | Neg -> "neg"
    | Abs -> "abs"
    | Square -> "square"
    | Cube -> "cube"
    | Sqrt -> "sqrt"
    | Exp -> "exp"
    | Log -> "log"
    | Sin -> "sin"
    | Cos -> "cos"
    | Sinh -> "sinh"
    | Cosh -> "cosh"
    | Tanh -> "tanh"
    | Asinh -> "asinh"
    | Atan -> "atan"
    | Sinc -> "sinc"
    | Relu -> "relu"
    | Sigmoid -> "sigmoid"
    | Softplus -> "softplus"
    | Gauss -> "gauss"
    | Erf -> "erf"

let private infixSymbol fn =
    match fn with
    | BinaryFn.Add -> Some "+"
    | Sub -> Some "-"
    | Mul -> Some "*"
    | Div -> Some "/"
    | BinaryFn.Max | Min -> None

let private binaryName fn =
    match fn with
    | BinaryFn.Max -> "max"
    | Min -> "min"
    | other -> infixSymbol other |> Option.defaultValue "?"

let rec expression e =
    match e with
    | X -> "x"
    | Const c -> formatFloat c
    | Scalar name -> name
    | Unary (Neg, a) -> sprintf "-(%s)" (expression a)
    | Unary (fn, a) -> sprintf "%s(%s)" (unaryName fn) (expression a)
    | Binary (fn, a, b) ->
        match infixSymbol fn with
        | Some symbol -> sprintf "%s %s %s" (operand a) symbol (operand b)
        | None -> sprintf "%s(%s, %s)" (binaryName fn) (expression a) (expression b)

and private operand e =
    match e with
    | Binary (fn, _, _) when (infixSymbol fn).IsSome -> sprintf "(%s)" (expression e)
    | _ -> expression e

let private arithSymbol op =
    match op with
    | Plus -> "+"
    | Minus -> "-"
    | Times -> "*"
    | Divide -> "/"

let rec value v =
    match v with
    | Int i -> string i
    | Float f -> formatFloat f
    | Bool b -> if b then "true" else "false"
    | Word w -> w
    | Pair (h, w) -> string h + "x" + string w
    | Var name -> name
    | Arith (op, a, b) -> sprintf "%s %s %s" (arithOperand a) (arithSymbol op) (arithOperand b)
    | Expr e -> expression e
    | Choose (name, domain) -> domainText domain (label name)

/// `, name=NAME` when a choice point is named. The numbers a space gives its unnamed points (#1, #2, …) are
/// their order, not names, and are not printed.
and private label name =
    match name with
    | Some n when not (n.StartsWith "#") -> sprintf ", name=%s" n
    | _ -> ""

and private domainText domain label =
    match domain with
    | Among values -> sprintf "choice(%s%s)" (values |> List.map value |> String.concat ", ") label
    | IntRange (low, high, 1) -> sprintf "int(%d, %d%s)" low high label
    | IntRange (low, high, step) -> sprintf "int(%d, %d, step=%d%s)" low high step label
    | Evolved start -> sprintf "evolve(%s%s)" (expression start) label
    | RealRange (low, high, log) ->
        sprintf "real(%s, %s%s%s)" (formatFloat low) (formatFloat high) (if log then ", log" else "") label

and private arithOperand v =
    match v with
    | Arith _ -> sprintf "(%s)" (value v)
    | _ -> value v

let layer (l: Layer) =
    if l.Args.IsEmpty then l.Kind
    else
        let signature = Registry.tryFind l.Kind |> Option.map (fun k -> k.Signature) |> Option.defaultValue []
        let isRequired name = signature |> List.exists (fun p -> p.Name = name && p.Default = Required)
        let positional = l.Args |> List.takeWhile (fst >> isRequired)
        let rest = l.Args |> List.skip positional.Length
        let args =
            (positional |> List.map (snd >> value))
            @ (rest |> List.map (fun (n, v) -> n + "=" + value v))
        l.Kind + "(" + String.Join(", ", args) + ")"

let rec node n =
    match n with
    | Op l -> layer l
    | Seq [] -> "identity"
    | Seq nodes -> nodes |> List.map term |> String.concat " >> "
    | Branches (merge, nodes) ->
        sprintf "%s(%s)" (Naming.mergeName merge) (nodes |> List.map node |> String.concat ", ")
    | Residual (body, shortcut, scale) ->
        let parts =
            [ yield node body
              match shortcut with
              | Some s -> yield sprintf "shortcut=%s" (node s)
              | None -> ()
              match scale with
              | Some s -> yield sprintf "scale=%s" (value s)
              | None -> () ]
        sprintf "residual(%s)" (String.concat ", " parts)
    | Repeat (count, body) -> sprintf "repeat(%s, %s)" (value count) (node body)
    | Named (name, body) -> sprintf "%s: %s" name (term body)
    | Call (block, []) -> block
    | Call (block, args) -> sprintf "%s(%s)" block (args |> List.map value |> String.concat ", ")
    | Choice (name, [ option; Op { Kind = "identity"; Args = [] } ]) -> sprintf "optional(%s%s)" (node option) (label name)
    | Choice (name, options) -> sprintf "choice(%s%s)" (options |> List.map node |> String.concat ", ") (label name)

/// A sub-expression inside a sequence or after a name: parenthesised where `>>` would re-associate.
and private term n =
    match n with
    | Seq (_ :: _ :: _) -> sprintf "(%s)" (node n)
    | _ -> node n

/// A long top-level sequence goes one stage a line.
let private body indent n =
    let flat = node n
    match n with
    | Seq (first :: rest) when flat.Length > 100 ->
        let pad = String(' ', indent)
        term first :: (rest |> List.map (fun t -> pad + ">> " + term t)) |> String.concat "\n"
    | _ -> flat

let shape s =
    match s with
    | Spatial (c, h, w) -> sprintf "input(%d, %d, %d)" c h w
    | Flat n -> sprintf "input(%d)" n

let program (p: Program) =
    [ yield shape p.Input
      yield ""
      for b in p.Blocks do
          let parameters = if b.Parameters.IsEmpty then "" else sprintf "(%s)" (String.concat ", " b.Parameters)
          yield sprintf "block %s%s =\n    %s" b.Name parameters (body 4 b.Body)
          yield ""
      yield sprintf "network %s =\n    %s" p.Name (body 4 p.Body) ]
    |> String.concat "\n"
    |> fun text -> text + "\n"
