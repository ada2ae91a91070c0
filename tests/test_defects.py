"""Defect datasets in the MVTec AD layout and the own-split protocol: read back as written (resized,
colour where any image is), split without leaks, n/a where they do not fit, and run end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.config import RunConfig
from bench.data.protocol import make_split
from bench.registry import DATASETS
from bench.sweep.plan import plan
from tests.test_protocols import check_no_leak

# category -> (mode, size (w, h), its defects with their counts)
LAYOUT = {
    "bottle": ("RGB", (40, 40), {"broken": 3, "contamination": 3}),
    "screw": ("L", (36, 30), {"thread": 5}),
}
N_TRAIN, N_GOOD = 12, 4


def _image(rng, mode: str, size: tuple[int, int], defect: bool) -> Image.Image:
    w, h = size
    pixels = rng.integers(90, 110, (h, w, 3) if mode == "RGB" else (h, w)).astype(np.uint8)
    if defect:
        pixels[h // 3 : h // 3 + 8, w // 3 : w // 3 + 8] = 250
    return Image.fromarray(pixels, mode)


def write_mvtec(root: Path) -> Path:
    """Two categories of different sizes and modes: train/good, test/good, test/DEFECT, and masks for
    the defects of the first category (the second has none, as some datasets do)."""
    rng = np.random.default_rng(0)
    for category, (mode, size, defects) in LAYOUT.items():
        folders = {"train/good": N_TRAIN, "test/good": N_GOOD, **{f"test/{d}": n for d, n in defects.items()}}
        for folder, n in folders.items():
            (root / category / folder).mkdir(parents=True)
            for i in range(n):
                _image(rng, mode, size, "good" not in folder).save(root / category / folder / f"{i:03d}.png")
                if "good" not in folder and category == "bottle":
                    mask = root / category / "ground_truth" / folder.split("/")[1]
                    mask.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(np.pad(np.full((8, 8), 255, np.uint8), 10), "L").save(
                        mask / f"{i:03d}_mask.png"
                    )
    return root


@pytest.fixture(scope="module")
def defects(tmp_path_factory):
    root = write_mvtec(tmp_path_factory.mktemp("mvtec") / "mvtec")
    return root, DATASETS.get(f"mvtec:{root}@16")[1].load()


def test_the_layout_reads_back_resized_with_its_labels_and_masks(defects):
    root, ds = defects
    assert ds.class_names == ("bottle", "screw") and ds.name == f"mvtec:{root}@16"
    assert ds.x_train.shape == (2 * N_TRAIN, 3, 16, 16), "colour for all, as one category is colour"
    assert "resized to 16x16 RGB" in ds.source
    bottle_test = 4 + 3 + 3
    np.testing.assert_array_equal(ds.y_test, [0] * bottle_test + [1] * (4 + 5))
    np.testing.assert_array_equal(ds.test_anomaly, [0] * 4 + [1] * 6 + [0] * 4 + [1] * 5)
    assert ds.test_masks.shape == (19, 16, 16)
    assert (
        ds.test_masks[4:10].any(axis=(1, 2)).all()
        and not ds.test_masks[:4].any()
        and not ds.test_masks[10:].any()
    )
    written = Image.open(root / "screw" / "test" / "thread" / "002.png").convert("RGB")
    expected = np.asarray(written.resize((16, 16), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    np.testing.assert_array_equal(ds.x_test[bottle_test + 4 + 2], expected)
    other = DATASETS.get(f"mvtec:{root}@24")[1].load()
    assert other.x_train.shape[-1] == 24 and other.digest != ds.digest, "the size is part of the identity"


def test_own_split_trains_on_good_images_and_tests_on_the_categorys_own_folder(defects):
    _, ds = defects
    for k, category in enumerate(ds.class_names):
        split = make_split(ds, "own-split", k, seed=0)
        check_no_leak(ds, split)
        assert not split.train.anomaly.any() and not split.val.anomaly.any(), "no defect before the test"
        assert len(split.train) + len(split.val) == N_TRAIN and len(split.val) >= 1
        assert set(split.test.classes) == {k}
        np.testing.assert_array_equal(split.test.anomaly, ds.test_anomaly[ds.y_test == k])
        assert split.test.n_anomalies == sum(LAYOUT[category][2].values())


def test_defect_datasets_and_class_protocols_do_not_mix(defects):
    root, _ = defects
    cfg = RunConfig(
        methods=("pyod-knn",), datasets=(f"mvtec:{root}@16", "digits"), protocols=("one-class", "own-split"),
        classes=(0,), threshold="tuned", min_test=3,
    )  # fmt: skip
    swept = plan(cfg)
    assert {(c.dataset, c.protocol) for c in swept.cells} == {
        (f"mvtec:{root}@16", "own-split"),
        ("digits", "one-class"),
    }
    reasons = {(n.dataset, n.protocol): n.reason for n in swept.na}
    assert "use --protocols own-split" in reasons[(f"mvtec:{root}@16", "one-class")]
    assert "has no split of its own" in reasons[("digits", "own-split")]
    own = [c for c in swept.cells if c.protocol == "own-split"]
    assert {c.threshold for c in own} == {"own"}, "nothing to tune a threshold on: validation is good only"
    assert any("--threshold tuned is n/a on own-split" in n for n in swept.notes)


@pytest.mark.slow
def test_a_defect_folder_runs_end_to_end_one_column_per_category(defects, tmp_path, bench_main):
    root, _ = defects
    args = ["run", "--datasets", f"mvtec:{root}@32", "--protocols", "own-split", "--min-test", "3"]
    res = bench_main(*args, "--methods", "pyod-knn,ae-threshold,dn2", "--results", "out")
    assert res.returncode == 0, res.stderr
    assert "6 cells ok, 0 failed" in res.stdout
    assert bench_main("leaderboard", "--results", "out", "--no-roc").returncode == 0
    by_class = pd.read_csv(tmp_path / "out" / "leaderboard_by_class.csv")
    assert set(by_class["method"]) == {"pyod-knn", "ae-threshold", "dn2 (pretrained: ImageNet)"}
    assert by_class[["0", "1"]].notna().all().all(), "a figure for each category"
    assert (by_class.loc[by_class["method"] == "pyod-knn", ["0", "1"]] > 0.9).all().all(), "bright defects"
