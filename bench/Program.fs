module Receptor.Bench.Program

[<EntryPoint>]
let main argv =
    match argv with
    | [| "analysis" |] | [||] ->
        printfn "%s" (AnalysisBench.run ())
        0
    | [| "layout-zoo" |] ->
        printfn "%s" (TrainStepBench.layoutZoo [ "alexnet"; "resnet18"; "mobilenetv2"; "densenet121" ] (eprintfn "layout-zoo: %s"))
        0
    | args when args.Length > 0 && args[0] = "train-step" ->
        match TrainStepBench.Options.Parse (List.ofArray args[1..]) with
        | Error e ->
            eprintfn "%s" e
            2
        | Ok options ->
            match TrainStepBench.run options (eprintfn "train-step: %s") with
            | Ok text ->
                printfn "%s" text
                0
            | Error how ->
                eprintfn "train-step: PyTorch is not available: %s" how
                1
    | [| "init" |] ->
        Receptor.Core.Torch.NativeRuntime.configure ()
        printfn "%s" (InitBench.run 8)
        0
    | [| "propagation" |] ->
        Receptor.Core.Torch.NativeRuntime.configure ()
        printfn "%s" (PropagationBench.run (InitBench.root ()))
        0
    | [| "erf" |] ->
        Receptor.Core.Torch.NativeRuntime.configure ()
        printfn "%s" (ErfBench.run ())
        0
    | args when args.Length > 0 && args[0] = "train-init" ->
        Receptor.Core.Torch.NativeRuntime.configure ()
        match TrainInitBench.Options.Parse (List.ofArray args[1..]) |> Result.bind (fun options -> TrainInitBench.run options (eprintfn "train-init: %s")) with
        | Ok lines ->
            lines |> List.iter (printfn "%s")
            0
        | Error e ->
            eprintfn "%s" e
            2
    | [| "store" |] ->
        printfn "%s" (StoreBench.runAll ())
        0
    | [| "service" |] ->
        printfn "%s" (ServiceBench.run 50 30.0)
        0
    | [| "store-mnist" |] ->
        printfn "%s" (StoreBench.mnistScaling [ 1; 16 ])
        0
    | [| "search-overhead" |] ->
        Receptor.Core.Torch.NativeRuntime.configure ()
        match SearchBench.run 4 (eprintfn "search-overhead: %s") with
        | Ok text ->
            printfn "%s" text
            0
        | Error e ->
            eprintfn "search-overhead: %s" e
            1
    | [| "layers" |] ->
        printfn "%s" (LayerBench.run ())
        0
    | _ ->
        eprintfn "usage: receptor-bench [analysis | train-step [--rounds N] [--threads N] [--op-reps N] | layout-zoo | erf | init | propagation | layers | store | store-mnist | service | search-overhead | train-init FILE [--init METHOD | --from PATH] [--epochs N] [--batch N] [--optimizer sgd|adam] [--lr X] [--images N] [--seed N]]"
        2
