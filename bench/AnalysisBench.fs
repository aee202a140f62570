/// Issue "Foundation I" figures: full analysis (shape check + analysis fold) of ResNet-152 and of a
/// 10,000-layer chain, and the time ratio at twice the depth, which stays near 2 when no pass is quadratic.
module Receptor.Bench.AnalysisBench

open Receptor.Dsl
open Receptor.Dsl.Combinators
open Receptor.Core
open Receptor.Core.Reporting

/// torchvision's ResNet-152: bottlenecks [3; 8; 36; 3], stride on the 3×3 (v1.5).
let resnet152 =
    let bottleneck width stride' first =
        let body =
            (conv 1 width |> noBias) --> bn --> relu
            --> (conv 3 width |> stride stride' |> padding 1 |> noBias) --> bn --> relu
            --> (conv 1 (4 * width) |> noBias) --> bn
        let block =
            if first then residualWith ((conv 1 (4 * width) |> stride stride' |> noBias) --> bn) body
            else residual body
        block --> relu
    let stage name width stride' count =
        named name (bottleneck width stride' true --> repeat (count - 1) (bottleneck width 1 false))
    (conv 7 64 |> stride 2 |> padding 3 |> noBias) --> bn --> relu --> (maxpool 3 |> stride 2 |> padding 1)
    --> stage "layer1" 64 1 3 --> stage "layer2" 128 2 8 --> stage "layer3" 256 2 36 --> stage "layer4" 512 2 3
    --> gavgpool --> flatten --> dense 1000

/// A plain chain of `layers` layers: 3×3 convolutions alternating with ReLUs.
let chain layers = Seq (List.init layers (fun i -> if i % 2 = 0 then conv 3 16 |> padding 1 else relu))

let private analyse input node =
    match Analysis.ofNode "bench" input node with
    | Ok report -> report
    | Error d -> failwith (Diagnostic.format d)

let run () =
    let imagenet = Spatial (3, 224, 224)
    let small = Spatial (16, 32, 32)
    let report = analyse imagenet resnet152
    let resnetMs = Timing.medianMs 20 200 (fun () -> analyse imagenet resnet152)
    let chain1 = chain 10_000
    let chain2 = chain 20_000
    let chainMs = Timing.medianMs 3 21 (fun () -> analyse small chain1)
    let chain2Ms = Timing.medianMs 3 21 (fun () -> analyse small chain2)
    let text = Printer.node resnet152
    let parseMs = Timing.medianMs 20 200 (fun () -> Parser.parseNode text)
    [ "## Static analysis (issue: Foundation I)"
      ""
      "`dotnet run -c Release --project bench -- analysis`; median of repeated runs, one process."
      ""
      "| case | median | target | peer in the same run |"
      "|---|---|---|---|"
      sprintf "| ResNet-152 check + analysis (%s params, %s MACs) | %.3f ms | ≤ 5 ms | parse of its printed text: %.3f ms |"
          (Report.thousands report.Totals.Parameters) (Report.engineering report.Totals.Macs) resnetMs parseMs
      sprintf "| 10,000-layer chain | %.1f ms | ≤ 200 ms | 20,000 layers: %.1f ms |" chainMs chain2Ms
      sprintf "| depth-doubling ratio (20,000 / 10,000) | %.2f | ≤ 2.2 | |" (chain2Ms / chainMs) ]
    |> String.concat "\n"
