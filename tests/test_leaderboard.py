"""Leaderboard aggregation: one run per cell, mean/std, ranks, n/a rows."""

import numpy as np
import pandas as pd

from bench.report.leaderboard import leaderboard, to_markdown


def cells():
    rows = []
    for method, base in (("a", 0.9), ("b", 0.7)):
        for k in range(3):
            rows.append(
                dict(
                    method=method,
                    dataset="d",
                    protocol="one-class",
                    cell_key=f"{method}{k}",
                    start_time=k,
                    **{"class": k},
                    auroc=base + 0.01 * k,
                    auprc=0.5,
                    f1=0.4,
                )
            )
    # An older run of a cell that was rerun: must not count.
    rows.append(
        dict(
            method="b",
            dataset="d",
            protocol="one-class",
            cell_key="b0",
            start_time=-1,
            **{"class": 0},
            auroc=0.0,
            auprc=0.0,
            f1=0.0,
        )
    )
    return pd.DataFrame(rows)


def seeded(k: int, s: int, auroc: float, **metrics) -> dict:
    """Method m's cell of class k and seed s."""
    cell = dict(method="m", dataset="d", protocol="p", cell_key=f"{s}-{k}", start_time=0, seed=s)
    return {**cell, "class": k, "auroc": auroc, **metrics}


def test_mean_std_rank_and_dedup():
    board = leaderboard(cells(), [("c", "one-class", "n/a: needs anomaly labels")]).set_index("method")
    assert board.loc["a", "rank"] == 1 and board.loc["b", "rank"] == 2
    assert board.loc["b", "cells"] == 3
    assert board.loc["b", "auroc_mean"] == np.mean([0.70, 0.71, 0.72])
    assert np.isclose(board.loc["a", "auroc_std"], np.std([0.90, 0.91, 0.92], ddof=1))
    assert board.loc["c", "note"] == "n/a: needs anomaly labels" and board.loc["c", "cells"] == 0
    assert board.loc["a", "mean_rank"] == 1 and board.loc["b", "mean_rank"] == 2
    assert board.loc["a", "auroc_ci_low"] <= 0.91 <= board.loc["a", "auroc_ci_high"]
    md = to_markdown(board.reset_index())
    assert "| 1 | d | one-class | a | 3 | 0.910 ± 0.010 |" in md
    assert "| c | 0 |" in md


def test_by_class_pivots_latest_runs():
    from bench.report.by_class import EXTRAS, by_class

    df = cells().assign(**{"class": lambda d: d["cell_key"].str[-1], "seed": 0})
    table = by_class(df).set_index("method")
    assert list(table.columns) == ["dataset", "protocol", "0", "1", "2", "mean", *EXTRAS]
    assert table.loc["b", "0"] == 0.70  # the rerun's value, not the stale 0.0
    assert np.isclose(table.loc["a", "mean"], 0.91)


def test_by_class_std_over_seeds():
    from bench.report.by_class import by_class, by_class_markdown

    rows = [seeded(k, s, 0.8 + 0.1 * s + 0.01 * k) for k in range(2) for s in range(3)]
    df = pd.DataFrame(rows)
    mean, std = by_class(df), by_class(df, stat="std")
    assert np.isclose(mean.loc[0, "0"], 0.9) and np.isclose(std.loc[0, "0"], 0.1)
    assert np.isclose(std.loc[0, "mean"], 0.1)  # seed means 0.805, 0.905, 1.005
    assert "0.900 ± 0.100" in by_class_markdown(mean, std)


