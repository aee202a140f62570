/// The pretty-printer: trees back to the text syntax. Parsing what it prints gives the same tree:
/// `Parser.parseNode (node n) = Ok n`, `Parser.parseActivation (expression e) = Ok e` and
/// `Parser.parseProgram file (program p) = Ok p`, for trees whose layers and arguments are those of
/// their kinds' signatures, in signature order (as the parser and the combinators build them).
module Receptor.Dsl.Printer

open Receptor.Dsl

/// The shortest text that reads back as the same float, always with a decimal point or an exponent so that
/// it does not read back as an integer: `1.0`, `0.1`, `1E-05`; `Infinity`, `-Infinity` and `NaN` as .NET
/// writes them.
val formatFloat: f: float -> string

/// A unary function's name in activation expressions (`neg`, `abs`, `square`, … `erf`).
val unaryName: fn: UnaryFn -> string

/// An activation expression: + − × ÷ infix with parentheses where the left-to-right reading would
/// re-associate, the other functions as calls (`max(x, 0.0)`), a negation as `-(a)`.
val expression: e: ActExpr -> string

/// An argument value: `3`, `0.5`, `true`, `same`, `3x5` for a pair, a block parameter by its name,
/// arithmetic with parentheses around nested operations, an activation expression as `expression` writes it.
val value: v: Value -> string

/// A layer: its kind alone without arguments, otherwise `kind(a, b, name=c)` with the leading required
/// arguments by position and the others by name (`conv(3, 64, stride=2)`).
val layer: l: Layer -> string

/// An architecture expression on one line: `a >> b` for a sequence (the empty one is `identity`),
/// `add(a, b)` for a merge, `residual(body, shortcut=s, scale=k)`, `repeat(n, body)`, `name: body` and
/// `block(args)`, with parentheses where `>>` would re-associate.
val node: n: Node -> string

/// An input shape as a program declares it: `input(c, h, w)` or `input(n)`.
val shape: s: Shape -> string

/// A whole program: its input, its blocks and the network, separated by blank lines and ending in a newline;
/// a body longer than 100 characters goes one stage of its top-level sequence a line.
val program: p: Program -> string
