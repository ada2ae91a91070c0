"""``plan``: the whole sweep resolved and checked as data, before any cell runs or anything is written."""

from __future__ import annotations

import pytest

from bench.config import RunConfig
from bench.contract.method import Method
from bench.contract.params import Count
from bench.contract.space import Int
from bench.errors import BenchError
from bench.registry import METHODS, register_method
from bench.sweep.plan import plan


@pytest.fixture
def counted_method():
    built = []

    @register_method("test-counted")
    class Counted(Method):
        def __init__(self, *, width: int = 3) -> None:
            built.append(width)
            self.width = width

    yield built
    METHODS._entries.pop("test-counted")


def test_plan_builds_each_method_once_and_writes_nothing(tmp_path, counted_method):
    cfg = RunConfig(
        methods=("test-counted", "pyod-pca"), classes=(0, 1), seeds=(0, 1), results=str(tmp_path / "r")
    )
    swept = plan(cfg)
    assert counted_method == [3], "one construction for its 4 cells"
    assert len(swept.cells) == 8 and len({c.key for c in swept.cells}) == 8
    assert {(c.method, c.unit, c.seed) for c in swept.cells} == {
        (m, k, s) for m in ("test-counted", "pyod-pca") for k in (0, 1) for s in (0, 1)
    }
    assert not (tmp_path / "r").exists()


def test_cells_key_and_log_the_values_fit_uses():
    swept = plan(RunConfig(methods=("vae-elbo", "ae-kde"), classes=(0,)))
    params = {c.method: c.params for c in swept.cells}
    assert params["vae-elbo"]["epochs"] == 30 and params["vae-elbo"]["lr"] == 1e-3, "no None for a default"
    assert params["vae-elbo"]["batch_size"] == 128
    assert params["ae-kde"]["holdout"] == 0.1, "holdout changes ae-kde's results: declared and keyed"
    conv = plan(RunConfig(methods=("vae-elbo",), classes=(0,), overrides=("vae-elbo.arch=conv",)))
    (cell,) = conv.cells
    assert (cell.params["epochs"], cell.params["lr"], cell.params["patience"]) == (100, 1e-4, 3)
    assert cell.settings == {"arch": "conv"} and cell.label_name == "vae-elbo[arch=conv]"
    holdout = plan(RunConfig(methods=("ae-kde",), classes=(0,), overrides=("ae-kde.holdout=0.2",)))
    assert holdout.cells[0].key != swept.cells[1].key


def test_methods_that_need_what_a_protocol_lacks_are_listed_not_planned():
    swept = plan(RunConfig(methods=("cnn-weighted", "pyod-pca"), classes=(0,)))
    assert [c.method for c in swept.cells] == ["pyod-pca"]
    assert [(n.method, n.protocol, n.reason) for n in swept.na] == [
        ("cnn-weighted", "one-class", "n/a: needs anomaly labels")
    ]


