/// The example of docs/generators.md, compiled and run: a user's properties over the generators library.
/// From its first `open` on, this file is the doc's code block verbatim (DocumentationTests checks it).
module Receptor.Properties.GeneratorsExample

open Expecto
open FsCheck.FSharp
open Receptor.Dsl
open Receptor.Generators

/// Registers the library's arbitraries: a property may then take an Architecture, an ActExpr or a Program.
let config = { FsCheckConfig.defaultConfig with arbitrary = [ typeof<Arbitraries> ] }

/// The generators compose as any FsCheck generator: here, architectures for MNIST-sized digits only.
let digits = Spatial (1, 28, 28)

let forDigits = Architectures.typed digits |> Arb.fromGen

let tests =
    testList "my properties" [
        testPropertyWithConfig config "printed text parses back to the same tree" <| fun (a: Architecture) ->
            Parser.parseNode (Printer.node a.Node) = Ok a.Node

        testProperty "the checker gives the output shape the generator planned" <|
            Prop.forAll forDigits (fun (node, output) -> Architectures.outputFor digits node = Some output)
    ]
