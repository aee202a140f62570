/// The compiled TorchSharp module agrees with the static analysis on the zoo: parameter counts, the
/// output shape of every node, and parameter names that follow layer paths.
module Receptor.Properties.CompileTests

open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core
open Receptor.Core.Torch

let private program file =
    let path, text = Repository.readZoo file
    Parser.parseProgram path text |> Repository.unwrap

let private compile file =
    let p = program file
    let tree = Shapes.checkProgram p |> Repository.unwrap
    p, tree, Network.Compile(p.Name, tree, p.Input) |> Repository.unwrap

let private dims shape =
    match shape with
    | Spatial (c, h, w) -> [| int64 c; int64 h; int64 w |]
    | Flat n -> [| int64 n |]

/// Every node's observed output shape (batch axis dropped) beside the analysis's.
let private shapesAgree (network: Network) (report: AnalysisReport) =
    use _ = torch.NewDisposeScope()
    network.eval ()
    let observed = System.Collections.Generic.Dictionary<string, int64[]>()
    use _ = torch.no_grad ()
    let input = torch.randn (Array.append [| 2L |] (dims report.Input))
    network.Observe (input, fun path y -> observed[path] <- y.shape[1..]) |> ignore
    for node in report.Nodes do
        Expect.equal observed[node.Path] (dims node.Output) $"output shape of {node.Path}"

let tests: Test =
    testSequenced
    <| testList "compile" [
        for file in [ "lenet5.rcp"; "mnist4bn.rcp"; "allcnnc.rcp"; "resnet18.rcp"; "mobilenetv2.rcp"; "densenet121.rcp"; "alexnet.rcp" ] do
            test $"{file}: the module holds exactly the analysed parameters and every node has the analysed shape" {
                let p, tree, network = compile file
                use network = network
                let report = Analysis.ofChecked p.Name p.Input tree
                Expect.equal (Network.parameterCount network) report.Totals.Parameters "parameter count"
                shapesAgree network report
            }
        test "parameter names follow layer paths" {
            let _, _, network = compile "resnet18.rcp"
            use network = network
            let names = network.named_parameters () |> Seq.map (fun struct (n, _) -> n) |> Set.ofSeq
            for expected in [ "conv.weight"; "layer2.down.residual.shortcut.conv.weight"; "layer4.basic.residual.body.conv2.weight"; "fc.weight"; "fc.bias" ] do
                Expect.contains names expected $"parameter {expected}"
        }
    ]
