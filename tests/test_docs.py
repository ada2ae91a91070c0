"""The documentation site builds in strict mode: a broken link or a page left out of the nav fails.
(Without ``-q``: mkdocs 1.6 counts no warning in strict mode when they are not logged.)"""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def build(config, site) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_the_docs_build_strictly_and_a_broken_link_fails_them(tmp_path):
    res = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "protocols.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    res = build(copy / "mkdocs.yml", tmp_path / "site2")
    assert res.returncode != 0 and "no-such-page.md" in res.stderr


def test_every_readme_link_names_a_file_that_exists():
    import re

    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert targets and not [t for t in targets if not (ROOT / t).exists()]


@pytest.mark.slow
def test_adding_a_dataset_example_runs_word_for_word(tmp_path, bench_main):
    """docs/adding-a-dataset.md: its plugin file and its command, on a CSV of the digits."""
    import re

    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_digits

    from bench.registry import DATASETS

    text = (ROOT / "docs" / "adding-a-dataset.md").read_text()
    section = text.split("Save this as `csv_images.py`", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    command = re.search(r"```sh\n(python -m bench --plugin csv_images.py run[^\n]*)\n```", section).group(1)
    (tmp_path / "csv_images.py").write_text(code)
    digits = load_digits()
    pixels = np.round(digits.data * 255 / 16).astype(int)
    np.savetxt(tmp_path / "digits.csv", np.column_stack([digits.target, pixels]), fmt="%d", delimiter=",")
    try:
        res = bench_main(*command.split()[3:])  # after "python -m bench"
        assert res.returncode == 0, res.stdout + res.stderr
        assert "2 cells ok, 0 failed" in res.stdout, res.stdout
        broken = tmp_path / "broken.csv"
        broken.write_text("1,2,3\n")
        res = bench_main("--plugin", "csv_images.py", "run", "--datasets", f"csv:{broken}")
        assert res.returncode == 2 and "rows must be a label and a square of pixels" in res.stderr
    finally:
        DATASETS._families.pop("csv", None)
    assert bench_main("leaderboard").returncode == 0
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    assert board["dataset"].tolist() == ["csv:digits.csv"] and board["auroc_mean"].item() > 0.9


def test_adding_a_protocol_example_makes_its_splits(digits):
    """docs/protocols.md's one-vs-one, as written: class k normal, only class k+1 anomalous."""
    import re

    import numpy as np

    from bench.data.protocol import make_split
    from bench.registry import PROTOCOLS

    text = (ROOT / "docs" / "protocols.md").read_text()
    code = re.search(r"```python\n(import numpy as np\n\nfrom bench.api import .*?)```", text, re.S).group(1)
    try:
        exec(compile(code, "protocols.md", "exec"), {})
        split = make_split(digits, "one-vs-one", 3, 0)
    finally:
        PROTOCOLS._entries.pop("one-vs-one", None)
    assert set(split.test.classes) == {3, 4} and set(split.train.classes) == {3}
    assert np.array_equal(split.test.anomaly, (split.test.classes == 4).astype(np.int8))
    assert split.val.n_anomalies > 0 and set(split.val.classes) == {3, 4}
