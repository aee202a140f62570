/// A search space: a program whose text has choice points (`choice`, `optional`, `int`, `real`), and what
/// can be done with it before any training: list its choice points, count it, sample it, mutate a sample.
///
/// Every choice point is one decision where it is written. A point inside a block body is decided once for
/// the whole network (every call of the block gets the same cell); a point in a call's arguments is decided
/// per call. Points that share a name are one decision. Unnamed points are called #1, #2, … in the order
/// they are written (blocks first, then the network).
module Receptor.Search.Space

open System
open System.Numerics
open System.Security.Cryptography
open System.Text
open Receptor.Dsl
open Receptor.Core.Data

/// What one choice point decided.
type Decision =
    /// The index of the option or listed value taken (0-based).
    | Pick of int
    /// The value taken from an integer range.
    | Whole of int
    /// The value taken from a real range.
    | Real of float
    /// The activation an evolved point took.
    | Expression of ActExpr

/// What a choice point ranges over.
type PointKind =
    | Options of Node list
    | Values of Domain

type Point =
    { Id: string
      Kind: PointKind }

type Space =
    { /// The program with every choice point named by its Id.
      Program: Program
      /// Each decision once, in the order written.
      Points: Point list }

/// One network of the space.
type Sample =
    { /// The space's program with every choice point replaced by what was decided.
      Program: Program
      /// The decisions that were taken: those of the points that the network contains.
      Decisions: Map<string, Decision>
      /// The program printed: an ordinary .rcp text.
      Text: string
      /// Equal for two samples exactly when their expanded networks are written alike (block structure,
      /// names and identities aside): the same network is trained once.
      Fingerprint: string }

// ------------------------------------------------------------------------------------------------ traversal

/// Rebuilds a tree, mapping its choice points and values: `onNode` may replace a node outright (Some), and
/// `onValue` every value.
let rec private mapNode (onNode: Node -> Node option) (onValue: Value -> Value) node =
    match onNode node with
    | Some replaced -> replaced
    | None ->
        let recurse = mapNode onNode onValue
        match node with
        | Op layer -> Op { layer with Args = layer.Args |> List.map (fun (n, v) -> n, onValue v) }
        | Seq nodes -> Seq (List.map recurse nodes)
        | Branches (merge, nodes) -> Branches (merge, List.map recurse nodes)
        | Residual (body, shortcut, scale) -> Residual (recurse body, Option.map recurse shortcut, Option.map onValue scale)
        | Repeat (count, body) -> Repeat (onValue count, recurse body)
        | Named (name, body) -> Named (name, recurse body)
        | Call (block, args) -> Call (block, List.map onValue args)
        | Choice (name, options) -> Choice (name, List.map recurse options)

let private mapProgram onNode onValue (program: Program) =
    { program with
        Blocks = program.Blocks |> List.map (fun b -> { b with Body = mapNode onNode onValue b.Body })
        Body = mapNode onNode onValue program.Body }

/// The program with every unnamed choice point named #1, #2, … in the order written.
let private label (program: Program) =
    let mutable next = 0
    let fresh () =
        next <- next + 1
        $"#{next}"
    let rec onValue value =
        match value with
        | Choose (name, Among values) ->
            let id = name |> Option.defaultWith fresh
            Choose (Some id, Among (List.map onValue values))
        | Choose (name, domain) -> Choose (Some (name |> Option.defaultWith fresh), domain)
        | Arith (op, a, b) -> Arith (op, onValue a, onValue b)
        | other -> other
    let rec onNode node =
        match node with
        | Choice (name, options) ->
            let id = name |> Option.defaultWith fresh
            Some (Choice (Some id, options |> List.map (mapNode onNode onValue)))
        | _ -> None
    mapProgram onNode onValue program

/// Every choice point of a labelled program, first occurrences in the order written.
let private pointsOf (program: Program) =
    let found = Collections.Generic.List<Point>()
    let add id kind =
        if not (found.Exists(fun p -> p.Id = id)) then found.Add { Id = id; Kind = kind }
    let rec onValue value =
        match value with
        | Choose (Some id, domain) ->
            add id (Values domain)
            match domain with
            | Among values -> values |> List.iter (onValue >> ignore)
            | _ -> ()
            value
        | Arith (_, a, b) ->
            onValue a |> ignore
            onValue b |> ignore
            value
        | other -> other
    let onNode node =
        match node with
        | Choice (Some id, options) ->
            add id (Options options)
            None
        | _ -> None
    mapProgram onNode onValue program |> ignore
    List.ofSeq found

