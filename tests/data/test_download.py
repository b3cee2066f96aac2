"""get_file and the datasets' downloads, against a real HTTP server on 127.0.0.1 (never the internet):
a good file lands in the cache, a corrupted one fails its checksum and is deleted, and a connection
dropped midway leaves no partial file behind."""
from __future__ import annotations

import hashlib
import http.server
import io
import threading

import numpy as np
import pytest

from shendu.data import download, keras_datasets as kd
from shendu.keras import datasets, utils


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    hits: list = []

    def do_GET(self):  # noqa: N802  (http.server's spelling)
        self.hits.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name.startswith("drop-"):                 # promise the whole body, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A local server for files put in ``server.files``; KERAS_HOME is a fresh folder; the network is allowed."""
    _Handler.files, _Handler.hits = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("SHENDU_OFFLINE")
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    monkeypatch.setattr(kd, "KERAS_ORIGIN", base)
    httpd.base, httpd.files, httpd.hits = base, _Handler.files, _Handler.hits
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_get_file_downloads_once_into_the_keras_cache(server, tmp_path):
    body = b"shendu " * 1000
    server.files["thing.bin"] = body
    digest = hashlib.sha256(body).hexdigest()
    path = utils.get_file("thing.bin", origin=server.base + "thing.bin", file_hash=digest)
    assert path == str(tmp_path / "keras_home" / "datasets" / "thing.bin")
    assert open(path, "rb").read() == body
    assert utils.get_file("thing.bin", origin=server.base + "thing.bin", file_hash=digest) == path
    assert len(server.hits) == 1                               # the second call used the cache
    md5 = hashlib.md5(body).hexdigest()                        # 'auto' reads a 32-digit hash as MD5
    assert download.validate_file(path, md5) and not download.validate_file(path, "0" * 64)


def test_a_corrupted_download_fails_its_checksum_and_is_deleted(server, tmp_path):
    server.files["thing.bin"] = b"not what was published"
    with pytest.raises(download.DownloadError, match=r"damaged: its sha256 is [0-9a-f]{64}, expected 0{64}"):
        utils.get_file("thing.bin", origin=server.base + "thing.bin", file_hash="0" * 64)
    assert list((tmp_path / "keras_home" / "datasets").iterdir()) == []


def test_a_dropped_connection_leaves_no_partial_file(server, tmp_path):
    server.files["drop-thing.bin"] = b"x" * 200_000
    with pytest.raises(download.DownloadError, match="could not be downloaded"):
        utils.get_file("drop-thing.bin", origin=server.base + "drop-thing.bin")
    assert list((tmp_path / "keras_home" / "datasets").iterdir()) == []


def test_a_stale_file_with_the_wrong_hash_is_fetched_again(server, tmp_path):
    body = b"the real bytes"
    server.files["thing.bin"] = body
    folder = tmp_path / "keras_home" / "datasets"
    folder.mkdir(parents=True)
    (folder / "thing.bin").write_bytes(b"an old, damaged copy")
    utils.get_file("thing.bin", origin=server.base + "thing.bin", file_hash=hashlib.sha256(body).hexdigest())
    assert (folder / "thing.bin").read_bytes() == body


def test_offline_means_no_request(server, monkeypatch):
    monkeypatch.setenv("SHENDU_OFFLINE", "1")
    server.files["thing.bin"] = b"abc"
    with pytest.raises(download.DownloadError, match="SHENDU_OFFLINE"):
        utils.get_file("thing.bin", origin=server.base + "thing.bin")
    assert server.hits == []


def test_get_file_arguments_teach():
    with pytest.raises(ValueError, match="origin"):
        utils.get_file("x.npz")
    with pytest.raises(NotImplementedError, match="tarfile or zipfile"):
        utils.get_file("x.tar.gz", origin="http://127.0.0.1:9/x.tar.gz", extract=True)


def test_load_data_downloads_and_verifies_with_keras_hashes(server, monkeypatch, tmp_path):
    x, y = np.arange(26, dtype=np.float64).reshape(2, 13), np.array([1.5, 2.5])
    body = _npz(x=x, y=y)
    server.files["boston_housing.npz"] = body
    with pytest.raises(FileNotFoundError, match="boston_housing.npz.*damaged"):   # Keras's hash: not our bytes
        datasets.boston_housing.load_data()
    monkeypatch.setitem(kd.FILE_HASHES, "boston_housing.npz", hashlib.sha256(body).hexdigest())
    (x_train, y_train), (x_test, y_test) = datasets.boston_housing.load_data(test_split=0.5)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == [1.5, 2.5]
    assert (tmp_path / "keras_home" / "datasets" / "boston_housing.npz").read_bytes() == body


def test_mnist_downloads_when_online(server, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), y_train=np.arange(4, dtype=np.uint8),
                  x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), y_test=np.arange(2, dtype=np.uint8))
    body = _npz(**arrays)
    server.files["mnist.npz"] = body
    monkeypatch.setitem(kd.FILE_HASHES, "mnist.npz", hashlib.sha256(body).hexdigest())
    (x_train, y_train), _ = datasets.mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_mnist_falls_back_when_the_server_fails(server):
    with pytest.warns(UserWarning, match=r"(?s)embedded in shendu.*Why it was not downloaded: .*404"):
        (x_train, _), (x_test, _) = datasets.mnist.load_data()     # the server has no mnist.npz: HTTP 404
    assert x_train.shape == (8000, 28, 28) and x_test.shape == (2000, 28, 28)


def test_fashion_mnist_downloads_its_four_files(server, tmp_path):
    import gzip
    import struct

    def idx(array):
        header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
        return gzip.compress(header + array.astype(np.uint8).tobytes())

    server.files.update({"train-images-idx3-ubyte.gz": idx(np.zeros((3, 28, 28))),
                         "train-labels-idx1-ubyte.gz": idx(np.array([1, 2, 3])),
                         "t10k-images-idx3-ubyte.gz": idx(np.ones((1, 28, 28))),
                         "t10k-labels-idx1-ubyte.gz": idx(np.array([9]))})
    (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist.load_data()
    assert x_train.shape == (3, 28, 28) and y_test.tolist() == [9]
    assert sorted(p.name for p in (tmp_path / "keras_home" / "datasets" / "fashion-mnist").iterdir()) == sorted(
        server.files)
