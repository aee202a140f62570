/// Laws of the language: printing and parsing, robustness of the parser, totality of shape inference and
/// analysis, receptive fields, positioned errors and the equivalence of combinators.
module Receptor.Properties.LanguageTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Generators
open Receptor.Core.Reporting

let private config maxTest =
    { FsCheckConfig.defaultConfig with maxTest = maxTest; arbitrary = [ typeof<Arbitraries> ] }

let private property name (test: 'a) = testPropertyWithConfig (config 500) name test

let private op kind args = Op { Kind = kind; Args = args }

let private identity = op "identity" []

let private conv kernel out extra = op "conv" ([ "kernel", Int kernel; "out", Int out ] @ extra)

let private analyse input node =
    match Analysis.ofNode "property" input node with
    | Ok report -> report
    | Error diagnostic -> failtestf "%s\nfor %s" (Diagnostic.format diagnostic) (Printer.node node)

// ---------------------------------------------------------------------------------------------- round trip

let private roundTrip =
    testList "round trip" [
        property "parsing a printed architecture gives it back" (fun (a: Architecture) ->
            let text = Printer.node a.Node
            Expect.equal (Parser.parseNode text) (Ok a.Node) text)

        property "parsing a printed activation expression gives it back" (fun (e: ActExpr) ->
            let text = Printer.expression e
            Expect.equal (Parser.parseActivation text) (Ok e) text)

        property "parsing a printed program gives it back" (fun (p: Program) ->
            let text = Printer.program p
            Expect.equal (Parser.parseProgram "generated.rcp" text) (Ok p) text)
    ]

// ------------------------------------------------------------------------------------------------ robustness

/// The lines of a text as FParsec counts them: separated by \n, \r\n or \r.
let private lines (text: string) = text.Split([| "\r\n"; "\n"; "\r" |], StringSplitOptions.None)

/// Whether a parse result is a tree or an error placed in the text, the column at most one past the line.
let private placedWithin (text: string) (result: Result<'a, Diagnostic>) =
    match result with
    | Ok _ -> true
    | Error { Place = Text (_, line, column) } ->
        let lines = lines text
        line >= 1 && line <= lines.Length && column >= 1 && column <= lines[line - 1].Length + 1
    | Error _ -> false

let private parsesOrPlacesError (text: string) =
    let results =
        [ "program", placedWithin text (Parser.parseProgram "mutated.rcp" text)
          "node", placedWithin text (Parser.parseNode text)
          "activation", placedWithin text (Parser.parseActivation text) ]
    for parser, placed in results do
        Expect.isTrue placed (sprintf "%s parser misplaced its error for %A" parser text)

/// Fragments of the syntax, so that random texts get past the first token.
let private tokens =
    [ "conv"; "relu"; "act"; "residual"; "repeat"; "add"; "concat"; "max"; "block"; "network"; "input"; "x"; "c"
      "("; ")"; ","; "="; ">>"; ":"; "-"; "+"; "*"; "/"; " "; "\n"; "\r\n"; "#"; "3"; "3x5"; "0.5"; "1e-3"; "same"
      "shortcut="; "scale="; "stride="; "true"; "é"; "\t"; "\u2028"; "\000" ]

let private syntaxLikeText =
    Gen.elements tokens |> Gen.listOf |> Gen.map String.Concat |> Arb.fromGen

type private Mutation =
    | Delete of at: int
    | Insert of at: int * text: string
    | Swap of int * int
    | Truncate of at: int

/// A position in 0 .. bound − 1 (0 when that is empty) from any non-negative number.
let private wrap bound (position: int) = if bound <= 0 then 0 else position % bound

let private mutate (text: string) mutation =
    match mutation with
    | Delete at when text.Length > 0 -> text.Remove(wrap text.Length at, 1)
    | Insert (at, inserted) -> text.Insert(wrap (text.Length + 1) at, inserted)
    | Swap (i, j) when text.Length > 0 ->
        let chars = text.ToCharArray()
        let i, j = wrap text.Length i, wrap text.Length j
        let first = chars[i]
        chars[i] <- chars[j]
        chars[j] <- first
        String chars
    | Truncate at -> text.Substring(0, wrap (text.Length + 1) at)
    | Delete _ | Swap _ -> text

let private mutations =
    let position = Gen.choose (0, Int32.MaxValue)
    Gen.oneof
        [ Gen.map Delete position
          Gen.map2 (fun at text -> Insert (at, text)) position (Gen.elements tokens)
          Gen.map2 (fun i j -> Swap (i, j)) position position
          Gen.map Truncate position ]
    |> Gen.nonEmptyListOf
    |> Gen.resize 6

let private mutated (printed: Gen<string>) =
    Gen.map2 (List.fold mutate) printed mutations |> Arb.fromGen

let private mutatedPrograms = mutated (Programs.generate |> Gen.map Printer.program)

let private robustness =
    testList "robustness" [
        property "the parsers never throw on arbitrary strings and place every error in the text"
            (fun (NonNull text) -> parsesOrPlacesError text)

        property "the parsers never throw on syntax-like strings and place every error in the text"
            (Prop.forAll syntaxLikeText parsesOrPlacesError)

        property "the parsers never throw on mutated printed architectures and place every error in the text"
            (Prop.forAll (mutated (Architectures.generate |> Gen.map (fun a -> Printer.node a.Node))) parsesOrPlacesError)

        property "the parsers never throw on mutated printed programs and place every error in the text"
            (Prop.forAll mutatedPrograms parsesOrPlacesError)

        property "checking and analysing mutated printed programs never throws" (Prop.forAll mutatedPrograms (fun text ->
            match Parser.parseProgram "mutated.rcp" text with
            | Ok program -> Analysis.ofProgram program |> ignore
            | Error _ -> ()))
    ]

// ------------------------------------------------------------------------------------------------- totality

let private typedWithOutput =
    gen {
        let! input = Architectures.input
        let! node, output = Architectures.typed input
        return { Input = input; Node = node }, output
    }
    |> Arb.fromGen

/// The largest of PyTorch's windows [floor(i·n/m), ceil((i+1)·n/m)), trying every one.
let private largestAdaptiveWindow length outputs =
    Seq.init outputs (fun i -> (((i + 1) * length + outputs - 1) / outputs) - (i * length / outputs)) |> Seq.max

let private totality =
    testList "totality" [
        property "shape checking infers the output shape the generator tracked"
            (Prop.forAll typedWithOutput (fun (a, expected) ->
                match Shapes.checkNode a.Input a.Node with
                | Ok checkedNode -> Expect.equal (Checked.output a.Input checkedNode) expected (Printer.node a.Node)
                | Error d -> failtestf "%s\nfor %s" (Diagnostic.format d) (Printer.node a.Node)))

        property "analysis succeeds with non-negative totals and the last node's output" (fun (a: Architecture) ->
            let report = analyse a.Input a.Node
            let totals = report.Totals
            if totals.Parameters < 0L || totals.Macs < 0L || totals.Flops < 0L || totals.Memory <= 0L then
                failtestf "totals %A" totals
            match report.Nodes |> List.tryFind (fun row -> row.Parameters < 0L || row.Macs < 0L || row.Flops < 0L) with
            | Some row -> failtestf "negative counts at %A" row
            | None -> Expect.equal report.Output (List.last report.Nodes).Output "the output is the last node's")

        property "the table and JSON reports render every generated architecture" (fun (a: Architecture) ->
            let report = analyse a.Input a.Node
            Expect.isNotEmpty (Report.table report) "table"
            Expect.isNotEmpty (Report.json report) "JSON")

        testPropertyWithConfig (config 500) "adaptive average pooling counts FLOPs over PyTorch's largest window"
            (Prop.forAll (Gen.four (Gen.choose (1, 64)) |> Arb.fromGen) (fun (h, w, oh, ow) ->
                let report = analyse (Spatial (2, h, w)) (op "adaptiveavgpool" [ "size", Pair (oh, ow) ])
                let expected = 2L * int64 oh * int64 ow * int64 (largestAdaptiveWindow h oh) * int64 (largestAdaptiveWindow w ow)
                Expect.equal report.Totals.Flops expected (sprintf "%dx%d to %dx%d" h w oh ow)))

        test "adaptive pooling of 64×64 to 10^8×10^8 averages single pixels" {
            let report = analyse (Spatial (3, 64, 64)) (op "adaptiveavgpool" [ "size", Int 100_000_000 ])
            Expect.equal report.Totals.Flops 30_000_000_000_000_000L "3 × 10^8 × 10^8 windows of one pixel"
        }

        property "programs with blocks pass the checker" (fun (p: Program) ->
            match Analysis.ofProgram p with
            | Ok _ -> ()
            | Error d -> failtestf "%s\nfor %s" (Diagnostic.format d) (Printer.program p))

        test "generated architectures use every layer kind and every combinator" {
            let rec constructs node =
                match node with
                | Op layer -> [ layer.Kind ]
                | Seq nodes -> List.collect constructs nodes
                | Branches (merge, nodes) -> Naming.mergeName merge :: List.collect constructs nodes
                | Residual (body, shortcut, _) ->
                    "residual" :: constructs body @ (shortcut |> Option.map constructs |> Option.defaultValue [])
                | Repeat (_, body) -> "repeat" :: constructs body
                | Named (_, body) -> "named" :: constructs body
                | Call _ -> [ "call" ]
                | Choice _ -> [ "choice" ]
            let samples = Gen.sampleWithSeed (Rnd 20250101UL) Architectures.maxSize 400 Architectures.generate
            let used = samples |> Seq.collect (fun a -> constructs a.Node) |> set
            let expected =
                (Registry.kinds |> List.map (fun k -> k.Name))
                @ [ "add"; "concat"; "multiply"; "mean"; "max"; "residual"; "repeat"; "named" ]
            Expect.isEmpty (Set.difference (set expected) used) "never generated"
        }
    ]

// ------------------------------------------------------------------------------------------ receptive field

let private fieldOf input node = (analyse input node).Field

let private outputOf (a: Architecture) =
    Architectures.outputFor a.Input a.Node |> Option.defaultWith (fun () -> failtest "ill-typed architecture")

/// A window layer as the closed form sees it: kernel, stride, padding and dilation on both axes.
type private Window = { Kind: string; Kernel: int; Stride: int; Padding: int; Dilation: int }

let private windowLayer (w: Window) =
    let common = [ "stride", Int w.Stride; "padding", Int w.Padding ]
    if w.Kind = "conv" then op "conv" ([ "kernel", Int w.Kernel; "out", Int 4 ] @ common @ [ "dilation", Int w.Dilation ])
    else op w.Kind ([ "kernel", Int w.Kernel ] @ common)

/// Chains of convolutions and pools that fit a square input of the given size.
let private windowChain size =
    let rec chain length count : Gen<Window list> =
        if count = 0 then Gen.constant []
        else
            gen {
                let! kind = Gen.elements [ "conv"; "conv"; "maxpool"; "avgpool" ]
                let! stride = Gen.choose (1, 2)
                let! dilation = if kind = "conv" then Gen.choose (1, 2) else Gen.constant 1
                let! kernel = Gen.choose (1, max 1 (min 5 ((length - 1) / dilation + 1)))
                let! padding = Gen.choose (0, if kind = "conv" then 2 else kernel / 2)
                let window = { Kind = kind; Kernel = kernel; Stride = stride; Padding = padding; Dilation = dilation }
                let next = Geometry.slide length (Geometry.dilated kernel dilation) stride padding padding
                let! rest = chain next (count - 1)
                return window :: rest
            }
    Gen.choose (1, 6) |> Gen.bind (chain size)

/// REFERENCE's closed form: r = 1 + Σ (k'ₗ − 1)·Πᵢ₍ₗ sᵢ, S = Π sₗ, P = Σ pₗ·Πᵢ₍ₗ sᵢ.
let private closedForm (windows: Window list) =
    let strideBefore = windows |> List.scan (fun product w -> product * float w.Stride) 1.0
    let terms = List.zip windows (List.take windows.Length strideBefore)
    { Size = 1.0 + (terms |> List.sumBy (fun (w, s) -> float (Geometry.dilated w.Kernel w.Dilation - 1) * s))
      Stride = List.last strideBefore
      Padding = terms |> List.sumBy (fun (w, s) -> float w.Padding * s) }

let private sequenceOf nodes =
    match nodes with
    | [ single ] -> single
    | nodes -> Seq nodes

let private misalignmentsOf input text =
    match Parser.parseNode text with
    | Ok node -> (analyse input node).Misalignments
    | Error d -> failtestf "%s" (Diagnostic.format d)

/// A feature-map architecture, a kernel, a dilation and `stride, padding` arguments with which the dilated
/// kernel fits the architecture's output.
let private dilatedAfterArchitecture =
    gen {
        let! a = Architectures.generateFeatureMaps
        let! kernel = Gen.choose (1, 4)
        let! dilation = Gen.choose (1, 3)
        let! stride = Gen.choose (1, 2)
        let! padding = Gen.choose (0, 3)
        let smallest = match outputOf a with Spatial (_, h, w) -> min h w | Flat n -> n
        let fits = Geometry.dilated kernel dilation <= smallest + 2 * padding
        let! paddingValue = if fits then Gen.elements [ Int padding; Word "same" ] else Gen.constant (Word "same")
        return a, kernel, dilation, [ "stride", Int stride; "padding", paddingValue ]
    }
    |> Arb.fromGen

let private receptiveField =
    let input = Spatial (8, 32, 32)
    testList "receptive field" [
        testPropertyWithConfig (config 500) "appending a 1×1 stride-1 convolution leaves the field unchanged"
            (Prop.forAll Architectures.featureMapArbitrary (fun a ->
                let extended = Seq [ a.Node; conv 1 (Shape.channels (outputOf a)) [] ]
                Expect.equal (fieldOf a.Input extended) (fieldOf a.Input a.Node) (Printer.node extended)))

        testPropertyWithConfig (config 500) "a dilated convolution has the field of a plain one as wide as its taps"
            (Prop.forAll dilatedAfterArchitecture (fun (a, kernel, dilation, window) ->
                let c = Shape.channels (outputOf a)
                let dilated = Seq [ a.Node; conv kernel c (window @ [ "dilation", Int dilation ]) ]
                let plain = Seq [ a.Node; conv (Geometry.dilated kernel dilation) c window ]
                Expect.equal (fieldOf a.Input dilated) (fieldOf a.Input plain) (Printer.node dilated)))

        testPropertyWithConfig (config 500) "chains of convolutions and pools agree with the closed form"
            (Prop.forAll (Gen.choose (16, 64) |> Gen.bind (fun n -> windowChain n |> Gen.map (fun w -> n, w)) |> Arb.fromGen)
                (fun (n, windows) ->
                    let node = windows |> List.map windowLayer |> sequenceOf
                    let expected = closedForm windows
                    Expect.equal (fieldOf (Spatial (3, n, n)) node) (Local (expected, expected)) (Printer.node node)))

        testPropertyWithConfig (config 500) "zero padding before a convolution has the field of padding inside it"
            (Prop.forAll (Gen.zip Architectures.generateFeatureMaps (Gen.choose (1, 3)) |> Arb.fromGen) (fun (a, padding) ->
                let c = Shape.channels (outputOf a)
                let inside = Seq [ a.Node; conv 3 c [ "padding", Int padding ] ]
                let before = Seq [ a.Node; op "zeropad" [ "padding", Int padding ]; conv 3 c [] ]
                Expect.equal (fieldOf a.Input before) (fieldOf a.Input inside) (Printer.node inside)))

        property "a merge of a node with itself is aligned" (fun (a: Architecture) ->
            let merged = Seq [ identity; Branches (Add, [ a.Node; a.Node ]) ]
            let atMerge = (analyse a.Input merged).Misalignments |> List.filter (fun m -> m.Path = "add")
            Expect.isEmpty atMerge (Printer.node merged))

        test "branches padded to their kernels are aligned" {
            for text in
                [ "add(conv(3, 8, padding=1), conv(5, 8, padding=2))"
                  "add(conv(3, 8, padding=1), conv(3, 8, padding=2, dilation=2), identity)"
                  // Zero padding after a valid convolution centres it just as padding inside it would.
                  "concat(conv(3, 8, padding=1), conv(3, 8) >> zeropad(1))" ] do
                Expect.isEmpty (misalignmentsOf input text) text
        }

        test "a strided 1×1 shortcut beside 2×2 max pooling is misaligned at the merge" {
            let found = misalignmentsOf input "stem: conv(3, 8, padding=1) >> down: add(conv(1, 8, stride=2), maxpool(2))"
            Expect.equal (found |> List.map (fun m -> m.Path) |> List.distinct) [ "down" ] "the merge's path"
            Expect.all found (fun m -> m.Message.Contains "centres") "the centres differ"
        }

        test "an even kernel with same padding is misaligned with an odd one" {
            let found = misalignmentsOf input "relu >> block1: add(conv(3, 8, padding=1), conv(2, 8, padding=same))"
            Expect.equal (found |> List.map (fun m -> m.Path) |> List.distinct) [ "block1" ] "the merge's path"
        }
    ]

// --------------------------------------------------------------------------------------------- broken inputs

let private badFile = "bad.rcp"

let private program body = sprintf "input(3, 32, 32)\nnetwork net =\n    %s\n" body

/// Parses and checks a text, expecting an error placed in it.
let private errorOf text =
    match Parser.parseProgram badFile text |> Result.bind Analysis.ofProgram with
    | Ok _ -> failtestf "accepted %A" text
    | Error d -> d

let private expectPlaced (line, column) (fragment: string) text =
    let d = errorOf text
    Expect.equal d.Place (Text (badFile, line, column)) (Diagnostic.format d)
    Expect.stringContains (Diagnostic.format d) fragment "the message"

let private million (text: string) = String.replicate 1_000_000 text

/// Deep enough to overflow any stack if recursed on, short enough to parse quickly.
let private hundredThousand (text: string) = String.replicate 100_000 text

/// Broken programs, where their errors are placed, and what the messages say.
let private brokenPrograms =
    [ "an unclosed parenthesis", program "conv(3, 8, padding=1 >> relu", (3, 26), "expected"
      "an unknown layer", program "conv(3, 8) >> cnov(3, 8)", (3, 19), "did you mean 'conv'?"
      "an unknown argument", program "conv(3, 8, strid=2)", (3, 16), "did you mean 'stride'?"
      "a negative kernel", program "conv(-3, 8)", (3, 10), "at least 1"
      "a missing argument", program "relu >> conv(3)", (3, 13), "missing argument 'out'"
      "an argument given twice", program "conv(3, 8, out=4)", (3, 5), "given twice"
      "an empty file", "", (1, 1), "expected"
      // The errors lie just past the 200th level.
      "10^6 nested parentheses", program (million "(" + "relu" + million ")"), (3, 206), "nesting deeper than 200"
      "10^6 nested names", program (million "a: " + "relu"), (3, 608), "nesting deeper than 200"
      "10^6 minus signs in a value", program ("conv(" + million "-" + "3, 8)"), (3, 210), "nesting deeper than 200"
      // Operator chains are read whole and rejected where they begin.
      "10^5 minus signs in an activation", program ("act(" + hundredThousand "- " + "x)"), (3, 9), "nests deeper than 200"
      "a 10^5-term activation", program ("act(x" + hundredThousand " * x" + ")"), (3, 9), "nests deeper than 200"
      "a 10^5-term arithmetic expression", program ("conv(3, 1" + hundredThousand " + 1" + ")"), (3, 13), "nests deeper than 200" ]

let private garbage =
    let bytes = Array.zeroCreate<byte> 4096
    Random(7).NextBytes bytes
    Text.Encoding.UTF8.GetString bytes

/// Branch shapes differ two blocks down: the error names the path through both.
let private mismatchedBranches =
    """input(3, 32, 32)

block basic(c) =
    conv(1, c) >> add(conv(3, c, padding=1), conv(3, c))

network net =
    stage1: conv(3, 8, padding=1)
    >> stage2: (block1: basic(8) >> block2: basic(8))
"""

/// 10^10 layers once unrolled: the checker stops at its layer bound instead of running out of memory.
let private explodingRepeats = program "repeat(100000, repeat(100000, relu))"

let private brokenInputs =
    testList "broken inputs" [
        for name, text, place, fragment in brokenPrograms do
            test (sprintf "%s gives a positioned error" name) { expectPlaced place fragment text }

        test "binary garbage gives a positioned error" {
            Expect.isTrue (placedWithin garbage (Parser.parseProgram badFile garbage)) "placed in the text"
        }

        test "10^6 nested parentheses in a bare expression give an error, not a stack overflow" {
            let deep = million "(" + "relu" + million ")"
            Expect.isTrue (placedWithin deep (Parser.parseNode deep)) "placed in the text"
        }

        test "repeats that multiply past the layer bound give an error at their path" {
            let d = errorOf explodingRepeats
            Expect.equal d.Place (LayerPath (sprintf "%d/1" (Shapes.maxLayers / 100_000 + 1))) (Diagnostic.format d)
            Expect.stringContains d.Message (sprintf "more than %d layers" Shapes.maxLayers) "the message"
        }

        test "mismatched branches give an error at their layer path" {
            let d = errorOf mismatchedBranches
            Expect.equal d.Place (LayerPath "stage2/block1/add") (Diagnostic.format d)
            Expect.stringStarts d.Message "add: branch shapes 8×32×32 and 8×30×30" "the message"
        }
    ]

// ------------------------------------------------------------------------------------------------------ CLI

/// The directory holding `Examples/zoo`, searched upwards from the working and the assembly directories.
let private repositoryRoot =
    let rec upwards (directory: DirectoryInfo) =
        if isNull directory then None
        elif Directory.Exists(Path.Combine(directory.FullName, "Examples", "zoo")) then Some directory.FullName
        else upwards directory.Parent
    [ Directory.GetCurrentDirectory(); AppContext.BaseDirectory ]
    |> List.tryPick (DirectoryInfo >> upwards)
    |> Option.defaultWith (fun () -> failwith "Examples/zoo not found above the working directory")

let private analyzeFile path =
    use output = new StringWriter()
    use error = new StringWriter()
    let code = Receptor.Cli.Commands.Analyze.run output error { Receptor.Cli.Commands.Analyze.defaults with File = path }
    code, output.ToString(), error.ToString()

let private withTempFile (text: string) (use': string -> unit) =
    let path = Path.Combine(Path.GetTempPath(), sprintf "receptor-%s.rcp" (Guid.NewGuid().ToString "N"))
    File.WriteAllText(path, text)
    try use' path finally File.Delete path

let private commandLine =
    testList "receptor analyze" [
        for name, text, (line, column), _ in brokenPrograms do
            test (sprintf "%s exits with 2 and file:line:col: error:" name) {
                withTempFile text (fun path ->
                    let code, _, error = analyzeFile path
                    Expect.equal code 2 "exit code"
                    Expect.stringStarts error (sprintf "%s:%d:%d: error:" path line column) "message")
            }

        test "binary garbage exits with 2 and a positioned error" {
            withTempFile garbage (fun path ->
                let code, _, error = analyzeFile path
                Expect.equal code 2 "exit code"
                Expect.stringStarts error (path + ":") "message")
        }

        test "mismatched branches exit with 2 and name the layer path" {
            withTempFile mismatchedBranches (fun path ->
                let code, _, error = analyzeFile path
                Expect.equal code 2 "exit code"
                Expect.stringStarts error "stage2/block1/add: error: add: branch shapes" "message")
        }

        test "ResNet-18 from the zoo exits with 0" {
            let code, output, error = analyzeFile (Path.Combine(repositoryRoot, "Examples", "zoo", "resnet18.rcp"))
            Expect.equal (code, error) (0, "") "exit code and errors"
            Expect.stringContains output "11,689,512" "ResNet-18's parameters"
        }
    ]

// ---------------------------------------------------------------------------------------------- equivalence

/// What two equivalent expressions must agree on.
let private summary input node =
    let report = analyse input node
    {| Parameters = report.Totals.Parameters
       Macs = report.Totals.Macs
       Flops = report.Totals.Flops
       Output = report.Output
       Field = report.Field |}

let private preserving =
    gen {
        let! input = Architectures.input
        let! body = Architectures.towards input input
        return input, body
    }

let private scale = Gen.frequency [ 1, Gen.constant None; 1, Gen.map (Float >> Some) Numbers.finite ]

let private equivalences =
    testList "combinator equivalences" [
        testPropertyWithConfig (config 500) "residual(f), scaled or not, analyses as add(identity, f)"
            (Prop.forAll (Gen.zip preserving scale |> Arb.fromGen) (fun ((input, f), scale) ->
                Expect.equal (summary input (Residual (f, None, scale))) (summary input (Branches (Add, [ identity; f ])))
                    (Printer.node f)))

        testPropertyWithConfig (config 500) "residual(f, shortcut=g) analyses as add(g, f)"
            (Prop.forAll
                (gen {
                    let! input = Architectures.input
                    let! f, output = Architectures.typed input
                    let! g = Architectures.towards input output
                    return input, f, g
                 }
                 |> Arb.fromGen)
                (fun (input, f, g) ->
                    Expect.equal (summary input (Residual (f, Some g, None))) (summary input (Branches (Add, [ g; f ])))
                        (Printer.node f)))

        testPropertyWithConfig (config 500) "repeat(n, f) analyses as f >> … >> f"
            (Prop.forAll (Gen.zip preserving (Gen.choose (1, 4)) |> Arb.fromGen) (fun ((input, f), n) ->
                Expect.equal (summary input (Repeat (Int n, f))) (summary input (sequenceOf (List.replicate n f)))
                    (Printer.node f)))

        testPropertyWithConfig (config 500) "sequencing is associative"
            (Prop.forAll
                (gen {
                    let! input = Architectures.input
                    let! a, afterA = Architectures.featureMap input
                    let! b, afterB = Architectures.featureMap afterA
                    let! c, _ = Architectures.typed afterB
                    return input, a, b, c
                 }
                 |> Arb.fromGen)
                (fun (input, a, b, c) ->
                    let left = Seq [ Seq [ a; b ]; c ]
                    Expect.equal (summary input left) (summary input (Seq [ a; Seq [ b; c ] ])) (Printer.node left)
                    Expect.equal (summary input left) (summary input (Seq [ a; b; c ])) (Printer.node left)))
    ]

let tests: Test =
    testList "language" [ roundTrip; robustness; totality; receptiveField; brokenInputs; commandLine; equivalences ]
