/// The C# face: named result types and one exception type carrying the place of the error.
module Receptor.Properties.HostTests

open Expecto
open Receptor.Host

/// The ReceptorException that the action throws.
let private thrown action =
    try
        action () |> ignore
        failtest "expected a ReceptorException"
    with :? ReceptorException as e -> e

let tests: Test =
    testList "host" [
        test "Architecture.Analyze reports ResNet-18's totals and per-layer receptive fields" {
            let path, text = Repository.readZoo "resnet18.rcp"
            let report = Architecture.Analyze (text, path)
            Expect.equal report.Parameters 11_689_512L "parameters"
            Expect.equal (List.ofSeq report.OutputShape) [ 1000 ] "output shape"
            let layer4 = report.Layers |> Seq.find (fun l -> l.Path = "layer4/basic/relu")
            Expect.equal layer4.ReceptiveField.Height 435.0 "field of layer4"
            // Global pooling over 7×7 units 32 pixels apart: the union of their fields, 435 + 6·32.
            Expect.equal report.ReceptiveField.Height 627.0 "field of the output"
            Expect.isEmpty report.Warnings "no misalignment"
        }
        test "a syntax error becomes a ReceptorException with file, line and column" {
            let e = thrown (fun () -> Architecture.Analyze ("input(1, 8, 8)\nnetwork n = cnov(3, 4)\n", "bad.rcp"))
            Expect.equal (e.File, e.Line, e.Column) ("bad.rcp", System.Nullable 2, System.Nullable 13) "place"
            Expect.equal e.Hint "did you mean 'conv'?" "hint"
        }
        test "a shape error becomes a ReceptorException with the layer path" {
            let text = "input(1, 8, 8)\nnetwork n = conv(1, 2) >> stage: add(conv(1, 4), conv(1, 3))\n"
            let e = thrown (fun () -> Architecture.Analyze (text, "bad.rcp"))
            Expect.equal e.LayerPath "stage" "path"
            Expect.stringContains e.Message "branch shapes" "message"
        }
        test "Architecture.Format prints the canonical form, which parses to the same report" {
            let _, text = Repository.readZoo "mobilenetv2.rcp"
            let formatted = Architecture.Format text
            Expect.equal (Architecture.Analyze formatted).Parameters (Architecture.Analyze text).Parameters "parameters"
        }
    ]
