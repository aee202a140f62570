/// Issue "layers" figures: forward + backward time of deformable convolution (v1, v2) and DCLS beside a
/// plain 3×3 convolution of the same shape, compiled from the language as users get them and measured in
/// interleaved rounds in one process, so that machine load shifts every candidate alike.
module Receptor.Bench.LayerBench

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch

let private batch, channels, side = 32, 64, 32
let private rounds = 9

/// The plain convolution first: every ratio is against it, and DCLS also against the dense convolution of
/// its dilated size, which is what it executes.
let private candidates =
    [ "conv(3, 64, padding=1)", None, ""
      "deform(3, 64, padding=1)", None, "≤ 3"
      "deform(3, 64, padding=1, modulated=true)", None, "≤ 3"
      "dcls(3, 64, 5, padding=2)", Some "conv(5, 64, padding=2)", "≤ 2"
      "dcls(3, 64, 7, padding=3)", Some "conv(7, 64, padding=3)", "≤ 2"
      "conv(5, 64, padding=2)", None, ""
      "conv(7, 64, padding=3)", None, "" ]

let private texts = candidates |> List.map (fun (text, _, _) -> text)

let private compile text =
    let node =
        match Parser.parseNode text with
        | Ok node -> node
        | Error d -> failwith (Diagnostic.format d)
    match Network.ofNode "bench" (Spatial (channels, side, side)) node with
    | Ok network -> network
    | Error d -> failwith (Diagnostic.format d)

let private median (values: float[]) = (Array.sort values)[values.Length / 2]

/// Per candidate: median milliseconds, and the median per-round ratios to the 3×3 convolution and to its
/// dense peer, at a thread count.
let private measure threads (networks: Network list) (input: torch.Tensor) =
    torch.set_num_threads threads
    let step (network: Network) () =
        use _ = torch.NewDisposeScope ()
        network.forward(input).sum().backward ()
        input.grad <- null
        for p in network.parameters () do
            p.grad <- null
    // One unmeasured pass each: first calls allocate and choose kernels.
    for network in networks do
        step network ()
    let times = Array.init rounds (fun _ -> [| for network in networks -> Timing.medianMs 0 1 (step network) |])
    let ratio i j = median (times |> Array.map (fun round -> round[i] / round[j]))
    candidates
    |> List.mapi (fun i (_, peer, _) ->
        let peerRatio = peer |> Option.map (fun p -> ratio i (List.findIndex ((=) p) texts))
        median (times |> Array.map (fun round -> round[i])), ratio i 0, peerRatio)

let run () =
    torch.manual_seed 1L |> ignore
    let input = torch.randn(int64 batch, int64 channels, int64 side, int64 side).requires_grad_ (true)
    let networks = texts |> List.map compile
    let all = torch.get_num_threads ()
    let single = measure 1 networks input
    let threaded = measure all networks input
    let cells (ms, ratio, peerRatio) =
        sprintf "%.0f ms | %.2f | %s" ms ratio (peerRatio |> Option.map (sprintf "%.2f") |> Option.defaultValue "")
    let row (text, _, target) one many = sprintf "| `%s` | %s | %s | %s |" text (cells one) (cells many) target
    let waitPolicy = System.Environment.GetEnvironmentVariable "OMP_WAIT_POLICY" |> Option.ofObj |> Option.defaultValue "unset"
    let load = try (System.IO.File.ReadAllText "/proc/loadavg").Split(' ')[0] with _ -> "unknown"
    [ "## Field layers (issue: layers)"
      ""
      sprintf
          "`OMP_WAIT_POLICY=PASSIVE dotnet run -c Release --project bench -- layers`: batch %d, %d→%d channels, %d×%d, forward + backward with the input's gradient, networks compiled from the language (channels-last on the CPU, as `Network` runs them); medians of %d interleaved rounds in one process, ratios the medians of per-round ratios (to the 3×3 convolution; for DCLS also to the dense convolution of its dilated size). This run: OMP_WAIT_POLICY %s, load average %s at the end."
          batch channels channels side side rounds waitPolicy load
      ""
      sprintf "| layer | 1 thread | × 3×3 | × dense | %d threads | × 3×3 | × dense | target |" all
      "|---|---|---|---|---|---|---|---|" ]
    @ List.map3 row candidates single threaded
    |> String.concat "\n"
