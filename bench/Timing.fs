/// Median-of-runs timing: these machines are noisy, so every figure is a median and is reported beside a
/// peer measured in the same run.
module Receptor.Bench.Timing

open System.Diagnostics

/// Median milliseconds of `runs` calls after `warmup` unmeasured ones.
let medianMs warmup runs (action: unit -> 'a) =
    for _ in 1 .. warmup do
        action () |> ignore
    let times =
        Array.init runs (fun _ ->
            let watch = Stopwatch.StartNew()
            action () |> ignore
            watch.Elapsed.TotalMilliseconds)
    Array.sortInPlace times
    times[runs / 2]
