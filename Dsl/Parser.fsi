/// The text syntax, parsed with FParsec. Errors carry file:line:column and what was expected; an
/// unknown name suggests the nearest known one. Nesting is bounded so that no input can exhaust the stack.
module Receptor.Dsl.Parser

open Receptor.Dsl

/// Parentheses, names and minus signs nested deeper than this, and expressions deeper than this, are an
/// error, not a stack overflow.
val maxNesting: int

/// Parses a whole `.rcp` program: `input(…)`, then its blocks, then `network NAME = …`; `#` starts a comment
/// to the end of the line. Layer arguments are checked against their kinds' signatures as they are read
/// (names, count, types of concrete values, required ones present) and ordered as the signatures order them;
/// every name that is not a layer kind must name a block of the file. `file` only labels the diagnostics.
val parseProgram: file: string -> text: string -> Result<Program, Diagnostic>

/// Parses a single architecture expression; names that are not layer kinds are kept as block calls
/// (`Call`), for `Shapes.checkNode` to reject or a caller to expand.
val parseNode: text: string -> Result<Node, Diagnostic>

/// Parses an activation expression of `x`, as `act(…)` takes it: constants, learnable scalars,
/// `+ - * /` and the functions `Printer.unaryName` names, with `max` and `min`.
val parseActivation: text: string -> Result<ActExpr, Diagnostic>
