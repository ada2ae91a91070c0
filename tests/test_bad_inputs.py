"""Every bad input a user can give ends in one line naming what is wrong, exit 2, nothing in MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main

RNG = np.random.default_rng(0)


def images(n: int, size: int = 8) -> np.ndarray:
    return RNG.integers(0, 255, (n, size, size), dtype=np.uint8)


def npz(folder: Path, **arrays: np.ndarray) -> str:
    path = folder / "data.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def raw_file(folder: Path, content: bytes) -> str:
    path = folder / "data.npz"
    path.write_bytes(content)
    return f"npz:{path}"


def folder_with_a_broken_image(folder: Path) -> str:
    for label in ("a", "b"):
        (folder / "imgs" / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(images(1)[0]).save(folder / "imgs" / label / f"{i}.png")
    (folder / "imgs" / "b" / "broken.png").write_bytes(b"not a png")
    return f"folder:{folder / 'imgs'}"


def truncated_npz(folder: Path) -> str:
    whole = Path(npz(folder, x=images(40), y=np.repeat([0, 1], 20))[4:])
    whole.write_bytes(whole.read_bytes()[:200])
    return f"npz:{whole}"


CASES = {
    "y shorter than x": (
        lambda d: npz(d, x=images(40), y=np.repeat([0, 1], 10)),
        "'x' holds 40 images but 'y' 20",
    ),
    "x_test without y_test": (
        lambda d: npz(d, x=images(40), y=np.repeat([0, 1], 20), x_test=images(10)),
        "has x_test without its pair",
    ),
    "negative labels": (lambda d: npz(d, x=images(40), y=np.repeat([-1, 1], 20)), "negative labels (-1)"),
    "labels not integers": (lambda d: npz(d, x=images(40), y=np.repeat([0.5, 1.5], 20)), "integer labels"),
    "mixed image shapes": (
        lambda d: npz(
            d, x=images(40), y=np.repeat([0, 1], 20), x_test=images(10, 9), y_test=np.repeat([0, 1], 5)
        ),
        "but 'x_test' images (1, 9, 9)",
    ),
    "zero-byte file": (lambda d: raw_file(d, b""), "cannot read"),
    "truncated file": (truncated_npz, "cannot read"),
    "not an npz": (lambda d: raw_file(d, b"hello, not a zip"), "cannot read"),
    "missing file": (lambda d: f"npz:{d / 'nowhere.npz'}", "does not exist"),
    "unreadable image in a folder": (folder_with_a_broken_image, "broken.png: not a readable image"),
}


def one_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("bench: error: "), err
    return err[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_dataset_files(tmp_path, capsys, case):
    make, expect = CASES[case]
    data = make(tmp_path)
    line = one_line(
        capsys, ["run", "--methods", "pyod-pca", "--datasets", data, "--results", str(tmp_path / "out")]
    )
    assert expect in line
    assert not (tmp_path / "out").exists(), "nothing written: no store, no config"


@pytest.mark.parametrize(
    "flags,expect",
    [
        (["--results", "/proc/forbidden"], "--results /proc/forbidden: cannot write there"),
        (["--tracking-uri", "sqlite:////proc/forbidden/x.db"], "cannot use MLflow tracking store"),
        (["--classes=-1,0"], "--classes -1 is out of range"),
        (["--seeds=-5,3"], "--seeds takes seeds >= 0, not -5"),
        (["--datasets", "fashion-mnist", "--data-dir", "EMPTY"], "holds no fashion-mnist files"),
    ],
)
def test_bad_places_and_grids(tmp_path, capsys, flags, expect):
    flags = [str(tmp_path) if f == "EMPTY" else f for f in flags]
    argv = ["run", "--methods", "pyod-pca", *flags]
    argv += [] if "--results" in flags else ["--results", str(tmp_path / "out")]
    assert expect in one_line(capsys, argv)
    assert not (tmp_path / "out" / "mlflow.db").exists()
