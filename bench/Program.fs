module Receptor.Bench.Program

[<EntryPoint>]
let main argv =
    match argv with
    | [| "analysis" |] | [||] ->
        printfn "%s" (AnalysisBench.run ())
        0
    | [| "erf" |] ->
        printfn "%s" (ErfBench.run ())
        0
    | _ ->
        eprintfn "usage: receptor-bench [analysis | erf]"
        2
