"""Readers for the small real datasets shendu ships (MNIST's IDX files, the labelled review sentences).

The 10,000-image MNIST test set and the UCI review sentences are embedded in the package
(``shendu/data/embedded``, with their licences in its README), so the demo and the tutorials run
offline on a fresh machine. Pass a folder, or set ``SHENDU_DATA``, to read another copy instead.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np


EMBEDDED = Path(__file__).resolve().parent / "embedded"


def data_dir(path=None) -> Path:
    """The data folder: ``path``, else $SHENDU_DATA, else the copy embedded in the package."""
    chosen = path if path is not None else os.environ.get("SHENDU_DATA") or None
    if chosen is None:
        return EMBEDDED
    if not Path(chosen).is_dir():
        where = "path=" if path is not None else "SHENDU_DATA="
        raise FileNotFoundError(f"{where}{str(chosen)!r} is not a folder; it should hold mnist/ and sentiment/ "
                                f"(leave it unset to use the copy embedded in shendu, {EMBEDDED}).")
    return Path(chosen).resolve()


def _require(file: Path, what: str) -> Path:
    """``file``, or a FileNotFoundError naming it, what it holds, and how to get it back."""
    if file.is_file():
        return file
    if file.resolve().is_relative_to(EMBEDDED):
        fix = ("it ships inside shendu (shendu/data/embedded, listed in its README): restore it with "
               "`git checkout -- shendu/data/embedded` in a source checkout, or reinstall shendu")
    else:
        fix = f"put it there, or leave path and SHENDU_DATA unset to use the copy embedded in shendu ({EMBEDDED})"
    raise FileNotFoundError(f"{file} not found: {what} belongs there; {fix}.")


def _read_idx(file: Path) -> np.ndarray:
    """An IDX array (MNIST's format): magic (0, 0, dtype code, ndim), big-endian sizes, raw values."""
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{file}: not an unsigned-byte IDX file (bad magic number {raw[:4]!r}).")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{file}: expected {int(np.prod(dims))} values for shape {tuple(dims)}, found {data.size} "
                         "(the file is truncated or damaged).")
    return data.reshape(dims)


def load_mnist_test(path=None):
    """The 10,000 MNIST test images (uint8, (10000, 28, 28)) and their labels (0-9)."""
    folder = data_dir(path) / "mnist"
    images, labels = (_require(folder / name, "the MNIST test set's IDX file")
                      for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
    return _read_idx(images), _read_idx(labels)


def load_sentiment(path=None, sources=("amazon_cells", "imdb", "yelp")):
    """Review sentences and 0/1 sentiment labels from ``<source>_labelled.txt`` files (tab separated)."""
    folder = data_dir(path) / "sentiment"
    texts, labels = [], []
    for source in sources:
        file = _require(folder / f"{source}_labelled.txt", "a file of labelled review sentences")
        # utf-8-sig drops the byte-order mark some files start with; split on "\n" only, because
        # str.splitlines() would also break at the U+0085 characters inside some sentences
        for line_no, line in enumerate(file.read_text(encoding="utf-8-sig").split("\n"), 1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            sentence, sep, label = line.rpartition("\t")
            if not sep or label.strip() not in ("0", "1"):
                raise ValueError(f"{file}:{line_no}: expected 'sentence<TAB>0|1', got {line[:60]!r}.")
            texts.append(sentence.strip())
            labels.append(int(label))
    return texts, np.asarray(labels, dtype="int64")


def load_sentiment_zh(path=None):
    """The embedded Chinese sentiment sample (600 template-generated review sentences, CC0; see
    ``shendu/data/embedded/README.md``): texts and 0/1 labels."""
    file = _require((Path(path) if path is not None else EMBEDDED) / "sentiment_zh" / "reviews_zh.txt",
                    "the Chinese sentiment sample")
    texts, labels = [], []
    for line_no, line in enumerate(file.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        sentence, sep, label = line.rpartition("\t")
        if not sep or label.strip() not in ("0", "1"):
            raise ValueError(f"{file}:{line_no}: expected 'sentence<TAB>0|1', got {line[:60]!r}.")
        texts.append(sentence)
        labels.append(int(label))
    return texts, np.asarray(labels, dtype="int64")