/// How many values a point can take, or None for a real range or an evolved activation.
let private breadth kind =
    match kind with
    | Options options -> Some options.Length
    | Values (Among values) -> Some values.Length
    | Values (IntRange (low, high, step)) -> Some ((high - low) / step + 1)
    | Values (RealRange _) | Values (Evolved _) -> None

let private sameSort a b =
    match a, b with
    | Options _, Options _ | Values _, Values _ -> true
    | _ -> false

/// Two points under one name must offer the same alternatives, or the name would not be one decision.
let private consistent (program: Program) =
    let kinds = Collections.Generic.Dictionary<string, PointKind>()
    let mutable clash = None
    let see id kind =
        match kinds.TryGetValue id with
        | true, earlier when breadth earlier <> breadth kind || sameSort earlier kind |> not ->
            clash <- clash |> Option.orElse (Some id)
        | true, _ -> ()
        | _ -> kinds[id] <- kind
    let onValue value =
        match value with
        | Choose (Some id, domain) -> see id (Values domain); value
        | other -> other
    let onNode node =
        match node with
        | Choice (Some id, options) -> see id (Options options); None
        | _ -> None
    mapProgram onNode onValue program |> ignore
    match clash with
    | Some id -> Error $"the choice points named '{id}' offer different alternatives; one name is one decision"
    | None -> Ok ()

// -------------------------------------------------------------------------------------------------- spaces

/// The space of a parsed program (with or without choice points).
let ofProgram (program: Program) : Result<Space, Diagnostic> =
    let labelled = label program
    consistent labelled
    |> Result.mapError (Diagnostic.at Nowhere)
    |> Result.map (fun () -> { Program = labelled; Points = pointsOf labelled })

/// Parses a space file; `file` labels the diagnostics.
let parse (file: string) (text: string) : Result<Space, Diagnostic> =
    Parser.parseProgram file text |> Result.bind ofProgram

/// A point's alternatives as text, for listing: `conv(3, c) | conv(5, c)`, `int(16, 64, step=16)`.
let describe (point: Point) =
    match point.Kind with
    | Options options -> options |> List.map Printer.node |> String.concat " | "
    | Values (Among values) -> values |> List.map Printer.value |> String.concat " | "
    | Values domain -> Printer.value (Choose (None, domain))

/// The number of distinct decision sets, counting only the points that a network contains (a point inside
/// an option not taken does not multiply), or None when a real range or an evolved activation makes it
/// unbounded. A named point is
/// counted where it first occurs.
let size (space: Space) : BigInteger option =
    let counted = Collections.Generic.HashSet<string>()
    let product (xs: BigInteger option list) = xs |> List.fold (fun acc x -> Option.map2 (*) acc x) (Some BigInteger.One)
    let rec ofValue value =
        match value with
        | Choose (Some id, domain) when counted.Add id ->
            match domain with
            | Among values -> values |> List.map ofValue |> List.fold (fun acc x -> Option.map2 (+) acc x) (Some BigInteger.Zero)
            | IntRange (low, high, step) -> Some (BigInteger ((high - low) / step + 1))
            | RealRange _ | Evolved _ -> None
        | Arith (_, a, b) -> product [ ofValue a; ofValue b ]
        | _ -> Some BigInteger.One
    let blocks = space.Program.Blocks |> List.map (fun b -> b.Name, b) |> Map.ofList
    let usedBlocks = Collections.Generic.HashSet<string>()
    let rec ofNode node =
        match node with
        | Op layer -> layer.Args |> List.map (snd >> ofValue) |> product
        | Seq nodes | Branches (_, nodes) -> nodes |> List.map ofNode |> product
        | Residual (body, shortcut, scale) ->
            product [ ofNode body; shortcut |> Option.map ofNode |> Option.defaultValue (Some BigInteger.One)
                      scale |> Option.map ofValue |> Option.defaultValue (Some BigInteger.One) ]
        | Repeat (count, body) -> product [ ofValue count; ofNode body ]
        | Named (_, body) -> ofNode body
        | Call (block, args) ->
            let body =
                match blocks.TryFind block with
                | Some b when usedBlocks.Add block -> ofNode b.Body
                | _ -> Some BigInteger.One
            product (body :: List.map ofValue args)
        | Choice (Some id, options) when counted.Add id ->
            options |> List.map ofNode |> List.fold (fun acc x -> Option.map2 (+) acc x) (Some BigInteger.Zero)
        | Choice _ -> Some BigInteger.One
    ofNode space.Program.Body

