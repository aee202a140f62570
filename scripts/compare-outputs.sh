#!/usr/bin/env bash
# Compares what `receptor analyze --json` and the predicted columns of `receptor init --report` print for every
# model under Examples/ at a base revision and in the working tree: a refactoring must change neither.
#   bash scripts/compare-outputs.sh [BASE_REVISION [REVISION]]
# BASE_REVISION defaults to the first parent of HEAD; without REVISION the working tree is compared.
# Exit 0 when every model of the base prints the same, 1 with the differences otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-HEAD~1}
revision=${2:-}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; git worktree remove --force "$work/revision" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The command line moved from Search/Cli to Cli/; either layout is built and run.
cli_project() { if [ -f "$1/Cli/Cli.fsproj" ]; then echo "$1/Cli/Cli.fsproj"; else echo "$1/Search/Cli/Cli.fsproj"; fi; }

snapshot() { # tree out
    local tree=$1 out=$2 project dll model name
    project=$(cli_project "$tree")
    dotnet build "$project" -c Release --nologo -v quiet -o "$out/bin" >/dev/null
    dll="$out/bin/receptor.dll"
    mkdir -p "$out/analyze" "$out/init"
    for model in $(cd "$tree" && find Examples -name '*.rcp' -not -path 'Examples/spaces/*' | sort); do
        name=${model//\//_}
        dotnet "$dll" analyze --json "$tree/$model" >"$out/analyze/$name.json" 2>&1 || true
        # Predicted mean and variance per node: the path and the fields 5 and 3 before the last of each row
        # (mean, measured, variance, measured, s.e., error, and a star for a node that disagrees); measurement
        # is not compared.
        dotnet "$dll" init "$tree/$model" --report --seeds 1 --batch 2 2>&1 \
            | awk '{ if ($NF == "*") NF--; if (NF >= 8 && $NF ~ /%$/ && $1 != "weighted") print $1, $(NF-5), $(NF-3) } / error: /' >"$out/init/$name.txt" || true
    done
}

git worktree add --detach "$work/base" "$base" >/dev/null
tree=$PWD
if [ -n "$revision" ]; then
    git worktree add --detach "$work/revision" "$revision" >/dev/null
    tree="$work/revision"
fi
echo "base $(git rev-parse --short "$base") against ${revision:-the working tree}: building and running both (minutes)"
snapshot "$work/base" "$work/before"
snapshot "$tree" "$work/after"
# Paths inside the trees differ; file names in the outputs are normalised.
sed -i "s#$work/base/##g" "$work"/before/analyze/* "$work"/before/init/*
sed -i "s#$tree/##g" "$work"/after/analyze/* "$work"/after/init/*
# Models new since the base have nothing to compare with; every model of the base must print the same.
differ=0
for before in "$work"/before/analyze/* "$work"/before/init/*; do
    after="$work/after/${before#"$work"/before/}"
    if [ ! -f "$after" ]; then echo "missing after: ${before#"$work"/before/}"; differ=1
    elif ! diff "$before" "$after"; then echo "differs: ${before#"$work"/before/}"; differ=1; fi
done
new=$(comm -13 <(cd "$work/before/analyze" && ls) <(cd "$work/after/analyze" && ls) | tr '\n' ' ')
[ -n "$new" ] && echo "new since the base (not compared): $new"
if [ "$differ" -eq 0 ]; then
    echo "identical: analyze --json and init --report predictions for $(ls "$work/before/analyze" | wc -l) models"
else
    echo "outputs differ (above)"
    exit 1
fi
