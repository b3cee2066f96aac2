"""shendu/data/download.py: get_file downloads once into the Keras cache and checks the hash.

Every download comes from a server on 127.0.0.1 started by the test, serving files the test wrote.
"""
from __future__ import annotations

import hashlib

import pytest
from local_server import LocalServer

from shendu.data.download import DownloadError, get_file, validate_file


@pytest.fixture
def served(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    server = LocalServer(root)
    yield root, server
    server.close()


def test_get_file_downloads_once_into_the_keras_cache(served, tmp_path):
    root, server = served
    payload = b"weights" * 1000
    (root / "w.h5").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    path = get_file("w.h5", server.url + "w.h5", cache_subdir="models", file_hash=sha)
    assert path == str(tmp_path / "keras_home" / "models" / "w.h5")
    assert open(path, "rb").read() == payload
    assert get_file("w.h5", server.url + "w.h5", cache_subdir="models", file_hash=sha) == path
    assert server.requests == ["/w.h5"], "a valid cached copy must not be fetched again"
    get_file("w.h5", server.url + "w.h5", cache_subdir="models", file_hash=sha, force_download=True)
    assert len(server.requests) == 2


def test_get_file_checks_md5_and_refetches_a_damaged_copy(served, tmp_path):
    root, server = served
    payload = b"\x89HDF\r\n" + bytes(range(256)) * 10
    (root / "m.bin").write_bytes(payload)
    md5 = hashlib.md5(payload).hexdigest()
    cached = tmp_path / "keras_home" / "datasets" / "m.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="downloading it again"):
        path = get_file(origin=server.url + "m.bin", file_hash=md5)      # the name comes from the origin
    assert path == str(cached) and cached.read_bytes() == payload
    assert validate_file(path, md5) and not validate_file(path, "0" * 32)
    assert len(server.requests) == 1


def test_get_file_refuses_a_file_whose_hash_differs(served, tmp_path):
    root, server = served
    (root / "bad.h5").write_bytes(b"not what was published")
    with pytest.raises(ValueError, match="incomplete or corrupted"):
        get_file("bad.h5", server.url + "bad.h5", cache_subdir="models", file_hash="0" * 64)
    assert list((tmp_path / "keras_home" / "models").iterdir()) == [], "a rejected download must not stay cached"


def test_get_file_explains_a_failed_download(served):
    _, server = served
    with pytest.raises(DownloadError, match="could not download missing.h5"):
        get_file("missing.h5", server.url + "missing.h5")
    with pytest.raises(ValueError, match="origin"):
        get_file("x.h5")
    with pytest.raises(ValueError, match="extract"):
        get_file("x.tar.gz", server.url + "x.tar.gz", extract=True)