/// A size as people read it: exact below 10^15, else as a power of ten.
let formatSize (size: BigInteger option) =
    match size with
    | None -> "unbounded (a real range or an evolved activation)"
    | Some n when n < BigInteger.Pow(BigInteger 10, 15) -> n.ToString("N0", Globalization.CultureInfo.InvariantCulture) + " networks"
    | Some n -> sprintf "about 10^%.1f networks" (BigInteger.Log10 n)

// ---------------------------------------------------------------------------------------------- resolving

/// A resolved tree as people would write it: an option that was a sequence joins the sequence it sits in,
/// and an `optional` that was left out leaves no `identity` behind.
let rec private tidy node =
    match node with
    | Seq nodes ->
        nodes
        |> List.collect (fun n ->
            match tidy n with
            | Seq inner -> inner
            | other -> [ other ])
        |> List.filter (fun n -> n <> Op { Kind = "identity"; Args = [] })
        |> function
            | [] -> Op { Kind = "identity"; Args = [] }
            | [ single ] -> single
            | many -> Seq many
    | Branches (merge, nodes) -> Branches (merge, List.map tidy nodes)
    | Residual (body, shortcut, scale) -> Residual (tidy body, Option.map tidy shortcut, scale)
    | Repeat (count, body) -> Repeat (count, tidy body)
    | Named (name, body) -> Named (name, tidy body)
    | Op _ | Call _ | Choice _ -> node

/// The network for one set of decisions: each choice point the network contains is decided by `decide`
/// (once per name); returns the resolved program and the decisions taken.
let private resolve (decide: Point -> Decision) (space: Space) : Program * Map<string, Decision> =
    let taken = Collections.Generic.Dictionary<string, Decision>()
    let decision id kind =
        match taken.TryGetValue id with
        | true, d -> d
        | _ ->
            let d = decide { Id = id; Kind = kind }
            taken[id] <- d
            d
    let rec onValue value =
        match value with
        | Choose (Some id, domain) ->
            match domain, decision id (Values domain) with
            | Among values, Pick i -> onValue values[i]
            | IntRange _, Whole n -> Int n
            | RealRange _, Real x -> Float x
            | Evolved _, Expression e -> Expr e
            | _, d -> invalidArg "decide" $"decision {d} does not suit choice point '{id}'"
        | Arith (op, a, b) -> Arith (op, onValue a, onValue b)
        | other -> other
    // Blocks are resolved only through their calls, so that a block no call uses decides nothing.
    let called = Collections.Generic.HashSet<string>()
    let rec onNode node =
        match node with
        | Choice (Some id, options) ->
            match decision id (Options options) with
            | Pick i -> Some (mapNode onNode onValue options[i])
            | d -> invalidArg "decide" $"decision {d} does not suit choice point '{id}'"
        | Call (block, _) ->
            called.Add block |> ignore
            None
        | _ -> None
    let program = space.Program
    let body = mapNode onNode onValue program.Body
    let rec blocks resolved =
        match program.Blocks |> List.tryFind (fun b -> called.Contains b.Name && not (Map.containsKey b.Name resolved)) with
        | Some b -> blocks (Map.add b.Name { b with Body = mapNode onNode onValue b.Body } resolved)
        | None -> resolved
    let resolvedBlocks = blocks Map.empty
    let usedBlocks = program.Blocks |> List.choose (fun b -> Map.tryFind b.Name resolvedBlocks) |> List.map (fun b -> { b with Body = tidy b.Body })
    { program with Blocks = usedBlocks; Body = tidy body }, (taken |> Seq.map (fun kv -> kv.Key, kv.Value) |> Map.ofSeq)

/// The canonical form of an expanded tree: names dropped, sequences flattened, identities removed.
let rec private canonical node =
    match node with
    | Named (_, body) -> canonical body
    | Seq nodes ->
        nodes
        |> List.collect (fun n ->
            match canonical n with
            | Seq inner -> inner
            | Op { Kind = "identity" } -> []
            | other -> [ other ])
        |> function
            | [ single ] -> single
            | many -> Seq many
    | Branches (merge, nodes) -> Branches (merge, List.map canonical nodes)
    | Residual (body, shortcut, scale) -> Residual (canonical body, Option.map canonical shortcut, scale)
    | Repeat (count, body) -> Repeat (count, canonical body)
    | Op _ | Call _ | Choice _ -> node

let private fingerprintOf (program: Program) =
    let network =
        match Expand.program program with
        | Ok expanded -> Printer.node (canonical expanded)
        | Error _ -> Printer.program program
    let text = Printer.shape program.Input + "\n" + network
    Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes text)).Substring(0, 16).ToLowerInvariant()

