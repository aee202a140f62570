#!/usr/bin/env bash
# The main job: analyse every model of the zoo with the receptor command line.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "the .NET 10 SDK is required (dotnet not found)"; exit 1; }
dotnet build Search/Cli/Cli.fsproj -c Release --nologo -v quiet
for model in Examples/zoo/*.rcp; do
    dotnet Search/Cli/bin/Release/net10.0/receptor.dll analyze "$model" | grep -E '→|^parameters|^MACs|^receptive'
    echo
done
