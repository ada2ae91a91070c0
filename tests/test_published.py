"""Published figures: declared next to the defaults, matched to the cells of the same setup, in the docs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.report.paper_figures import (
    BLOCK_END,
    BLOCK_START,
    declared,
    label_settings,
    published_markdown,
    published_table,
    replace_block,
)

RESULTS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "results.md"


def cells(*rows: tuple[str, str, str, int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [dict(method=m, dataset=d, protocol=p, **{"class": str(k)}, auroc=a) for m, d, p, k, a in rows]
    )


def test_labels_give_their_settings():
    assert label_settings("vae-elbo[arch=conv,epochs=40]") == ("vae-elbo", {"arch": "conv", "epochs": "40"})
    assert label_settings("ae-kde") == ("ae-kde", {})


def test_a_figure_meets_the_cells_of_its_setup_and_no_others():
    table = published_table(
        cells(
            ("vae-elbo[arch=conv,epochs=40]", "fashion-mnist", "leave-one-out", 5, 0.30),
            ("vae-elbo[arch=conv,epochs=40]", "fashion-mnist", "leave-one-out", 4, 0.99),  # another class
            ("vae-elbo", "fashion-mnist", "leave-one-out", 5, 0.70),  # dense: not the conv figure
            ("deep-svdd", "mnist-5k", "one-class", 3, 0.90),
            ("deep-svdd", "mnist-5k", "one-class", 4, 0.80),
        )
    )
    conv = table[table["source"].str.contains("baseline 2's results")]
    assert conv[["method", "bench", "cells"]].values.tolist() == [["vae-elbo[arch=conv,epochs=40]", 0.30, 1]]
    assert conv["diff"].iloc[0] == pytest.approx(0.30 - 0.93)
    mean = table[
        (table["method"] == "deep-svdd") & (table["class"] == "all") & (table["dataset"] != "cifar10")
    ]
    assert mean["dataset"].tolist() == ["mnist", "mnist-5k (for mnist)"]
    assert mean["cells"].tolist()[0] == 0, "MNIST itself was not run"
    stand_in = mean[mean["dataset"] == "mnist-5k (for mnist)"]
    assert stand_in["bench"].iloc[0] == pytest.approx(0.85) and stand_in["cells"].iloc[0] == 2
    assert "not run" in published_markdown(table), "figures nobody measured keep a row"


def test_the_docs_table_holds_every_declared_figure():
    text = RESULTS_PAGE.read_text()
    block = text[text.index(BLOCK_START) : text.index(BLOCK_END)]
    rows = {
        tuple(c.strip() for c in line.strip("|").split("|")) for line in block.splitlines()[3:] if "|" in line
    }
    shown = {(label_settings(r[0])[0], r[2], r[3], r[4], r[5], r[9]) for r in rows}
    for name, fig in declared():
        unit = "all" if fig.unit is None else str(fig.unit)
        assert (name, fig.protocol, unit, fig.metric, f"{fig.value:.3f}", fig.source) in shown, (name, fig)


def test_every_figure_names_its_paper_table_network_and_protocol_and_a_re_implementation_says_whose():
    from bench.api import Published
    from bench.registry import PROTOCOLS

    for name, fig in declared():
        assert fig.paper and fig.where and fig.network and fig.protocol in PROTOCOLS.names(), (name, fig)
        assert fig.source.startswith(f"{fig.paper}, {fig.where} ({fig.network})")
    gan = [fig for name, fig in declared() if name == "gan-abc"]
    assert gan and all("re-implemented by seed 003" in fig.source for fig in gan)
    assert not [fig for name, fig in declared() if name == "msc" and fig.dataset == "fashion-mnist"], (
        "MSC's FashionMNIST figure comes from a third-party re-implementation, not the paper: not declared"
    )
    with pytest.raises(ValueError, match="names its where, network"):
        Published("mnist", "one-class", "auroc", 0.9, "Someone 2024", "", "")


def test_replacing_the_block_keeps_the_rest():
    text = f"intro\n{BLOCK_START}\nold\n{BLOCK_END}\nend\n"
    assert replace_block(text, "new\n") == f"intro\n{BLOCK_START}\nnew\n{BLOCK_END}\nend\n"
    with pytest.raises(ValueError, match="no <!-- published:start -->"):
        replace_block("no block", "x")
