/// All-convolutional down-sampling (Springenberg et al. 2015) as a rewrite of trees: Model C becomes
/// All-CNN-C, and any generated tree keeps its shapes.
module Receptor.Properties.RewriteTests

open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Receptor.Dsl
open Receptor.Generators

let private config = { FsCheckConfig.defaultConfig with maxTest = 300; arbitrary = [ typeof<Arbitraries> ] }

let private program file = Repository.readZoo file ||> Parser.parseProgram |> Repository.unwrap

let private layersOf input node = Shapes.checkNode input node |> Repository.unwrap |> Checked.layers |> List.ofSeq

/// `receptor rewrite all-conv FILE`, max pooling only, printed or written to `out`.
let private allConv file out =
    Receptor.Cli.Commands.Rewrite.AllConv { Receptor.Cli.Commands.Rewrite.defaults with File = file; Out = out }

let private isPooling (layer: CheckedLayer) = layer.Kind.Name = "maxpool" || layer.Kind.Name = "avgpool"

/// What a layer is, without its path: its kind, shapes, parameters and MACs.
let private structure (layer: CheckedLayer) =
    layer.Kind.Name, layer.Input, layer.Facts.Output, layer.Facts.Parameters, layer.Facts.Macs

let private tests' =
    [ test "Model C (allcnnc-pool.rcp) rewritten: the same shapes at every node, no pooling left, All-CNN-C's layers" {
          let pool = program "allcnnc-pool.rcp"
          let rewritten = Rewrite.allConvolutionalProgram false pool |> Repository.unwrap
          let before = layersOf pool.Input (Expand.program pool |> Repository.unwrap)
          let after = layersOf rewritten.Input rewritten.Body
          Expect.equal (after |> List.map (fun l -> l.Facts.Output)) (before |> List.map (fun l -> l.Facts.Output)) "output shape of every layer"
          Expect.equal (before |> List.filter isPooling |> List.length) 2 "Model C pools twice"
          Expect.isEmpty (after |> List.filter isPooling) "no pooling left"
          let allcnnc = program "allcnnc.rcp"
          let target = layersOf allcnnc.Input (Expand.program allcnnc |> Repository.unwrap)
          Expect.equal (after |> List.map structure) (target |> List.map structure) "layer for layer, All-CNN-C"
      }
      test "average pooling is kept unless asked for, and a ceil-mode window that rounds up is kept" {
          let input = Spatial (4, 9, 9)
          let node = Parser.parseNode "maxpool(2, stride=2, ceil=true) >> avgpool(3, stride=1, padding=1)" |> Repository.unwrap
          let kinds includeAverage = layersOf input (Rewrite.allConvolutional includeAverage input node) |> List.map (fun l -> l.Kind.Name)
          // 9 → ceil(7/2) + 1 = 5 with ceil mode, 4 without: no convolution has that geometry.
          Expect.equal (kinds false) [ "maxpool"; "avgpool" ] "max pooling in ceil mode, average pooling untouched"
          Expect.equal (kinds true) [ "maxpool"; "conv" ] "average pooling replaced on request"
      }
      test "a repeat whose channel count changes between copies is unrolled; one that does not stays a repeat" {
          let input = Spatial (2, 32, 32)
          let rewrite text = Rewrite.allConvolutional false input (Parser.parseNode text |> Repository.unwrap) |> Printer.node
          Expect.equal (rewrite "repeat(2, maxpool(2))") "repeat(2, conv(2, 2, stride=2))" "same channels in each copy"
          Expect.equal (rewrite "repeat(2, maxpool(2) >> conv(1, 8))") "(conv(2, 2, stride=2) >> conv(1, 8)) >> (conv(2, 8, stride=2) >> conv(1, 8))" "unrolled"
      }
      testPropertyWithConfig config "rewriting a generated tree keeps every layer's output shape and replaces its max pooling" <| fun (a: Architecture) ->
          let rewritten = Rewrite.allConvolutional true a.Input a.Node
          let before, after = layersOf a.Input a.Node, layersOf a.Input rewritten
          let shapes layers = layers |> List.map (fun (l: CheckedLayer) -> l.Facts.Output)
          // Only ceil-mode windows that round up may keep their pooling.
          let kept = after |> List.filter (fun l -> isPooling l && not (l.Args.Bool "ceil"))
          (shapes after = shapes before |> Prop.label "layer shapes") .&. (List.isEmpty kept |> Prop.label "pooling left")
      test "receptor rewrite all-conv prints All-CNN-C from Model C, or writes it with --out" {
          let file = Path.Combine (Repository.zooFolder (), "allcnnc-pool.rcp")
          use output = new StringWriter ()
          use error = new StringWriter ()
          Expect.equal (Receptor.Cli.Commands.Rewrite.run output error (allConv file None)) 0 (error.ToString ())
          let printed = Parser.parseProgram "<printed>" (output.ToString ()) |> Repository.unwrap
          Expect.isFalse (output.ToString().Contains "maxpool") "no maxpool in the printed program"
          let analysed = Receptor.Core.Analysis.ofProgram printed |> Repository.unwrap
          Expect.equal analysed.Totals.Parameters 1_369_738L "All-CNN-C's parameters"
          let target = Path.Combine (Path.GetTempPath (), $"allcnnc-{System.Guid.NewGuid ()}.rcp")
          Expect.equal (Receptor.Cli.Commands.Rewrite.run output error (allConv file (Some target))) 0 (error.ToString ())
          let written = File.ReadAllText target
          File.Delete target
          Expect.equal written (Printer.program printed) "the file holds the printed program"
      }
      test "receptor rewrite all-conv on a program that does not check is an error with its place, exit 2" {
          let file = Path.Combine (Path.GetTempPath (), $"bad-{System.Guid.NewGuid ()}.rcp")
          File.WriteAllText (file, "input(3, 8, 8)\nnetwork n = conv(3, 4) >> stage: add(identity, maxpool(2))\n")
          use output = new StringWriter ()
          use error = new StringWriter ()
          let code = Receptor.Cli.Commands.Rewrite.run output error (allConv file None)
          File.Delete file
          Expect.equal code 2 "exit code"
          Expect.stringContains (error.ToString ()) "stage: error: add: branch shapes" "the merge's path"
      } ]

let tests: Test = testList "rewrite" [ testList "all-conv" tests' ]
