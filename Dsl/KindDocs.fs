/// The language's layer reference as a Markdown table, written from the kinds' own names, signatures and
/// docs, so that docs/language.md cannot drift from what the parser accepts (scripts/gen-docs.sh writes it
/// there; a test fails when the file's copy differs).
module Receptor.Dsl.KindDocs

open Receptor.Dsl

/// What an argument accepts, in the words of the language's syntax.
let private argType argType =
    match argType with
    | PositiveInt -> "integer ≥ 1"
    | NaturalInt -> "integer ≥ 0"
    | KernelSize -> "k or h x w"
    | PaddingSpec -> "n, h x w, same or valid"
    | Number -> "number"
    | Fraction -> "number in [0, 1)"
    | Flag -> "true or false"
    | OneOf words -> words |> List.map (sprintf "`%s`") |> String.concat " or "
    | Activation -> "expression of x"

/// A table cell holds one line, and `|` would end it.
let private cell (text: string) = text.Replace("|", "\\|").Replace("\n", " ")

let private argument (parameter: ParamSpec) =
    let written, requirement =
        match parameter.Default with
        | Required -> sprintf "`%s`" parameter.Name, ", required"
        | Fixed value -> sprintf "`%s=%s`" parameter.Name (Printer.value value), ""
        | SameAs other -> sprintf "`%s`" parameter.Name, sprintf ", defaults to `%s`" other
    sprintf "%s (%s%s): %s" written (argType parameter.Type) requirement parameter.Doc

let private row (kind: LayerKind) =
    let name =
        match kind.Aliases with
        | [] -> sprintf "`%s`" kind.Name
        | aliases -> sprintf "`%s` (also %s)" kind.Name (aliases |> List.map (sprintf "`%s`") |> String.concat ", ")
    let arguments =
        match kind.Signature with
        | [] -> "none"
        | signature -> signature |> List.map argument |> String.concat "<br>"
    sprintf "| %s | %s | %s |" (cell name) (cell kind.Doc) (cell arguments)

/// One row per kind of the registry, in its order: name and aliases, what the layer does, and its arguments
/// in signature order (required ones first, as they may be given by position).
let table (kinds: LayerKind list) =
    [ "| layer | what it does | arguments |"; "|---|---|---|" ] @ List.map row kinds |> String.concat "\n"
