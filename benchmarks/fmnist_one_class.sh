#!/usr/bin/env bash
# The FashionMNIST one-class table of the reference methods beside pyod-knn and ae-threshold:
#   bash benchmarks/fmnist_one_class.sh [RESULTS] [SEEDS]   (ends with the leaderboard and the per-class table)
# On a 2-core CPU: dn2, pyod-knn and ae-threshold over 3 seeds take minutes; geom's CPU default about
# 2.5 minutes a cell and deep-svdd's faithful schedule (150 + 150 epochs) about 3.2, so those two run
# SLOW_SEEDS seeds (default 1), deep-svdd with its epochs cut to 20 + 20 (its label says so in every table)
# and at full length on five classes. On a GPU run them all at full length.
set -euo pipefail
R=${1:-results/fmnist-one-class}
S=${2:-3}
run() { python -m bench run --results "$R" --experiment fmnist-one-class --datasets fashion-mnist --protocols one-class "$@"; }
run --methods dn2,pyod-knn,ae-threshold --seeds "$S"
run --methods geom --seeds "${SLOW_SEEDS:-1}"
run --methods deep-svdd --set deep-svdd.epochs=20 --set deep-svdd.ae_epochs=20 --seeds "${SLOW_SEEDS:-1}"
run --methods deep-svdd --classes 0,2,4,6,8 --seeds 1
python -m bench leaderboard --results "$R" --experiment fmnist-one-class --no-roc
