module Receptor.Bench.Program

[<EntryPoint>]
let main argv =
    match argv with
    | [| "analysis" |] | [||] ->
        printfn "%s" (AnalysisBench.run ())
        0
    | [| "init" |] ->
        printfn "%s" (InitBench.run 8)
        0
    | _ ->
        eprintfn "usage: receptor-bench [analysis | init]"
        2
