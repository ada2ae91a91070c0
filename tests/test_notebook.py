"""The example notebook (docs/examples/notebook.ipynb) runs from top to bottom in a real Jupyter kernel:
a method defined in a cell, run in worker processes, ranked on digits and against the shipped
FashionMNIST bundle."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

NOTEBOOK = ROOT / "docs" / "examples" / "notebook.ipynb"


@pytest.mark.slow
def test_the_example_notebook_runs_and_ranks_its_method(tmp_path, fashion):
    import nbclient
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()  # raises on the first cell that fails
    results = {i: _text(cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"}
    last = list(results)[-1]
    assert "mean-distance" in results[last] and "dn2" in results[last], results[last]
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert (tmp_path / "results" / "mlflow.db").is_file(), "the store is where the notebook runs"


def _text(cell) -> str:
    return "".join(o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))
