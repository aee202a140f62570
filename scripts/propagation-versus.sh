#!/usr/bin/env bash
# Times the moment propagation (Initialisers.plan, exact rules) of ResNet-50 at 224×224 in this checkout and in
# COMMIT, by turns in the same run (the machines are noisy): five plans per build, median CPU seconds of each.
# Usage: scripts/propagation-versus.sh COMMIT   (BENCHMARKS.md, "Moment propagation on ResNet-50")
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?usage: scripts/propagation-versus.sh COMMIT}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git worktree add --detach "$work/old" "$commit" >/dev/null
dotnet build "$work/old/Cli/Cli.fsproj" -c Release --nologo -v quiet >/dev/null
dotnet build Cli/Cli.fsproj -c Release --nologo -v quiet >/dev/null

script() {
    local bin=$1
    cat <<FSX
#r "$bin/TorchSharp.dll"
#r "$bin/Receptor.Dsl.dll"
#r "$bin/Receptor.Core.dll"
open Receptor.Dsl
open Receptor.Core.Signal
let path = "$PWD/Examples/zoo/resnet50.rcp"
let program = match Parser.parseProgram path (System.IO.File.ReadAllText path) with Ok p -> p | Error d -> failwith (Diagnostic.format d)
let tree = match Shapes.checkProgram program with Ok t -> t | Error d -> failwith (Diagnostic.format d)
let cpu () = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
let once () =
    let before = cpu ()
    match Initialisers.plan (Initialisers.AutoInit (Exact, Initialisers.Normal)) program.Input None tree with
    | Ok _ -> cpu () - before
    | Error d -> failwith (Diagnostic.format d)
printfn "%.2f" (List.sort [ for _ in 1 .. 5 -> once () ]).[2]
FSX
}
script "$work/old/Cli/bin/Release/net10.0" > "$work/old.fsx"
script "$PWD/Cli/bin/Release/net10.0" > "$work/new.fsx"
for turn in 1 2; do
    old=$(dotnet fsi "$work/old.fsx" 2>/dev/null | tail -n 1)
    new=$(dotnet fsi "$work/new.fsx" 2>/dev/null | tail -n 1)
    echo "turn $turn: $commit ${old} s CPU, this checkout ${new} s CPU, ratio $(awk -v a="$new" -v b="$old" 'BEGIN { printf "%.2f", a / b }')"
done