let private sampleOf (program: Program, decisions) =
    { Program = program
      Decisions = decisions
      Text = Printer.program program
      Fingerprint = fingerprintOf program }

/// A uniformly drawn decision for a point (log-uniform for a `log` real range).
let private draw (rng: Rng) (point: Point) =
    match point.Kind with
    | Options options -> Pick (rng.NextInt options.Length)
    | Values (Among values) -> Pick (rng.NextInt values.Length)
    | Values (IntRange (low, high, step)) -> Whole (low + step * rng.NextInt((high - low) / step + 1))
    | Values (RealRange (low, high, false)) -> Real (low + (high - low) * rng.NextFloat())
    | Values (RealRange (low, high, true)) -> Real (exp (log low + (log high - log low) * rng.NextFloat()))
    // The start itself half the time, so that a search always meets it early.
    | Values (Evolved start) -> Expression (if rng.NextInt 2 = 0 then start else Activations.random rng)

/// A network drawn at random: every decision uniform.
let sample (rng: Rng) (space: Space) : Sample = resolve (draw rng) space |> sampleOf

/// The network of given decisions; points they do not decide are drawn.
let withDecisions (rng: Rng) (decisions: Map<string, Decision>) (space: Space) : Sample =
    resolve (fun point -> decisions |> Map.tryFind point.Id |> Option.defaultWith (fun () -> draw rng point)) space |> sampleOf

/// One-point mutation: one decision of the parent, among those with an alternative, is drawn again until
/// it differs; the rest are kept, and points that the change brings in are drawn. A parent with no
/// alternative anywhere is returned unchanged.
let mutate (rng: Rng) (space: Space) (parent: Sample) : Sample =
    let points = space.Points |> List.map (fun p -> p.Id, p) |> Map.ofList
    let mutable candidates =
        parent.Decisions
        |> Map.toList
        |> List.choose (fun (id, _) -> points.TryFind id)
        |> List.filter (fun p -> breadth p.Kind <> Some 1)
    match candidates with
    | [] -> parent
    | _ ->
        let point = candidates[rng.NextInt candidates.Length]
        let old = parent.Decisions[point.Id]
        let rec fresh tries =
            let d = draw rng point
            if d <> old || tries = 0 then d else fresh (tries - 1)
        let changed =
            match old with
            | Expression e -> Expression (Activations.mutate rng e)
            | _ -> fresh 64
        withDecisions rng (Map.add point.Id changed parent.Decisions) space

// -------------------------------------------------------------------------------------------- decisions

/// JSON text as people read it: `+` and `<` stay themselves (the text is never embedded in HTML).
let private readable = Text.Json.JsonSerializerOptions(Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

/// Decisions as a JSON object, {"#1": 2, "width": 48, "lr": 0.01}: the kind of each is known from its point.
let decisionsToJson (decisions: Map<string, Decision>) =
    let value d =
        match d with
        | Pick i -> string i
        | Whole n -> string n
        | Real x -> x.ToString("R", Globalization.CultureInfo.InvariantCulture)
        | Expression e -> Text.Json.JsonSerializer.Serialize(Printer.expression e, readable)
    decisions
    |> Map.toList
    |> List.map (fun (id, d) -> $"{Text.Json.JsonSerializer.Serialize(id, readable)}: {value d}")
    |> String.concat ", "
    |> sprintf "{%s}"

/// Decisions read back against the space's points; ids the space does not have are an error.
let decisionsOfJson (space: Space) (json: string) : Result<Map<string, Decision>, string> =
    try
        use document = Text.Json.JsonDocument.Parse json
        let points = space.Points |> List.map (fun p -> p.Id, p) |> Map.ofList
        document.RootElement.EnumerateObject()
        |> Seq.map (fun property ->
            match points.TryFind property.Name with
            | None -> Error $"decision '{property.Name}' names no choice point of the space"
            | Some point ->
                match point.Kind with
                | Options _ | Values (Among _) -> Ok (point.Id, Pick (property.Value.GetInt32()))
                | Values (IntRange _) -> Ok (point.Id, Whole (property.Value.GetInt32()))
                | Values (RealRange _) -> Ok (point.Id, Real (property.Value.GetDouble()))
                | Values (Evolved _) ->
                    Parser.parseActivation (property.Value.GetString())
                    |> Result.map (fun e -> point.Id, Expression e)
                    |> Result.mapError Diagnostic.format)
        |> Seq.fold (fun acc r -> acc |> Result.bind (fun m -> r |> Result.map (fun (k, v) -> Map.add k v m))) (Ok Map.empty)
    with :? Text.Json.JsonException as e -> Error $"decisions are not JSON: {e.Message}"
