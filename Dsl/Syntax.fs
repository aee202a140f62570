/// The syntax tree: an architecture is an expression whose leaves are layers.
namespace Receptor.Dsl

/// Unary functions of the activation-expression language (Ramachandran et al. 2017).
type UnaryFn =
    | Neg | Abs | Square | Cube | Sqrt | Exp | Log | Sin | Cos | Sinh | Cosh | Tanh | Asinh | Atan | Sinc
    | Relu | Sigmoid | Softplus | Gauss | Erf

/// Binary functions of the activation-expression language.
type BinaryFn =
    | Add | Sub | Mul | Div | Max | Min

/// An activation written as an expression of the input `x` and named learnable scalars.
type ActExpr =
    | X
    | Const of float
    | Scalar of name: string
    | Unary of UnaryFn * ActExpr
    | Binary of BinaryFn * ActExpr * ActExpr

type ArithOp =
    | Plus | Minus | Times | Divide

/// The values a choice point of a search space ranges over.
type Domain =
    /// One of the values listed: `choice(32, 64, 96)`.
    | Among of Value list
    /// low, low + step, …, up to high inclusive: `int(16, 64, step=16)`.
    | IntRange of low: int * high: int * step: int
    /// A real in [low, high], drawn uniformly or, with `log`, log-uniformly: `real(1e-3, 1, log)`.
    | RealRange of low: float * high: float * log: bool
    /// An activation expression evolved from a start: `evolve(x * sigmoid(x))` (activation arguments only).
    | Evolved of start: ActExpr

/// The value of a layer argument as written. `Var` and `Arith` appear only inside block bodies and
/// disappear when a block is instantiated; `Choose` appears only in search spaces and disappears when a
/// space is sampled.
and Value =
    | Int of int
    | Float of float
    | Bool of bool
    | Word of string
    | Pair of int * int
    | Var of string
    | Arith of ArithOp * Value * Value
    | Expr of ActExpr
    /// A choice point over values; the same name anywhere in a space is one decision.
    | Choose of name: string option * Domain

/// One layer: its kind's name and the arguments given explicitly, in the kind's signature order.
type Layer = { Kind: string; Args: (string * Value) list }

/// How parallel branches are merged.
type Merge =
    | Add | Concat | Multiply | Mean | Max

/// An architecture expression.
type Node =
    | Op of Layer
    /// Apply each in turn: `a >> b >> c`.
    | Seq of Node list
    /// Apply each to the same input and merge: `concat(a, b)`.
    | Branches of Merge * Node list
    /// `shortcut(x) + scale · body(x)`; an absent shortcut is the identity, an absent scale is 1.
    | Residual of body: Node * shortcut: Node option * scale: Value option
    /// `body >> body >> …`, count times.
    | Repeat of count: Value * body: Node
    /// Gives the sub-expression a path segment of its own.
    | Named of name: string * Node
    /// An instance of a parameterised block.
    | Call of block: string * args: Value list
    /// A choice point of a search space over sub-expressions: `choice(a, b)`, `optional(a)` (a or identity).
    /// The same name anywhere in a space is one decision; a sampled space has none left.
    | Choice of name: string option * options: Node list

/// A tensor's shape without the batch axis.
type Shape =
    | Spatial of channels: int * height: int * width: int
    | Flat of features: int

/// A named, parameterised block: `block basic(c, s) = …`.
type Block = { Name: string; Parameters: string list; Body: Node }

/// A whole text file: its input, its blocks and the network.
type Program = { Name: string; Input: Shape; Blocks: Block list; Body: Node }

/// Where a diagnostic points.
type Place =
    | Text of file: string * line: int * column: int
    | LayerPath of string
    | Nowhere

/// An error in user input: a place, what is wrong, and optionally how to fix it.
type Diagnostic = { Place: Place; Message: string; Hint: string option }

module Shape =
    let elements shape =
        match shape with
        | Spatial (c, h, w) -> int64 c * int64 h * int64 w
        | Flat n -> int64 n

    let format shape =
        match shape with
        | Spatial (c, h, w) -> sprintf "%d×%d×%d" c h w
        | Flat n -> string n

    let channels shape =
        match shape with
        | Spatial (c, _, _) -> c
        | Flat n -> n

module Diagnostic =
    let at place message = { Place = place; Message = message; Hint = None }

    let atPath path message = at (LayerPath path) message

    let withHint hint diagnostic = { diagnostic with Hint = Some hint }

    let format diagnostic =
        let place =
            match diagnostic.Place with
            | Text (file, line, column) -> sprintf "%s:%d:%d: " file line column
            | LayerPath "" -> ""
            | LayerPath path -> path + ": "
            | Nowhere -> ""
        let hint = diagnostic.Hint |> Option.map (sprintf "\n  hint: %s") |> Option.defaultValue ""
        sprintf "%serror: %s%s" place diagnostic.Message hint
