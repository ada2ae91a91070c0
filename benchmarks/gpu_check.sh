#!/usr/bin/env bash
# bench on a GPU, in one command that proves and times it, and stops by itself inside 9.5 minutes:
#   bash benchmarks/wheelhouse.sh                        # here, once: .whl/ and .gpu-data/ (git-ignored)
#   bash benchmarks/gpu_check.sh OUT                     # there: device run(carry=[".whl", ".gpu-data"])
#   bash benchmarks/gpu_check.sh OUT --device cpu --quick   # the rehearsal, on any machine
# Parts, each under its own time budget (a part that would pass the total is skipped and says so):
# install, versions, the GPU-marked tests, benchmarks/cost.py (each method's seconds a cell beside bench's
# overhead, a bare loop and the FLOPs bound at the GPU's measured convolution throughput, panda on its
# cached stem maps among them), benchmarks/speed.py (bench against PyOD's deep detectors),
# the FashionMNIST one-class sweep (every method that runs there, 10 classes, 1 seed, --jobs auto),
# fp32 against bf16 for the torch methods on 3 classes, GEOM's faithful preset on one class, and the
# pretrained-feature methods (dn2, panda, msc: the sweep leaves them to this part) on FashionMNIST's
# class 0 in fp32, as the CPU ran them (docs/results.md has the CPU's figures), their cells exported to
# OUT/pretrained as a bundle. A sweep near its budget is stopped as Ctrl-C stops it, so the cells it
# finished are still counted and shown.
# Everything printed also goes to OUT/gpu_check.log; OUT/summary.txt has one line per part.
# GPU_CHECK_PARTS="sweep precision" runs only those parts (and install): a second try after a fix.
# GPU_CHECK_PARTS="panda-gap" (a second call; never in the first) runs panda at 112 and 224 px on
# FashionMNIST's classes 0 and 6 with its collapse curves, the settings the CPU could not afford
# (docs/results.md, "PANDA's gap, measured"), and exports them to OUT/panda-gap.
set -uo pipefail
OUT=${1:?usage: gpu_check.sh OUT [--device cuda|cpu] [--quick]}
shift
DEVICE=cuda QUICK=0
while [ $# -gt 0 ]; do
    case $1 in
        --device) DEVICE=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
TOTAL=${GPU_CHECK_SECONDS:-570}
(( QUICK )) && TOTAL=${GPU_CHECK_SECONDS:-1500}
START=$SECONDS
RUNS=$(mktemp -d /tmp/bench-gpu-check.XXXX)  # results of the sweeps: outside the tree
export PYTHONUNBUFFERED=1 BENCH_DATA=$RUNS/data MPLBACKEND=Agg  # the carried .gpu-data, unpacked by install
exec > >(tee "$OUT/gpu_check.log") 2>&1
: > "$OUT/summary.txt"

part() {  # part NAME BUDGET_SECONDS COMMAND...: run it under its budget, in $RUNS, and record how it went
    local name=$1 budget=$2 t0=$SECONDS rc
    shift 2
    if [ -n "${GPU_CHECK_PARTS:-}" ] && [[ " install $GPU_CHECK_PARTS " != *" $name "* ]]; then
        return  # a second try runs only the parts it names
    fi
    if (( SECONDS - START + budget > TOTAL )); then
        echo "== $name: skipped, ${budget}s would pass the ${TOTAL}s total" | tee -a "$OUT/summary.txt"
        return
    fi
    echo "== $name (budget ${budget}s)"
    (cd "$RUNS" && timeout --kill-after=10 "$budget" bash -c '"$@"' _ "$@")
    rc=$?
    local word=ok
    (( rc == 124 || rc == 137 )) && word="stopped at its budget"
    (( rc != 0 && rc != 124 && rc != 137 )) && word="failed (exit $rc)"
    echo "$name: $word, $((SECONDS - t0))s" | tee -a "$OUT/summary.txt"
}

