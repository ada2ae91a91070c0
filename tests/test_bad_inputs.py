"""Every bad input a user can give ends in one line naming what is wrong, exit 2, nothing in MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli.main import main
from tests.conftest import free_port

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


def cifar_folder(folder: Path, damage) -> list[str]:
    """An extracted CIFAR-10 folder with one file damaged, as the flags that read it."""
    from tests.test_datasets import write_fake_cifar

    data = write_fake_cifar(folder / "cifar", archive=False)
    batch = data / "cifar-10-batches-bin" / "data_batch_2.bin"
    batch.write_bytes(damage(bytearray(batch.read_bytes())))
    return ["--datasets", "cifar10", "--data-dir", str(data)]


def relabelled(blob: bytearray) -> bytes:
    blob[3073] = 42  # the second record's label byte: class 42 of 10
    return bytes(blob)


def cifar_archive_cut_short(folder: Path) -> list[str]:
    from tests.test_datasets import write_fake_cifar

    data = write_fake_cifar(folder / "cifar")
    archive = data / "cifar-10-binary.tar.gz"
    archive.write_bytes(archive.read_bytes()[:300])
    return ["--datasets", "cifar10", "--data-dir", str(data)]


def mvtec_without(folder: Path, part: str) -> str:
    """A defect folder in the MVTec AD layout with one part of its first category removed."""
    import shutil

    from tests.test_defects import write_mvtec

    root = write_mvtec(folder / "mvtec")
    shutil.rmtree(root / "bottle" / part)
    return f"mvtec:{root}"


def mvtec_with_a_broken_image(folder: Path) -> str:
    from tests.test_defects import write_mvtec

    root = write_mvtec(folder / "mvtec")
    (root / "screw" / "test" / "thread" / "001.png").write_bytes(b"not a png")
    return f"mvtec:{root}@16"


CASES = {
    "mvtec: a category without test/good": (
        lambda d: mvtec_without(d, "test/good"),
        "bottle: needs test/good/ and at least one test/DEFECT/ folder of images",
    ),
    "mvtec: an unreadable image": (mvtec_with_a_broken_image, "001.png: not a readable image"),
    "mvtec: a bad size": (lambda d: f"mvtec:{d}@huge", "the size after @ must be a whole number of pixels"),
    "cifar: a truncated batch": (
        lambda d: cifar_folder(d, lambda b: bytes(b[:-100])),
        "cifar-10-batches-bin: data_batch_2.bin: 61360 bytes is not a whole number of 3073-byte records",
    ),
    "cifar: a label out of range": (
        lambda d: cifar_folder(d, relabelled),
        "data_batch_2.bin: a label byte reads 42, outside 0..9",
    ),
    "cifar: a corrupt archive": (cifar_archive_cut_short, "not a readable .tar.gz"),
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
    assert CASES[case][1] in one_line(capsys, dataset_files_argv(tmp_path, case))
    assert not (tmp_path / "out").exists(), "nothing written: no store, no config"


PLACES_AND_GRIDS = [
    (["--results", "/proc/forbidden"], "--results /proc/forbidden: cannot write there"),
    (["--tracking-uri", "sqlite:////proc/forbidden/x.db"], "cannot use MLflow tracking store"),
    (["--classes=-1,0"], "--classes -1 is out of range"),
    (["--seeds=-5,3"], "--seeds takes seeds >= 0, not -5"),
    (["--datasets", "fashion-mnist", "--data-dir", "EMPTY"], "holds no fashion-mnist files"),
    (["--protocols", "open-set", "--known", "0,0"], "--known lists 0 more than once"),
    (["--protocols", "open-set", "--known", "42"], "--known 42 is not a class of digits (classes 0..9)"),
    (["--protocols", "open-set", "--known", "0,1,2,3,4,5,6,7,8,9"], "--known names every class of"),
    (
        ["--set", "pyod-pca.n_components=2", "--set", "pyod-pca.n_components=3"],
        "--set gives pyod-pca.n_components twice (2, then 3); give it once",
    ),
    (["--in-process", "--jobs", "2"], "--in-process runs one cell at a time in this process"),
]


@pytest.mark.parametrize("flags,expect", PLACES_AND_GRIDS)
def test_bad_places_and_grids(tmp_path, capsys, flags, expect):
    assert expect in one_line(capsys, places_and_grids_argv(tmp_path, flags))
    assert not (tmp_path / "out" / "mlflow.db").exists()


def places_and_grids_argv(tmp_path: Path, flags: list[str]) -> list[str]:
    flags = [str(tmp_path) if f == "EMPTY" else f for f in flags]
    argv = ["run", "--methods", "pyod-pca", *flags]
    return argv + ([] if "--results" in flags else ["--results", str(tmp_path / "out")])


def dataset_files_argv(tmp_path: Path, case: str) -> list[str]:
    data = CASES[case][0](tmp_path)
    where = data if isinstance(data, list) else ["--datasets", data]
    return ["run", "--methods", "pyod-pca", *where, "--results", str(tmp_path / "out")]


def test_a_plugin_file_that_registers_nothing(tmp_path, capsys):
    empty = tmp_path / "nothing.py"
    empty.write_text("VALUE = 1\n")
    line = one_line(capsys, ["--plugin", str(empty), "run", "--results", str(tmp_path / "out")])
    assert line == f"bench: error: --plugin {empty} registers no method, dataset or protocol " \
        "(@register_method, @register_dataset or @register_protocol)"  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_a_plugin_written_for_the_old_import_place_says_where_names_went(tmp_path, capsys):
    old = tmp_path / "old.py"
    old.write_text("from bench import Method, register_method\n")
    line = one_line(capsys, ["--plugin", str(old), "list"])
    assert line == f"bench: error: plugin {old}:1: ImportError: bench.Method moved to bench.api: " \
        "write `from bench.api import Method`"  # fmt: skip


@pytest.mark.parametrize("taken", [False, True])
def test_ui_on_a_port_it_cannot_have(tmp_path, capsys, taken):
    """A port out of range, or one another program holds: one line, exit 2, no store made, no
    link printed (it would lead to the other program)."""
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1] if taken else 99999
        line = one_line(capsys, ["ui", "--results", str(tmp_path / "out"), "--port", str(port)])
    expect = f"127.0.0.1:{port} is taken" if taken else "--port takes a port from 1 to 65535, not 99999"
    assert expect in line
    assert not (tmp_path / "out").exists()


def test_ui_on_a_store_it_has_nothing_to_show_of(tmp_path, capsys):
    """No store, a store without cell runs, an experiment it does not hold: one line each, and no
    experiment made."""
    from mlflow.tracking import MlflowClient

    from bench.tracking.tracker import Tracker, default_uri

    out = str(tmp_path / "out")
    ui = ["ui", "--results", out, "--port", str(free_port())]
    assert "no MLflow store at" in one_line(capsys, ui)
    Tracker(default_uri(tmp_path / "out"), "empty")  # a store and an experiment, no runs
    assert "no cell runs in" in one_line(capsys, ui)
    assert "no experiment 'nope' in" in one_line(capsys, [*ui, "--experiment", "nope"])
    names = {e.name for e in MlflowClient(default_uri(tmp_path / "out")).search_experiments()}
    assert names == {"empty", "Default"}
