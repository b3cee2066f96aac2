"""shendu/data/datasets.py and the data embedded in shendu: every file is there, unchanged, and packaged; a
missing file stops the loaders, the demo and the examples with an error naming it and how to restore it."""
from __future__ import annotations

import hashlib
import re
import shutil
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest

from shendu import cli
from shendu.data import datasets, keras_datasets

# every embedded file and its md5 (the MNIST ones are those published with the dataset; see its README)
EMBEDDED_FILES = {
    "mnist/t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "mnist/t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "sentiment/amazon_cells_labelled.txt": "43a91b0b540d947a0b2abb6149db31bd",
    "sentiment/imdb_labelled.txt": "b77ebe2a78295e9e5a3fd57ffb53582b",
    "sentiment/yelp_labelled.txt": "42a216505ba0aa4f82ca9152736bf910",
    "sentiment_zh/reviews_zh.txt": "0906caee8453d4299cd7b0c5a307dca0",
}
RESTORE = re.escape("restore it with `git checkout -- shendu/data/embedded` in a source checkout, or reinstall shendu")


def test_every_embedded_file_is_present_and_unchanged():
    for name, md5 in EMBEDDED_FILES.items():
        file = datasets.EMBEDDED / name
        assert file.is_file(), (f"{file} is missing: the demo, the examples and the data tests read it; "
                                "restore it with `git checkout -- shendu/data/embedded`")
        assert hashlib.md5(file.read_bytes()).hexdigest() == md5, f"{file} differs from the published file"
    found = {str(p.relative_to(datasets.EMBEDDED)) for p in datasets.EMBEDDED.rglob("*") if p.is_file()}
    assert found == set(EMBEDDED_FILES) | {"README.md"}


def test_every_embedded_file_is_in_the_package_data():
    pyproject = Path(datasets.__file__).resolve().parents[2] / "pyproject.toml"
    section = pyproject.read_text().split("[tool.setuptools.package-data]")[1].split("\n[")[0]
    globs = re.findall(r'"([^"]+)"', section.split("shendu =")[1])
    assert globs
    for name in [*EMBEDDED_FILES, "README.md"]:
        assert any(fnmatch(f"data/embedded/{name}", g) for g in globs), f"{name} would be left out of the wheel"


def test_the_loaders_read_the_embedded_files():
    images, labels = datasets.load_mnist_test()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8 and set(labels.tolist()) == set(range(10))
    texts, labels = datasets.load_sentiment()
    assert len(texts) == len(labels) == 3000 and set(labels.tolist()) == {0, 1}
    texts, labels = datasets.load_sentiment_zh()
    assert len(texts) == len(labels) == 600 and set(labels.tolist()) == {0, 1}


@pytest.fixture
def embedded_without(tmp_path, monkeypatch):
    """A copy of the embedded folder, put in its place, from which one file is then removed."""
    copy = tmp_path / "embedded"
    shutil.copytree(datasets.EMBEDDED, copy)
    monkeypatch.setattr(datasets, "EMBEDDED", copy)
    monkeypatch.setattr(keras_datasets, "EMBEDDED", copy)
    monkeypatch.delenv("SHENDU_DATA", raising=False)

    def remove(name):
        (copy / name).unlink()
        return copy / name
    return remove


@pytest.mark.parametrize("name, load", [
    ("mnist/t10k-labels-idx1-ubyte.gz", datasets.load_mnist_test),
    ("sentiment/yelp_labelled.txt", datasets.load_sentiment),
    ("sentiment_zh/reviews_zh.txt", datasets.load_sentiment_zh),
])
def test_a_missing_embedded_file_is_named_with_the_way_to_restore_it(embedded_without, name, load):
    missing = re.escape(str(embedded_without(name)))
    with pytest.raises(FileNotFoundError, match=rf"{missing} not found: .* belongs there; .*{RESTORE}"):
        load()


def test_the_demo_stops_when_the_embedded_mnist_is_missing(embedded_without, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_cache"))     # a fresh machine: no Keras MNIST either
    missing = re.escape(str(embedded_without("mnist/t10k-images-idx3-ubyte.gz")))
    with pytest.raises(FileNotFoundError, match=rf"{missing} not found: the MNIST test set's IDX file.*{RESTORE}"):
        cli.main(["demo", "--epochs", "1", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_a_file_missing_from_a_folder_of_ones_own_says_where_the_embedded_copy_is(tmp_path):
    (tmp_path / "sentiment").mkdir()
    with pytest.raises(FileNotFoundError, match=r"amazon_cells_labelled\.txt not found: .*put it there, or leave "
                                                r"path and SHENDU_DATA unset to use the copy embedded in shendu"):
        datasets.load_sentiment(tmp_path)
