#!/usr/bin/env bash
# The studies of docs/search.md, each a set of `receptor search run` commands whose stores go to $OUT
# (default out/studies), summarised by scripts/search_summary.py into the markdown tables the docs quote.
#
#   bash scripts/search-studies.sh strategies    # aging evolution against random search, seeds 1..3
#   bash scripts/search-studies.sh activations   # activation search under autoinit and torch-default, then
#                                                # the best expression and ReLU over three seeds; at learning
#                                                # rate 0.01: the plain network does not train at the default 0.1
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/studies}
TRIALS=${TRIALS:-30}
EPOCHS=${EPOCHS:-1}
# Seeds each candidate of the activation search trains with (its scores their means).
REPEATS=${REPEATS:-1}
mkdir -p "$OUT"
dotnet build Cli/Cli.fsproj -c Release --nologo -v quiet
receptor() { dotnet Cli/bin/Release/net10.0/receptor.dll "$@"; }
fresh() { rm -f "$1" "$1-wal" "$1-shm"; }

case "${1:-}" in
strategies)
    for seed in 1 2 3; do
        for strategy in evolution random; do
            store="$OUT/mnist-small-$strategy-$seed.db"
            fresh "$store"
            receptor search run Examples/spaces/mnist-small.rcp --data mnist --strategy "$strategy" \
                --population 10 --tournament 3 --trials "$TRIALS" --epochs "$EPOCHS" --max-macs 3218176 \
                --seed "$seed" --storage "sqlite:$store" | tail -n 1
            receptor search export "$store" --csv "$OUT/mnist-small-$strategy-$seed.csv" >/dev/null
        done
    done
    python3 scripts/search_summary.py strategies "$OUT"
    ;;
activations)
    for init in ${INITS:-autoinit torch-default}; do
        store="$OUT/plain8-$init.db"
        fresh "$store"
        receptor search run Examples/spaces/activation-plain8.rcp --data mnist --init "$init" --strategy evolution \
            --population 10 --tournament 3 --trials 50 --epochs 2 --lr 0.01 --repeats "$REPEATS" --seed 1 \
            --storage "sqlite:$store" | tail -n 1
        receptor search export "$store" --csv "$OUT/plain8-$init.csv" --best "$OUT/plain8-$init-best.rcp" >/dev/null
    done
    # The best expression found under autoinit against ReLU, three seeds each, as the search trains them.
    sed 's/evolve(relu(x))/relu(x)/' Examples/spaces/activation-plain8.rcp > "$OUT/plain8-relu.rcp"
    for variant in relu autoinit-best; do
        file="$OUT/plain8-$variant.rcp"
        for seed in 1 2 3; do
            store="$OUT/plain8-check-$variant-$seed.db"
            fresh "$store"
            receptor search run "$file" --data mnist --init autoinit --strategy random --trials 1 --epochs 2 \
                --lr 0.01 --seed "$seed" --storage "sqlite:$store" | tail -n 1
            receptor search export "$store" --csv "$OUT/plain8-check-$variant-$seed.csv" >/dev/null
        done
    done
    python3 scripts/search_summary.py activations "$OUT"
    ;;
*)
    echo "usage: bash scripts/search-studies.sh strategies|activations"
    exit 2
    ;;
esac
