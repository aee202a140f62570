/// Checking one layer's arguments against its kind's signature.
module Receptor.Dsl.LayerCheck

open Receptor.Dsl

let rec private describe value =
    match value with
    | Int i -> string i
    | Float f -> string f
    | Bool b -> if b then "true" else "false"
    | Word w -> w
    | Pair (h, w) -> sprintf "%dx%d" h w
    | Var v -> v
    | Arith _ -> "an arithmetic expression"
    | Expr _ -> "an activation expression"
    | Choose _ -> "a choice point"

/// Whether a concrete value suits an argument type; block variables are checked when substituted.
let accepts argType value =
    match argType, value with
    | PositiveInt, Int i -> if i >= 1 then Ok () else Error "must be at least 1"
    | NaturalInt, Int i -> if i >= 0 then Ok () else Error "must not be negative"
    | KernelSize, Int i -> if i >= 1 then Ok () else Error "must be at least 1"
    | KernelSize, Pair (h, w) -> if h >= 1 && w >= 1 then Ok () else Error "sizes must be at least 1"
    | PaddingSpec, Int i -> if i >= 0 then Ok () else Error "must not be negative"
    | PaddingSpec, Pair (h, w) -> if h >= 0 && w >= 0 then Ok () else Error "must not be negative"
    | PaddingSpec, Word ("same" | "valid") -> Ok ()
    | PaddingSpec, _ -> Error "expected a size, same or valid"
    | (Number | Fraction), (Int _ | Float _) ->
        let f = match value with Int i -> float i | Float f -> f | _ -> nan
        if argType = Fraction && not (f >= 0.0 && f < 1.0) then Error "must lie in [0, 1)"
        elif not (System.Double.IsFinite f) then Error "must be finite"
        // Networks run in float32; a larger value would overflow when the layer is built.
        elif abs f > float System.Single.MaxValue then Error "must fit in 32-bit floating point (|x| ≤ 3.4e38)"
        else Ok ()
    | Flag, Bool _ -> Ok ()
    | OneOf choices, Word w when List.contains w choices -> Ok ()
    | OneOf choices, _ -> Error (sprintf "expected one of %s" (String.concat ", " choices))
    | Activation, Expr _ -> Ok ()
    | PositiveInt, _ | NaturalInt, _ -> Error "expected an integer"
    | KernelSize, _ -> Error "expected a size such as 3 or 3x5"
    | (Number | Fraction), _ -> Error "expected a number"
    | Flag, _ -> Error "expected true or false"
    | Activation, _ -> Error "expected an activation expression"

/// Resolves a layer to its kind and its arguments with defaults, or says what is wrong.
let check (layer: Layer) : Result<LayerKind * Args, string * string option> =
    match Registry.tryFind layer.Kind with
    | None ->
        let hint = Registry.nearest Registry.names layer.Kind |> Option.map (sprintf "did you mean '%s'?")
        Error (sprintf "unknown layer '%s'" layer.Kind, hint)
    | Some kind ->
        let checkArg (name, value) =
            match kind.Signature |> List.tryFind (fun p -> p.Name = name) with
            | Some spec ->
                accepts spec.Type value
                |> Result.mapError (fun why ->
                    sprintf "%s: argument '%s' = %s: %s" kind.Name name (describe value) why, None)
            | None when kind.AcceptsScalars ->
                accepts Number value
                |> Result.mapError (fun why -> sprintf "%s: scalar '%s': %s" kind.Name name why, None)
            | None ->
                let known = kind.Signature |> List.map (fun p -> p.Name)
                let hint =
                    match Registry.nearest known name with
                    | Some n -> sprintf "did you mean '%s'?" n
                    | None -> sprintf "%s takes %s" kind.Name (if known.IsEmpty then "no arguments" else String.concat ", " known)
                Error (sprintf "%s has no argument '%s'" kind.Name name, Some hint)
        let missing =
            kind.Signature
            |> List.tryFind (fun p -> p.Default = Required && not (layer.Args |> List.exists (fun (n, _) -> n = p.Name)))
        match missing with
        | Some p -> Error (sprintf "%s: missing argument '%s' (%s)" kind.Name p.Name p.Doc, None)
        | None ->
            layer.Args
            |> List.fold (fun state arg -> state |> Result.bind (fun () -> checkArg arg)) (Ok ())
            |> Result.map (fun () -> kind, Args (kind.Signature, layer.Args))