@pytest.mark.parametrize(
    "cfg,expect",
    [
        (RunConfig(classes=(10,)), "--classes 10 is out of range for digits under one-class"),
        (RunConfig(protocols=("open-set",), classes=(2,)), "test sets 0..1"),
        (RunConfig(methods=("ae-threshold",), overrides=("pyod-knn.n_neighbors=3",)), "does not run"),
        (
            RunConfig(methods=("ae-threshold",), overrides=("ae-threshold.hidden=[16,-1]",)),
            "hidden must be >= 1",
        ),
        (RunConfig(methods=("vae-elbo",), overrides=("vae-elbo.arch=cnn",)), "one of 'dense', 'conv'"),
        (RunConfig(methods=("pyod-knn",), overrides=("pyod-knn.n_neighbors=2.5",)), "n_neighbors takes int"),
    ],
)
def test_bad_settings_stop_the_plan(cfg, expect):
    with pytest.raises(BenchError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        plan(cfg)


def test_a_search_space_that_proposes_invalid_values_is_refused_at_registration():
    with pytest.raises(
        ValueError, match="the search space of epochs proposes what it refuses: epochs must be >= 1"
    ):

        @register_method("test-bad-space")
        class BadSpace(Method):
            search_space = {"epochs": Int(0, 5)}  # noqa: RUF012

            def __init__(self, *, epochs: Count = 3) -> None:
                self.epochs = epochs

    assert "test-bad-space" not in METHODS


def test_repeated_grid_values_run_once_with_a_note():
    swept = plan(RunConfig(methods=("pyod-pca", "pyod-pca"), classes=(0, 0, 1), seeds=(2, 2)))
    assert [(c.method, c.unit, c.seed) for c in swept.cells] == [("pyod-pca", 0, 2), ("pyod-pca", 1, 2)]
    assert swept.notes == (
        "note: --methods lists pyod-pca more than once; each cell runs once",
        "note: --classes lists 0 more than once; each cell runs once",
        "note: --seeds lists 2 more than once; each cell runs once",
    )


@pytest.mark.parametrize("text,expect", [("-5,3", "seeds >= 0, not -5"), ("0", "N >= 1"), ("a", "count N")])
def test_bad_seeds_are_refused(text, expect):
    from bench.config import parse_seeds

    with pytest.raises(BenchError, match=expect):
        parse_seeds(text)


def test_test_splits_too_small_to_measure_are_na_with_the_reason():
    """Digits under supervised holds 4-5 test anomalies a class at ratio 0.078: n/a, not an AUROC."""
    swept = plan(RunConfig(methods=("pyod-pca",), protocols=("supervised", "one-class"), classes=(0, 1)))
    assert {(c.protocol, c.unit) for c in swept.cells} == {("one-class", 0), ("one-class", 1)}
    (na,) = swept.na
    assert (na.method, na.dataset, na.protocol) == ("pyod-pca", "digits", "supervised")
    assert na.reason == (
        "n/a on classes 0-1 (seed 0): test splits hold 4-5 anomalies, fewer than --min-test 10"
    )
    short = {(c.protocol, c.unit): c.sizes.test_anomalous for c in swept.splits if c.reason}
    assert short == {("supervised", 0): 4, ("supervised", 1): 5}
    lowered = plan(RunConfig(methods=("pyod-pca",), protocols=("supervised",), classes=(0, 1), min_test=4))
    assert len(lowered.cells) == 2 and not lowered.na
    raised = plan(
        RunConfig(methods=("pyod-pca",), protocols=("supervised",), classes=(0,), anomaly_ratio=0.2)
    )
    assert len(raised.cells) == 1, "13 anomalies at ratio 0.2"


def test_scaled_sizes_are_said_once_per_dataset_and_protocol(fashion):
    swept = plan(
        RunConfig(methods=("pyod-pca",), datasets=("digits", "fashion-mnist"), protocols=("open-set",))
    )
    (warning,) = swept.notes
    assert warning.startswith("warning: open-set on digits: sizes scaled to the dataset")
    assert (
        "train normal 591 (26,000), labeled 40 (2,000), test normal 135 (1,000), test anomalous 10 (52)"
        in warning
    )
    assert len(swept.cells) == 4


def test_all_datasets_and_protocols_are_those_here_and_those_registered(tmp_path, monkeypatch):
    """``--datasets all``: every registered dataset whose files are here, each other one named once
    with why (nothing downloads for it); ``--protocols all``: every registered protocol."""
    from bench.registry import PROTOCOLS
    from tests.test_datasets import write_fake_cifar

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    write_fake_cifar(tmp_path / "data" / "cifar10", per_batch=100)
    cfg = RunConfig(methods=("pyod-pca",), datasets=("all",), protocols=("all",), classes=(0,), min_test=5)
    swept = plan(cfg)
    assert {c.dataset for c in swept.cells} >= {"digits", "cifar10"}
    assert {c.protocol for c in swept.cells} == set(PROTOCOLS.names()) - {"own-split"}
    assert {n.dataset for n in swept.na if n.protocol == "own-split"} >= {"digits", "cifar10"}, (
        "n/a, with why"
    )
    left_out = [n for n in swept.notes if "--datasets all leaves out" in n]
    assert any("cifar100:" in n and "cifar-100-binary.tar.gz" in n for n in left_out)
    assert any(" mnist:" in n for n in left_out) and not any("cifar10:" in n for n in left_out)
    assert not (tmp_path / "cache").exists(), "nothing downloaded"
