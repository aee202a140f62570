"""Markdown tables of the studies of scripts/search-studies.sh, read from the CSV files that
`receptor search export --csv` wrote (one row a trial, in the order proposed)."""
import csv
import statistics
import sys
from pathlib import Path


def trials(path):
    with open(path, newline="") as f:
        return sorted(csv.DictReader(f), key=lambda r: int(r["number"]))


def accuracy(row):
    return float(row["best_validation_accuracy"]) if row["best_validation_accuracy"] else 0.0


def best_so_far(rows):
    """Best validation accuracy after each evaluated trial (rejected candidates are not trials)."""
    best, curve = 0.0, []
    for row in rows:
        if row["state"] == "rejected":
            continue
        best = max(best, accuracy(row))
        curve.append(best)
    return curve


def strategies(folder):
    marks = [5, 10, 15, 20, 25, 30, 40, 50, 60]
    curves = {}
    for strategy in ("evolution", "random"):
        for seed in (1, 2, 3):
            path = folder / f"mnist-small-{strategy}-{seed}.csv"
            if path.exists():
                curves[(strategy, seed)] = best_so_far(trials(path))
    longest = max((len(c) for c in curves.values()), default=0)
    marks = [m for m in marks if m <= longest]
    print("| strategy | seed | " + " | ".join(f"best after {m}" for m in marks) + " |")
    print("|---|---|" + "---|" * len(marks))
    for (strategy, seed), curve in sorted(curves.items()):
        cells = [f"{100 * curve[m - 1]:.2f} %" if m <= len(curve) else "" for m in marks]
        print(f"| {strategy} | {seed} | " + " | ".join(cells) + " |")
    for strategy in ("evolution", "random"):
        own = [c for (s, _), c in curves.items() if s == strategy]
        cells = [f"{100 * statistics.mean(c[m - 1] for c in own):.2f} %" if own and all(m <= len(c) for c in own) else "" for m in marks]
        print(f"| {strategy} | mean | " + " | ".join(cells) + " |")


def activations(folder):
    print("| init | candidates | rejected before training | diverged | trained (best validation accuracy > 20 %) | best | its activation |")
    print("|---|---|---|---|---|---|---|")
    for init in ("autoinit", "torch-default"):
        path = folder / f"plain8-{init}.csv"
        if not path.exists():
            continue
        rows = trials(path)
        rejected = sum(r["state"] == "rejected" for r in rows)
        diverged = sum(r["state"] == "diverged" for r in rows)
        trained = sum(accuracy(r) > 0.2 for r in rows)
        best = max(rows, key=accuracy)
        activation = next((line.split("act(", 1)[1].rsplit(")", 1)[0] for line in best["architecture"].splitlines() if "act(" in line), "?")
        print(f"| {init} | {len(rows)} | {rejected} | {diverged} | {trained} of {len(rows)} ({100 * trained / len(rows):.0f} %) | {100 * accuracy(best):.2f} % | `{activation}` |")
    print()
    print("| activation | seed 1 | seed 2 | seed 3 | mean |")
    print("|---|---|---|---|---|")
    for variant in ("relu", "autoinit-best"):
        values = []
        for seed in (1, 2, 3):
            path = folder / f"plain8-check-{variant}-{seed}.csv"
            if path.exists():
                values.append(max((accuracy(r) for r in trials(path)), default=0.0))
        if values:
            print(f"| {variant} | " + " | ".join(f"{100 * v:.2f} %" for v in values) + f" | {100 * statistics.mean(values):.2f} % |")


if __name__ == "__main__":
    which, folder = sys.argv[1], Path(sys.argv[2])
    {"strategies": strategies, "activations": activations}[which](folder)
