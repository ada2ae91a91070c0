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
