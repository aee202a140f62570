#!/usr/bin/env bash
# Rewrites the generated parts of the docs (docs/language.md's layer table, from the layer kinds' own names,
# signatures and docs). The test "documentation" fails until they are regenerated after a kind changes.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build Properties/Properties.fsproj -c Release --nologo -v quiet
dotnet Properties/bin/Release/net10.0/Receptor.Properties.dll regenerate-docs
