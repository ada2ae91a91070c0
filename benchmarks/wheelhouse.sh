#!/usr/bin/env bash
# The wheels and data that benchmarks/gpu_check.sh needs on the GPU machine, which has no network:
#   bash benchmarks/wheelhouse.sh [PYTHON_VERSION]     (default 3.12, the GPU machine's)
# writes .whl/ (the wheels of benchmarks/gpu_wheels.txt, no dependencies) and .gpu-data/fashion-mnist/
# (the IDX files, xz-compressed: 26 MB instead of gzip's 31), both git-ignored; carry both:
# run(carry=[".whl", ".gpu-data"]). A call carries at most 64 MiB with the tree: the last line says
# how much this one would, and the script fails when that is over.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-3.12}
rm -rf .whl .gpu-data && mkdir -p .whl .gpu-data/fashion-mnist
grep -v '^#' benchmarks/gpu_wheels.txt | grep . > /tmp/bench-gpu-wheels.txt
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl -r /tmp/bench-gpu-wheels.txt
FMNIST=${BENCH_FMNIST:-/usr/share/datasets/fashion-mnist}
for gz in "$FMNIST"/*-ubyte.gz; do  # gpu_check.sh unpacks them to raw IDX files there
    stem=$(basename "$gz" .gz)
    gzip -dc "$gz" | xz -6 -T0 > ".gpu-data/fashion-mnist/$stem.xz"
done
tree=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
carried=$(du -cb .whl .gpu-data | tail -1 | cut -f1)
total=$((tree + carried)) limit=$((64 * 1024 * 1024))
echo "a call carries $((total / 1000000)) MB: the tree $((tree / 1000000)) MB, .whl and .gpu-data" \
    "$((carried / 1000000)) MB (limit $((limit / 1000000)) MB)"
(( total <= limit )) || { echo "over the limit: carry fewer wheels" >&2; exit 1; }
