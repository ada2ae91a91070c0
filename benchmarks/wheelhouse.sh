#!/usr/bin/env bash
# The wheels and data that benchmarks/gpu_check.sh needs on the GPU machine, which has no network:
#   bash benchmarks/wheelhouse.sh [PYTHON_VERSION]     (default 3.12, the GPU machine's)
# writes .whl/ (the wheels of benchmarks/gpu_wheels.txt, no dependencies) and .gpu-data/fashion-mnist/
# (the IDX files), both git-ignored; carry both: run(carry=[".whl", ".gpu-data"]). About 51 MB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-3.12}
rm -rf .whl && mkdir -p .whl .gpu-data/fashion-mnist
grep -v '^#' benchmarks/gpu_wheels.txt | grep . > /tmp/bench-gpu-wheels.txt
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl -r /tmp/bench-gpu-wheels.txt
FMNIST=${BENCH_FMNIST:-/usr/share/datasets/fashion-mnist}
cp "$FMNIST"/*-ubyte.gz .gpu-data/fashion-mnist/
du -sh .whl .gpu-data
