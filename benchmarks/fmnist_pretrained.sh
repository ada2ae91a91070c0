#!/usr/bin/env bash
# The FashionMNIST one-class table of the pretrained-feature methods beside pyod-knn:
#   bash benchmarks/fmnist_pretrained.sh [RESULTS] [SEEDS] [DEVICE]   (ends with the leaderboard)
# dn2 at its default and at other backbones and resolutions (deterministic: one seed), panda and msc
# (which train: SEEDS seeds, default 3), pyod-knn. Each dn2 setting extracts FashionMNIST's 70,000
# images once (at 112 px on a 2-core CPU: Lite0 about 14 minutes); panda and msc fine-tune each
# class (minutes a class on a GPU, tens of minutes on a 2-core CPU: see docs/results.md).
set -euo pipefail
R=${1:-results/fmnist-pretrained}
S=${2:-3}
D=${3:-auto}
run() { python -m bench run --results "$R" --experiment fmnist-pretrained --datasets fashion-mnist \
    --protocols one-class --device "$D" "$@"; }
run --methods dn2,pyod-knn --seeds 1
for setting in "resolution=112" "backbone=\"efficientnet-lite2\" resolution=112"; do
    args=()
    for kv in $setting; do args+=(--set "dn2.$kv"); done
    run --methods dn2 "${args[@]}" --seeds 1
done
run --methods panda,msc --seeds "$S"
python -m bench leaderboard --results "$R" --experiment fmnist-pretrained --no-roc
