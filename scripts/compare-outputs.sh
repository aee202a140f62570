#!/usr/bin/env bash
# Compares what `receptor analyze --json` and the predicted columns of `receptor init --report` print for every
# model under Examples/ at a base revision and in the working tree: a refactoring must change neither.
#   bash scripts/compare-outputs.sh [BASE_REVISION]   (default: the first parent of HEAD)
# Exit 0 when every output is identical, 1 with the differences otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-HEAD~1}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The command line moved from Search/Cli to Cli/; either layout is built and run.
cli_project() { if [ -f "$1/Cli/Cli.fsproj" ]; then echo "$1/Cli/Cli.fsproj"; else echo "$1/Search/Cli/Cli.fsproj"; fi; }

snapshot() { # tree out
    local tree=$1 out=$2 project dll model name
    project=$(cli_project "$tree")
    dotnet build "$project" -c Release --nologo -v quiet -o "$out/bin" >/dev/null
    dll="$out/bin/receptor.dll"
    mkdir -p "$out/analyze" "$out/init"
    for model in $(cd "$tree" && find Examples -name '*.rcp' | sort); do
        name=${model//\//_}
        dotnet "$dll" analyze --json "$tree/$model" >"$out/analyze/$name.json" 2>&1 || true
        # Predicted mean and variance per node: the path and the fields 6 and 4 from the end of each row
        # (mean, measured, variance, measured, s.e., error); measurement is not compared.
        dotnet "$dll" init "$tree/$model" --report --seeds 1 --batch 2 2>&1 \
            | awk 'NF >= 8 && $(NF) ~ /%$/ { print $1, $(NF-6), $(NF-4) } / error: /' >"$out/init/$name.txt" || true
    done
}

git worktree add --detach "$work/base" "$base" >/dev/null
echo "base: $(git rev-parse --short "$base"); building and running both (this takes a few minutes)"
snapshot "$work/base" "$work/before"
snapshot "$PWD" "$work/after"
# Paths inside the trees differ; file names in the outputs are normalised.
sed -i "s#$work/base/##g" "$work"/before/{analyze,init}/*
sed -i "s#$PWD/##g" "$work"/after/{analyze,init}/*
if diff -r "$work/before/analyze" "$work/after/analyze" && diff -r "$work/before/init" "$work/after/init"; then
    count=$(ls "$work/after/analyze" | wc -l)
    echo "identical: analyze --json and init --report predictions for $count models"
else
    echo "outputs differ (above)"
    exit 1
fi