def test_a_seed_that_ran_fewer_classes_weighs_no_more_in_the_row(tmp_path):
    """Seed 0 ran classes 0-3, seeds 1 and 2 only classes 0 and 1 (a grid still filling up): each class
    is its mean over the seeds that ran it, the row the mean of those (not of each seed's own mean),
    the same in both tables; its ± only from seeds that ran every class, and the tables say so."""
    from bench.report.by_class import by_class, by_class_markdown
    from bench.report.leaderboard import write

    values = {
        (0, 0): 0.8,
        (0, 1): 0.9,
        (0, 2): 0.6,
        (0, 3): 0.7,
        (1, 0): 1.0,
        (1, 1): 0.9,
        (2, 0): 0.9,
        (2, 1): 0.8,
    }
    rows = [seeded(k, s, v, auprc=v, f1=0.5) for (s, k), v in values.items()]
    rows += [{**r, "method": "full", "cell_key": "f" + r["cell_key"]} for r in rows if r["seed"] == 0]
    df = pd.DataFrame(rows)
    mean, std = by_class(df).set_index("method"), by_class(df, stat="std").set_index("method")
    assert np.allclose(mean.loc["m", ["0", "1", "2", "3"]].astype(float), [0.9, 0.866667, 0.6, 0.7])
    assert np.isclose(mean.loc["m", "mean"], np.mean([0.9, 0.866667, 0.6, 0.7]), atol=1e-6)  # 0.7667
    assert np.isclose(std.loc["m", "0"], 0.1) and pd.isna(std.loc["m", "mean"]), "one complete seed: no ±"
    board = leaderboard(df).set_index("method")
    assert np.isclose(board.loc["m", "auroc_mean"], mean.loc["m", "mean"])
    assert board.loc["m", "cells"] == 8 and board.loc["full", "cells"] == 4
    assert list(mean.index) == ["m", "full"]  # 0.767 ahead of 0.75
    write(board.reset_index(), df, tmp_path)
    for name in ("leaderboard.md", "leaderboard_by_class.md"):
        text = (tmp_path / name).read_text()
        assert "Seeds that ran different classes: m (d, p)." in text and "full (d" not in text
    assert "| m | 0.900 ± 0.100 | 0.867 ± 0.058 | 0.600 | 0.700 | 0.767 |" in by_class_markdown(
        by_class(df), by_class(df, stat="std")
    )
    # A second complete seed gives the row its ± over the two complete seeds, the partial one left out.
    more = [{**r, "seed": 3, "cell_key": f"3-{r['class']}", "auroc": r["auroc"] + 0.1} for r in rows[:4]]
    std = by_class(pd.concat([df, pd.DataFrame(more)]), stat="std").set_index("method")
    assert np.isclose(std.loc["m", "mean"], np.std([0.75, 0.85], ddof=1))


def test_by_class_says_cost_device_and_the_papers_figure_for_its_setting():
    from bench.report.by_class import PARTIAL_NOTE, by_class, by_class_markdown

    def row(method, k, fit, device, **extra):
        return dict(
            method=method.split("[")[0],
            method_label=method,
            dataset="fashion-mnist",
            protocol="one-class",
            cell_key=f"{method}{k}",
            start_time=0,
            seed=0,
            **{"class": k},
            auroc=0.9,
            fit_seconds=fit,
            score_seconds=1.0,
            device=device,
            **extra,
        )

    faithful = "geom[arch=wrn10-4,transforms=geom72]"
    rows = [row("geom", 0, 3.0, "cpu"), row("geom", 1, 5.0, "cpu"), row(faithful, 0, 1.0, "cuda:0")]
    rows += [row("dn2[resolution=224]", 0, 2.0, "cpu", pretrained="ImageNet"), row("pyod-knn", 0, 1.0, "cpu")]
    rows += [{**row("deep-svdd", 0, 1.0, "cpu"), "dataset": "mnist-5k"}]  # a stand-in for MNIST
    df = pd.DataFrame(rows)
    mean = by_class(df)
    table = mean.set_index("method")
    assert table.loc["geom", "s / cell"] == 5.0 and table.loc["geom", "device"] == "cpu"
    assert table.loc["geom", "published"] == "0.935 at arch=wrn10-4, transforms=geom72"  # not its setting
    assert table.loc[faithful, "published"] == "0.935" and table.loc[faithful, "device"] == "cuda:0"
    assert table.loc["dn2[resolution=224] (pretrained: ImageNet)", "published"] == "0.944"
    assert table.loc["pyod-knn", "published"] == "" and table.loc["pyod-knn", "source"] == ""
    assert table.loc["deep-svdd", "published"] == "0.948"  # Ruff et al.'s MNIST mean, beside mnist-5k
    md = by_class_markdown(mean, by_class(df, stat="std"))
    assert "| geom | 0.900 | 0.900 | 0.900 | 5.0 | cpu | 0.935 at arch=wrn10-4, transforms=geom72 |" in md
    cited = "Published: dn2: Bergman et al. 2020 (DN2, arXiv 2002.10445), one-class results"
    assert cited in md and md.count("Golan & El-Yaniv 2018 (GEOM, NeurIPS), Table 1") == 1  # once per method
    assert "| geom[arch=wrn10-4,transforms=geom72] | 0.900 |  | 0.900 |" in md  # class 1 not run: blank
    assert PARTIAL_NOTE in md


