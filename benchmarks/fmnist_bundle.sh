#!/usr/bin/env bash
# The FashionMNIST one-class table the README shows, kept as the bundle the repository ships:
#   bash benchmarks/fmnist_bundle.sh [RESULTS] [-- bench run flags ...]
# Imports the shipped bundle (its cells count as done, so nothing measured is run again), runs
# `bench run` with the given flags into the same experiment (none: nothing new), exports the
# experiment over the shipped bundle (left as it is when nothing changed), prints the leaderboard
# and writes its rows into the README's table (benchmarks/readme_table.py). The table grows one
# command at a time, e.g.  bash benchmarks/fmnist_bundle.sh results/fmnist -- --methods panda --seeds 3
set -euo pipefail
R=${1:-results/fmnist-bundle}
shift || true
[ "${1:-}" = "--" ] && shift
E=fmnist-one-class
B=benchmarks/bundles/$E
[ -f "$B/manifest.json" ] && python -m bench import "$B" --results "$R" --experiment "$E"
if [ $# -gt 0 ]; then
    python -m bench run --results "$R" --experiment "$E" --datasets fashion-mnist --protocols one-class "$@"
fi
python -m bench export --results "$R" --experiment "$E" --to "$B"
python -m bench leaderboard --results "$R" --experiment "$E" --no-roc
python benchmarks/readme_table.py "$R/leaderboard_by_class.md"