install() {  # the carried wheels, bench itself and the carried data into /tmp, beside what the machine has
    python3 - "$REPO/.gpu-data" "$BENCH_DATA" <<'PY' || return 1
import lzma, shutil, sys
from pathlib import Path
carried, data = Path(sys.argv[1]), Path(sys.argv[2])
for f in sorted(carried.rglob("*")) if carried.is_dir() else []:
    if f.is_file():  # wheelhouse.sh packs IDX files with xz to fit the carry; bench reads them raw
        to = data / f.relative_to(carried)
        to.parent.mkdir(parents=True, exist_ok=True)
        packed = f.suffix == ".xz"
        with lzma.open(f) if packed else f.open("rb") as src, (to.with_suffix("") if packed else to).open("wb") as dst:
            shutil.copyfileobj(src, dst)
print("data:", ", ".join(sorted(p.name for p in data.rglob("*") if p.is_file())) or "none carried")
PY
    if [ -d "$REPO/.whl" ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/bench-site "$REPO"/.whl/*.whl || return 1
    fi
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade \
        --target /tmp/bench-self "$REPO" || return 1
    python3 -c "import bench.cli.main, bench.methods, mlflow, optuna, pyod; print('bench importable from', bench.__file__)"
}
export PYTHONPATH=/tmp/bench-self:/tmp/bench-site${PYTHONPATH:+:$PYTHONPATH}

versions() {
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 - <<'PY'
import platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| cuDNN", torch.backends.cudnn.version(), "| GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
PY
}

until_s() {  # until_s SECONDS COMMAND...: a bench command stopped as Ctrl-C stops it when time is up
    timeout -s INT --kill-after=10 "$@"
}

sweep() {  # the FashionMNIST one-class sweep: wall time, cells per minute, leaderboard
    local args=(--datasets fashion-mnist --protocols one-class --seeds 1 --jobs auto --device "$DEVICE" --results "$RUNS/sweep")
    if (( QUICK )); then
        args+=(--methods ae-threshold,deep-svdd,pyod-knn --classes 0,1  # geom: its own part below
               --set deep-svdd.epochs=1 --set deep-svdd.ae_epochs=1 --set ae-threshold.epochs=2)
    else  # every method but the pretrained-feature ones, which have their own part
        args+=(--classes all --methods "$(python3 -c "from bench.registry import METHODS
print(','.join(i.name for i, _ in METHODS if i.family != 'pretrained'))")")
    fi
    local t0=$SECONDS
    until_s "$1" python3 -m bench run "${args[@]}"
    local rc=$? seconds=$((SECONDS - t0))
    python3 - "$RUNS/sweep" "$seconds" <<'PY'
import sys
import mlflow
root, seconds = sys.argv[1], float(sys.argv[2])
mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
runs = mlflow.search_runs(experiment_names=["bench"], filter_string="tags.`bench.kind` = 'cell'")
ok = runs[runs["status"] == "FINISHED"]
print(f"sweep: {len(ok)} cells finished in {seconds:.0f}s wall, {60 * len(ok) / max(seconds, 1):.1f} cells per minute")
PY
    python3 -m bench leaderboard --results "$RUNS/sweep" --no-roc && cp "$RUNS/sweep/leaderboard.md" "$OUT/leaderboard.md"
    return $rc
}

precision() {  # fp32 against bf16: the torch methods, same cells, AUROC side by side
    local classes=0,1,2 set=()
    (( QUICK )) && classes=0 && set=(--set ae-threshold.epochs=2 --set vae-elbo.epochs=2 --set ae-kde.epochs=2)
    for p in fp32 bf16; do
        python3 -m bench run --methods ae-threshold,vae-elbo,ae-kde --datasets fashion-mnist --classes "$classes" \
            --device "$DEVICE" --precision "$p" --experiment "precision-$p" --results "$RUNS/precision" "${set[@]}" || return 1
    done
    python3 - "$RUNS/precision" <<'PY'
import sys
import mlflow
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
means = {}
for p in ("fp32", "bf16"):
    runs = mlflow.search_runs(experiment_names=[f"precision-{p}"], filter_string="tags.`bench.kind` = 'cell'")
    means[p] = runs.groupby("tags.method")[["metrics.auroc", "metrics.fit_seconds"]].mean()
for method in means["fp32"].index:
    a, b = means["fp32"].loc[method], means["bf16"].loc[method]
    print(f"{method}: AUROC fp32 {a['metrics.auroc']:.4f} bf16 {b['metrics.auroc']:.4f} "
          f"(diff {b['metrics.auroc'] - a['metrics.auroc']:+.4f}); fit s {a['metrics.fit_seconds']:.1f} / {b['metrics.fit_seconds']:.1f}")
PY
}

speed() {
    local args=(--device "$DEVICE" --results "$RUNS/speed")
    (( QUICK )) && args+=(--classes 0 --epochs 1)
    python3 "$REPO/benchmarks/speed.py" "${args[@]}" && cp "$RUNS"/speed/speed-*.md "$OUT/speed.md"
}

pretrained() {  # dn2, panda and msc as on the CPU (fp32), FashionMNIST class 0: AUROC, fit time, a bundle
    local args=(--methods dn2,panda,msc --datasets fashion-mnist --protocols one-class --classes 0 --seeds 1
                --precision fp32 --jobs auto --device "$DEVICE" --experiment fmnist-one-class --results "$RUNS/pretrained")
    (( QUICK )) && args+=(--set dn2.resolution=32 --set panda.resolution=32 --set panda.epochs=1
                          --set msc.resolution=32 --set msc.epochs=1)
    until_s "$1" python3 -m bench run "${args[@]}"
    local rc=$?
    python3 -m bench leaderboard --results "$RUNS/pretrained" --experiment fmnist-one-class --no-roc >/dev/null &&
        cat "$RUNS/pretrained/leaderboard_by_class.md" &&
        python3 -m bench export --results "$RUNS/pretrained" --experiment fmnist-one-class --to "$OUT/pretrained"
    return $rc
}

cost() {  # seconds a cell, bench's overhead, the bare loop and the FLOPs bound, on digits, on the GPU
    local args=(--device "$DEVICE" --results "$RUNS/cost" --methods pyod-knn,ae-threshold,vae-elbo,deep-svdd,panda,msc)
    (( QUICK )) && args=(--device "$DEVICE" --results "$RUNS/cost" --methods pyod-knn,ae-threshold --classes 0,1)
    python3 "$REPO/benchmarks/cost.py" "${args[@]}" && cp "$RUNS"/cost/cost-*.md "$OUT/cost.md"
}

panda_gap() {  # panda on Lite0 at 112 and 224 px, classes 0 and 6, curves logged; exported as a bundle
    local res=(112 224) epochs=15
    (( QUICK )) && res=(32) epochs=1
    for r in "${res[@]}"; do
        python3 -m bench run --methods panda --set panda.resolution="$r" --set panda.epochs=$epochs \
            --datasets fashion-mnist --protocols one-class --classes 0,6 --precision fp32 --jobs auto \
            --device "$DEVICE" --experiment panda-gap --results "$RUNS/panda-gap" || return
    done
    python3 -m bench export --results "$RUNS/panda-gap" --experiment panda-gap --to "$OUT/panda-gap" &&
        cp "$RUNS/panda-gap/mlflow.db" "$OUT/panda-gap.db"  # the curves: metric histories, not in bundles
}

geom_faithful() {
    local set=(--set geom.arch=wrn10-4 --set geom.transforms=geom72)
    (( QUICK )) && set+=(--set geom.epochs=1 --set geom.batch_size=512)
    python3 -m bench run --methods geom "${set[@]}" --datasets fashion-mnist --classes 0 --device "$DEVICE" \
        --experiment geom-faithful --results "$RUNS/geom"
}

export REPO RUNS OUT DEVICE QUICK
export -f install versions until_s sweep pretrained precision speed cost geom_faithful panda_gap
scale=1
(( QUICK )) && scale=3  # a CPU rehearsal is slower per step, though it runs far fewer
part install 60 install
part versions 15 versions
part gpu-tests $((60 * scale)) python3 -m pytest -p no:cacheprovider -o addopts=-ra --import-mode=importlib -q -m gpu "$REPO/tests/test_gpu.py"
part cost $((60 * scale)) cost
part speed $((75 * scale)) speed
part sweep $((230 * scale)) sweep $((205 * scale))
part pretrained $((90 * scale)) pretrained $((70 * scale))
part precision $((60 * scale)) precision
part geom-faithful $((40 * scale)) geom_faithful
[[ " ${GPU_CHECK_PARTS:-} " == *" panda-gap "* ]] && part panda-gap $((300 * scale)) panda_gap
echo "== done in $((SECONDS - START))s; summary:"
cat "$OUT/summary.txt"