def test_cells_of_other_protocol_settings_are_never_averaged_together():
    from bench.cell import Cell
    from bench.data.protocol import ProtocolOptions

    def cell(**opts):
        return Cell("m", {}, "d", "open-set", 0, 0, ProtocolOptions(**opts))

    default, other = cell(), cell(known_classes=(1, 3, 5, 7, 9), labels=40)
    assert default.protocol_label == "open-set"
    assert other.protocol_label == "open-set[known=1,3,5,7,9 labels=40]"
    assert default.key != other.key != cell(known_classes=(1, 3, 5, 7, 9)).key
    assert (
        Cell("m", {}, "d", "one-class", 0, 0, ProtocolOptions(labels=40)).key
        == Cell("m", {}, "d", "one-class", 0, 0, ProtocolOptions()).key
    ), "an option the protocol does not read is not part of the cell"
    rows = [
        dict(method="m", dataset="d", protocol="open-set", protocol_label=c.protocol_label,
             cell_key=f"{i}{k}", start_time=0, auroc=auroc, auprc=0.5, f1=0.4, **{"class": k})
        for i, (c, auroc) in enumerate(((default, 0.9), (other, 0.5)))
        for k in (0, 1)
    ]  # fmt: skip
    board = leaderboard(pd.DataFrame(rows), [("n", "open-set", "n/a: no encoder")])
    means = board.dropna(subset=["auroc_mean"]).set_index("protocol")["auroc_mean"]
    assert means.to_dict() == {"open-set": 0.9, "open-set[known=1,3,5,7,9 labels=40]": 0.5}
    assert sorted(board.loc[board["method"] == "n", "protocol"]) == sorted(means.index)


def test_file_names_from_labels_are_safe_and_distinct():
    import re

    from bench.report.board import _slug

    labels = [
        "folder:/abs/path/to/images",
        "folder:/abs_path/to/images",
        "npz:C:\\data\\x.npz",
        "../..",
        "one-class",
    ]
    slugs = [_slug(label) for label in labels]
    assert all(re.fullmatch(r"[A-Za-z0-9=._-]+", s) and not s.startswith(".") for s in slugs), slugs
    assert len(set(slugs)) == len(labels)
    assert _slug("one-class") == "one-class", "plain labels keep their names"


def test_methods_na_on_one_dataset_keep_a_row_that_says_why():
    rows = [
        dict(method=m, dataset="digits", protocol="one-class", protocol_label="one-class", cell_key=f"{m}{k}",
             start_time=0, auroc=0.8, auprc=0.5, f1=0.4, **{"class": k})
        for m in ("a", "b") for k in (0, 1)
    ]  # fmt: skip
    na = [
        ("a", "supervised", "n/a on classes 0-9 (seed 0): too small", "digits"),
        ("b", "one-class", "n/a on class 2 (seed 0): too small", "digits"),
        ("a", "supervised", "n/a on classes 0-9 (seed 0): too small", "digits"),  # a second sweep said it too
    ]
    board = leaderboard(pd.DataFrame(rows), na).set_index(["method", "protocol"])
    assert board.loc[("a", "supervised"), "note"] == "n/a on classes 0-9 (seed 0): too small"
    assert board.loc[("a", "supervised"), "cells"] == 0 and len(board) == 3
    assert board.loc[("b", "one-class"), "note"] == "n/a on class 2 (seed 0): too small"
    assert board.loc[("b", "one-class"), "auroc_mean"] == 0.8, "the cells that ran keep their numbers"


