#!/usr/bin/env bash
# The FashionMNIST one-class table of the pretrained-feature methods beside pyod-knn:
#   bash benchmarks/fmnist_pretrained.sh [RESULTS] [SEEDS] [DEVICE]   (ends with the leaderboard)
# dn2 at its default (Lite0, 112 px), at 64 px and with Lite1 and Lite2 (deterministic: one seed), gaussian-ad, panda and msc
# (which train: SEEDS seeds, default 3), pyod-knn. Each dn2 setting extracts FashionMNIST's 70,000 images
# once (Lite0 at 112 px: 8.7 minutes on a 2-core CPU); panda and msc fine-tune each class (about 12
# minutes a panda cell on a 2-core CPU, two cells at once: see docs/results.md; minutes on a GPU).
set -euo pipefail
R=${1:-results/fmnist-pretrained}
S=${2:-3}
D=${3:-auto}
run() { python -m bench run --results "$R" --experiment fmnist-pretrained --datasets fashion-mnist \
    --protocols one-class --device "$D" "$@"; }
run --methods dn2,pyod-knn --seeds 1
for setting in "resolution=64" "backbone=\"efficientnet-lite1\"" "backbone=\"efficientnet-lite2\""; do
    args=()
    for kv in $setting; do args+=(--set "dn2.$kv"); done
    run --methods dn2 "${args[@]}" --seeds 1
done
# gaussian-ad (deterministic) at its default (Lite0, 112 px) and on Lite2 at its own 260 px (about 80 minutes
# of extraction on a 2-core CPU); `--threshold tuned` adds each cell's validation AUROC
run --methods gaussian-ad --seeds 1
run --methods gaussian-ad --set 'gaussian-ad.backbone="efficientnet-lite2"' --set gaussian-ad.resolution=260 --seeds 1
run --methods panda,msc --seeds "$S"
python -m bench leaderboard --results "$R" --experiment fmnist-pretrained --no-roc
