#!/usr/bin/env bash
# Every setup of the reproduction table of docs/results.md, into one results folder, then the table itself:
#   bash benchmarks/reproduce.sh [RESULTS]   (default results/reproduce; hours on a 2-core CPU)
# Each line is resumable: rerun the script and finished cells are skipped.
set -euo pipefail
R=${1:-results/reproduce}
run() { python -m bench run --results "$R" --experiment reproduce "$@"; }
# seed 002: zeros normal, other digits at 7.8%: the weighted CNN against the conv autoencoders (mnist-5k stands in for MNIST)
run --methods cnn-weighted,ae-kde,ae-threshold --datasets mnist-5k --protocols supervised --classes 0 --seeds 3
# Ruff et al. 2018 on MNIST (mnist-5k stands in): every digit normal in turn
run --methods deep-svdd --datasets mnist-5k --protocols one-class
# seed 004 on MNIST digits (mnist-5k), and seeds 000/001 on FashionMNIST open-set
run --methods vae-cluster --datasets mnist-5k --protocols open-set --seeds 3
run --methods ae-threshold,vae-elbo --datasets fashion-mnist --protocols open-set --seeds 3
[ "${QUICK:-}" = 1 ] && { python -m bench published --results "$R" --into docs/results.md; exit 0; }  # the rows above only
# seed 003: sandals anomalous (leave-one-out 5) and the GAN on balanced class 0 (batch 16, not 1: CPU time)
run --methods ae-kde --datasets fashion-mnist --protocols leave-one-out --classes 5
run --methods vae-elbo --set vae-elbo.arch=conv --set vae-elbo.epochs=40 --datasets fashion-mnist --protocols leave-one-out --classes 5
run --methods gan-abc --set gan-abc.batch_size=16 --datasets fashion-mnist --protocols balanced --classes 0
python -m bench published --results "$R" --into docs/results.md