def test_a_declared_metric_reaches_every_table(monkeypatch):
    """A threshold-free metric is one declaration: cells compute it, the leaderboard aggregates and
    prints it under its label, the console summary shows it, and lower-is-better ranks ascending."""
    from bench.scoring import metrics
    from bench.sweep.progress import summary_table

    def top_score(labels, scores):
        return float(np.max(scores))

    extra = metrics.Metric("top", "top score", (metrics.LEADERBOARD, metrics.SUMMARY), score=top_score)
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, extra))
    computed = metrics.detection_metrics(np.array([0, 1, 1]), np.array([0.1, 0.7, 0.4]), None)
    assert computed["top"] == 0.7
    table = cells().assign(top=lambda c: c["auroc"] * 2)
    board = leaderboard(table).set_index("method")
    assert board.loc["a", "top_mean"] == np.mean([1.80, 1.82, 1.84])
    assert "top score" in to_markdown(board.reset_index()).splitlines()[0]

    class Report:
        sweep_id, ok = (
            "s",
            [(type("C", (), {"label_name": "a", "dataset": "d", "protocol_label": "p"})(), computed)],
        )

    summary = summary_table(Report())
    assert "top score" in [c.header for c in summary.columns]
    lower = metrics.Metric("auroc", "AUROC", (metrics.LEADERBOARD,), higher_is_better=False)
    monkeypatch.setattr(metrics, "PRIMARY", lower)
    monkeypatch.setattr("bench.report.leaderboard.PRIMARY", lower)
    assert leaderboard(cells()).set_index("method").loc["b", "rank"] == 1


def test_a_declared_column_with_its_own_aggregation_is_one_line(monkeypatch):
    """A column beside the metrics (a median fit time) is one ``Column``: the leaderboard reduces each
    row's cells with it (the rerun cell's old run left out) and shows it in its declared place."""
    from bench.report import columns
    from bench.report import leaderboard as board_module

    median = columns.Column("fit_seconds_median", "fit_seconds", "median")
    monkeypatch.setattr(board_module, "COLUMNS", (*columns.COLUMNS, median))
    table = cells().assign(fit_seconds=[1.0, 2.0, 9.0, 4.0, 5.0, 6.0, 100.0])
    board = leaderboard(table).set_index("method")
    assert board.loc["a", "fit_seconds_median"] == 2.0 and board.loc["b", "fit_seconds_median"] == 5.0
    assert list(board.columns[-2:]) == ["fit_seconds_median", "note"]
    assert "fit_seconds_median" not in leaderboard(cells()).columns, "a column no cell can fill is left out"


def test_a_chaotic_method_s_row_says_which_figure_to_read():
    """A method that declares itself chaotic (vae-cluster: k-means) has a note on its row; one that
    repeats exactly has none; a declaration outside the four kinds is refused at registration."""
    import pytest

    from bench.registry import register_method

    table = cells().replace({"method": {"a": "vae-cluster[k=3]", "b": "pyod-knn"}})
    notes = leaderboard(table).set_index("method")["note"]
    assert (
        notes["vae-cluster[k=3]"].startswith("chaotic (k-means")
        and "leaderboard_by_class_std" in notes["vae-cluster[k=3]"]
    )
    assert notes["pyod-knn"] == ""

    class Unsure:
        reproducibility = "mostly"

    with pytest.raises(ValueError, match="reproducibility is '', 'exact', 'tolerance' or 'chaotic: WHY'"):
        register_method("unsure")(Unsure)
