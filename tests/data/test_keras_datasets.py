"""shendu.keras.datasets: Keras's cache files, read locally, into Keras's exact return values; no pickle ever.

Every test writes small files in Keras's formats into a temporary KERAS_HOME. Expected values are
worked out by hand from keras/src/datasets/*.py; one test also runs Keras 3 itself on the same files.
"""
import gzip
import io
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from shendu.data import keras_datasets as kd
from shendu.data.datasets import load_mnist_test
from shendu.keras import datasets


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Keras cache folder: $KERAS_HOME/datasets."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    folder = tmp_path / "keras_home" / "datasets"
    folder.mkdir(parents=True)
    return folder


def ragged(seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = list(s)
    return out


def idx_gz(file, array):
    """An unsigned-byte IDX file, gzip-compressed (MNIST's and Fashion-MNIST's format)."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(file, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def object_npy_member(npz, name, pickle_bytes):
    """Add ``name.npy`` to an npz: an object-dtype .npy header followed by raw pickle bytes."""
    import zipfile
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    with zipfile.ZipFile(npz, "a") as z:
        z.writestr(f"{name}.npy", head.getvalue() + pickle_bytes)


class Evil:
    """Unpickling this would create the folder ``self.marker`` (a harmless stand-in for os.system)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


# ------------------------------------------------------------------------------------------ the cache
def test_cache_folder_is_keras_home_or_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert kd.keras_datasets_dir() == tmp_path / "kh" / "datasets"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kd.keras_datasets_dir() == tmp_path / ".keras" / "datasets"


def test_facade_modules():
    from shendu import keras
    assert keras.datasets is datasets
    assert datasets.mnist.load_data is kd.load_mnist
    assert datasets.imdb.get_word_index is kd.imdb_word_index
    assert len(datasets.reuters.get_label_names()) == 46
    for name in ("mnist", "fashion_mnist", "boston_housing", "imdb", "reuters", "cifar10"):
        assert callable(getattr(datasets, name).load_data)


# ------------------------------------------------------------------------------------------ mnist
def test_mnist_npz(cache):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), y_train=np.arange(5, dtype=np.uint8),
                  x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), y_test=np.arange(3, dtype=np.uint8))
    np.savez(cache / "mnist.npz", **arrays)
    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    for got, key in [(x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"), (y_test, "y_test")]:
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])
    os.rename(cache / "mnist.npz", cache / "other.npz")
    (x_train, _), _ = datasets.mnist.load_data(path="other.npz")
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_mnist_falls_back_to_the_embedded_test_set_with_a_warning(cache, monkeypatch):
    monkeypatch.setenv("SHENDU_OFFLINE", "1")
    monkeypatch.setenv("SHENDU_DATA", str(cache))          # ignored: the fallback is always the embedded copy
    with pytest.warns(UserWarning, match=r"first 8,000 test images and x_test/y_test the last 2,000") as record:
        (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    message = str(record[0].message)
    assert "mnist.npz" in message and str(cache) in message and "60,000-image training files" in message
    assert "SHENDU_OFFLINE" in message                     # why it was not downloaded
    assert x_train.shape == (8000, 28, 28) and y_train.shape == (8000,)
    assert x_test.shape == (2000, 28, 28) and y_test.shape == (2000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    images, labels = load_mnist_test(kd.EMBEDDED)
    np.testing.assert_array_equal(x_train, images[:8000])
    np.testing.assert_array_equal(y_test, labels[8000:])
    x_train[0, 0, 0] = 1                                   # writable, like np.load's arrays


def test_a_data_folder_that_does_not_exist_teaches(tmp_path, monkeypatch):
    monkeypatch.setenv("SHENDU_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"SHENDU_DATA=.*nowhere.*not a folder.*embedded"):
        load_mnist_test()
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\.gz not found"):
        load_mnist_test(tmp_path)


# ------------------------------------------------------------------------------------------ fashion_mnist
def test_fashion_mnist(cache):
    folder = cache / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(1)
    x_tr, x_te = rng.integers(0, 256, (4, 28, 28)).astype(np.uint8), rng.integers(0, 256, (2, 28, 28)).astype(np.uint8)
    y_tr, y_te = np.array([9, 0, 3, 1], np.uint8), np.array([7, 2], np.uint8)
    idx_gz(folder / "train-images-idx3-ubyte.gz", x_tr)
    idx_gz(folder / "train-labels-idx1-ubyte.gz", y_tr)
    idx_gz(folder / "t10k-images-idx3-ubyte.gz", x_te)
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\.gz.*not found in .*fashion-mnist") as e:
        datasets.fashion_mnist.load_data()
    assert "tf-keras-datasets/t10k-labels-idx1-ubyte.gz" in str(e.value)
    assert "train-images" not in str(e.value).split("not found")[0]     # only the missing file is named
    idx_gz(folder / "t10k-labels-idx1-ubyte.gz", y_te)
    (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist.load_data()
    assert x_train.dtype == y_train.dtype == np.uint8
    for got, want in [(x_train, x_tr), (y_train, y_tr), (x_test, x_te), (y_test, y_te)]:
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------------------------ boston_housing
def test_boston_housing_shuffle_and_split(cache):
    x = np.arange(10 * 13, dtype=np.float64).reshape(10, 13)
    y = np.arange(10, dtype=np.float64) + 0.5
    np.savez(cache / "boston_housing.npz", x=x, y=y)
    (x_train, y_train), (x_test, y_test) = datasets.boston_housing.load_data(test_split=0.2, seed=113)
    assert x_train.shape == (8, 13) and x_test.shape == (2, 13) and y_train.shape == (8,) and y_test.shape == (2,)
    assert x_train.dtype == y_train.dtype == np.float64
    order = np.arange(10)
    np.random.RandomState(113).shuffle(order)             # Keras shuffles with np.random.RandomState(seed)
    np.testing.assert_array_equal(y_train, y[order[:8]])
    np.testing.assert_array_equal(x_test, x[order[8:]])
    (x_all, _), (x_none, _) = datasets.boston_housing.load_data(test_split=0.0)
    assert x_all.shape == (10, 13) and x_none.shape == (0, 13)
    with pytest.raises(ValueError, match="test_split"):
        datasets.boston_housing.load_data(test_split=1.0)


def test_missing_file_error_names_file_folder_and_url(cache):
    with pytest.raises(FileNotFoundError) as e:
        datasets.boston_housing.load_data()
    msg = str(e.value)
    assert "'boston_housing.npz' not found in " + str(cache) in msg
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz" in msg
    assert "could not be downloaded" in msg and "SHENDU_OFFLINE" in msg
    assert not any(cache.iterdir())                        # nothing was fetched or created


# ------------------------------------------------------------------------------------------ imdb
IMDB_TRAIN = [[1, 2, 3], [4, 5]]
IMDB_TEST = [[6]]


def write_imdb(cache):
    np.savez(cache / "imdb.npz", x_train=ragged(IMDB_TRAIN), y_train=np.array([0, 1]),
             x_test=ragged(IMDB_TEST), y_test=np.array([1]))


def as_pairs(x, y):
    return sorted((tuple(s), int(label)) for s, label in zip(x, y))


def test_imdb_defaults(cache):
    write_imdb(cache)
    (x_train, y_train), (x_test, y_test) = datasets.imdb.load_data()
    assert x_train.dtype == x_test.dtype == object and x_train.shape == (2,)
    assert x_test.shape == (1, 2)          # Keras's np.array(xs, dtype=object): 2-D when all lengths are equal
    assert all(type(s) is list and all(type(w) is int for w in s) for s in x_train)
    assert y_train.dtype == np.int64
    # start_char 1, words + index_from 3; num_words defaults to the largest index (9), and Keras keeps
    # only w < num_words, so that largest word itself becomes oov_char 2
    assert as_pairs(x_train, y_train) == [((1, 4, 5, 6), 0), ((1, 7, 8), 1)]
    assert as_pairs(x_test, y_test) == [((1, 2), 1)]


def test_imdb_options(cache):
    write_imdb(cache)
    (x_train, y_train), (x_test, _) = datasets.imdb.load_data(num_words=7, skip_top=5, maxlen=4, oov_char=None)
    # maxlen=4 keeps sequences shorter than 4: [1, 7, 8] and [1, 9]; then keep 5 <= w < 7: nothing
    assert as_pairs(x_train, y_train) == [((), 1)] and [list(s) for s in x_test] == [[]]
    (x_train, y_train), _ = datasets.imdb.load_data(start_char=None, index_from=0, num_words=100)
    assert as_pairs(x_train, y_train) == [((1, 2, 3), 0), ((4, 5), 1)]
    with pytest.raises(ValueError, match="maxlen"):
        datasets.imdb.load_data(maxlen=2)
    with pytest.warns(UserWarning, match="num_words"):
        (x_old, _), _ = datasets.imdb.load_data(nb_words=7)       # Keras 1's name, still taken by tf.keras 2
    assert [list(s) for s in x_old] == [list(s) for s in datasets.imdb.load_data(num_words=7)[0][0]]
    with pytest.raises(TypeError, match="foo"):
        datasets.imdb.load_data(foo=10)


def test_imdb_seed_order_matches_keras_shuffle(cache):
    seqs = [[i + 1] * (i % 3 + 1) for i in range(12)]
    np.savez(cache / "imdb.npz", x_train=ragged(seqs), y_train=np.arange(12), x_test=ragged(seqs[:5]),
             y_test=np.arange(5))
    (x_train, y_train), (x_test, y_test) = datasets.imdb.load_data(seed=7, start_char=None, index_from=0,
                                                                   num_words=1000)
    rng = np.random.RandomState(7)                        # one generator for train, then test
    order = np.arange(12)
    rng.shuffle(order)
    np.testing.assert_array_equal(y_train, order)
    assert [list(s) for s in x_train] == [seqs[i] for i in order]
    order = np.arange(5)
    rng.shuffle(order)
    np.testing.assert_array_equal(y_test, order)


def test_imdb_word_index(cache):
    (cache / "imdb_word_index.json").write_text(json.dumps({"the": 1, "film": 19}))
    assert datasets.imdb.get_word_index() == {"the": 1, "film": 19}
    with pytest.raises(FileNotFoundError, match="reuters_word_index.json"):
        datasets.reuters.get_word_index()


# ------------------------------------------------------------------------------------------ reuters
def test_reuters(cache):
    seqs = [list(range(1, i + 2)) for i in range(10)]                 # lengths 1..10
    np.savez(cache / "reuters.npz", x=ragged(seqs), y=np.arange(10) % 46)
    (x_train, y_train), (x_test, y_test) = datasets.reuters.load_data(num_words=100)
    assert x_train.dtype == object and x_train.shape == (8,) and x_test.shape == (2,)
    assert y_train.dtype == np.int64 and y_train.shape == (8,)
    order = np.arange(10)
    np.random.RandomState(113).shuffle(order)
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), order)
    assert [list(s) for s in x_test] == [[1] + [w + 3 for w in seqs[i]] for i in order[8:]]
    (x_train, _), (x_test, _) = datasets.reuters.load_data(test_split=0.5, maxlen=6, start_char=None)
    assert len(x_train) == 2 and len(x_test) == 3              # 5 sequences shorter than 6, int(5 * 0.5) to train


# ------------------------------------------------------------------------------------------ cifar10
def cifar_record(k):
    """Record k: its label, then 3 x 32 x 32 bytes with value (7c + 3i + j + k) % 256 at channel c, row i, col j."""
    c, i, j = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return np.concatenate([[k % 10], ((7 * c + 3 * i + j + k) % 256).ravel()]).astype(np.uint8)


def test_cifar10_binary_release(cache):
    folder = cache / "cifar-10-batches-bin"
    folder.mkdir()
    for b, name in enumerate(kd.CIFAR10_BIN_FILES):
        np.stack([cifar_record(2 * b + r) for r in range(2)]).tofile(folder / name)
    (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and y_train.shape == (10, 1)
    assert x_test.shape == (2, 32, 32, 3) and y_test.shape == (2, 1)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    np.testing.assert_array_equal(y_train[:, 0], np.arange(10) % 10)
    assert x_train[3, 5, 7, 2] == (7 * 2 + 3 * 5 + 7 + 3) % 256      # channels last
    assert x_test[1, 31, 0, 1] == (7 + 3 * 31 + 0 + 11) % 256
    (folder / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="3,073-byte"):
        datasets.cifar10.load_data()


def test_cifar10_refuses_the_pickled_batches(cache):
    with pytest.raises(FileNotFoundError) as e:
        datasets.cifar10.load_data()
    assert "cifar-10-binary.tar.gz" in str(e.value) and "cifar-10-python.tar.gz" in str(e.value)
    pickled = cache / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    pickled.mkdir(parents=True)
    (pickled / "data_batch_1").write_bytes(pickle.dumps(Evil(cache / "pwned")))
    with pytest.raises(FileNotFoundError) as e:
        datasets.cifar10.load_data()
    msg = str(e.value)
    assert str(pickled) in msg and "never" in msg and "unpickl" in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in msg and "cifar-10-batches-bin" in msg
    assert not (cache / "pwned").exists()


# ------------------------------------------------------------------------------------------ no pickle, ever
def test_a_malicious_element_in_an_object_array_is_refused_not_run(cache):
    marker = cache.parent / "pwned"
    bad = np.empty(1, dtype=object)
    bad[0] = Evil(marker)
    np.savez(cache / "imdb.npz", x_train=bad, y_train=np.array([0]), x_test=ragged([[1]]), y_test=np.array([1]))
    with pytest.raises(kd.UnsafeDataError, match=r"os\.makedirs|posix\.makedirs"):
        datasets.imdb.load_data()
    assert not marker.exists()


def test_a_raw_malicious_pickle_is_refused_not_run(cache):
    marker = cache.parent / "pwned"
    npz = cache / "reuters.npz"
    np.savez(npz, y=np.array([0]))
    for protocol in (2, 4):
        object_npy_member(npz, "x", pickle.dumps(Evil(marker), protocol=protocol))
        with pytest.raises(kd.UnsafeDataError, match="refused"):
            datasets.reuters.load_data()
        npz.unlink()
        np.savez(npz, y=np.array([0]))
    assert not marker.exists()


def test_an_object_array_where_keras_stores_numbers_is_refused(cache):
    marker = cache.parent / "pwned"
    bad = np.empty(1, dtype=object)
    bad[0] = Evil(marker)
    np.savez(cache / "mnist.npz", x_train=bad, y_train=bad, x_test=bad, y_test=bad)
    with pytest.raises(kd.UnsafeDataError, match="does not unpickle"):
        datasets.mnist.load_data()
    assert not marker.exists()


def test_reading_never_calls_pickle(cache, monkeypatch):
    write_imdb(cache)
    np.savez(cache / "reuters.npz", x=ragged([[1, 2], [3]] * 5), y=np.arange(10))

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    datasets.imdb.load_data()
    datasets.reuters.load_data()


def test_python2_style_stream():
    """The protocol-2 stream Python 2's NumPy writes (GLOBAL, BINPUT, byte strings) for [[1, 300], [5]]."""
    stream = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02U\x01bq\x03"
              b"\x87q\x04Rq\x05(K\x01K\x02\x85q\x06cnumpy\ndtype\nq\x07U\x02O8q\x08K\x00K\x01\x87q\tRq\n(K\x03U\x01|"
              b"q\x0bNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tq\x0cb\x89]q\r(]q\x0e(K\x01M,\x01e]q\x0fK\x05aetq\x10b.")
    out = kd._parse_object_array(stream, (2,), False, "x")
    assert out.dtype == object and [list(s) for s in out] == [[1, 300], [5]]
    for cut in (1, 10, 60):
        with pytest.raises(kd.UnsafeDataError):
            kd._parse_object_array(stream[:-cut], (2,), False, "x")
    with pytest.raises(kd.UnsafeDataError, match="shape"):
        kd._parse_object_array(stream, (3,), False, "x")


def test_object_array_round_trip_large_values_and_batches():
    seqs = [list(range(2500)), [7], [], [2 ** 40, -5, 70000, -70000, 2 ** 31 - 1, -2 ** 31]]
    buf = io.BytesIO()
    np.save(buf, ragged(seqs))
    out = kd._read_npy(buf.getvalue(), "x", allow_object=True)
    assert [list(s) for s in out] == seqs
    buf = io.BytesIO()
    bad = np.empty(2, dtype=object)
    bad[0], bad[1] = [1], ["one"]
    np.save(buf, bad)
    with pytest.raises(kd.UnsafeDataError, match="not a list of integers"):
        kd._read_npy(buf.getvalue(), "x", allow_object=True)


# ------------------------------------------------------------------------------------------ Keras as oracle
def test_same_values_as_keras(cache, keras, monkeypatch):
    """Keras 3's own load_data on the same cache files returns the same values (downloads blocked)."""
    from keras.src.backend import config
    from keras.src.utils import file_utils

    def no_download(*args, **kwargs):
        raise AssertionError("Keras tried to download")

    monkeypatch.setattr(config, "_KERAS_DIR", str(cache.parent))
    monkeypatch.setattr(file_utils, "validate_file", lambda *a, **k: True)     # synthetic files, other hashes
    monkeypatch.setattr(file_utils, "urlretrieve", no_download)
    rng = np.random.default_rng(3)
    seqs = [list(rng.integers(0, 40, rng.integers(1, 9))) for _ in range(30)]
    seqs = [[int(w) for w in s] for s in seqs]
    np.savez(cache / "imdb.npz", x_train=ragged(seqs[:20]), y_train=rng.integers(0, 2, 20),
             x_test=ragged(seqs[20:]), y_test=rng.integers(0, 2, 10))
    np.savez(cache / "reuters.npz", x=ragged(seqs), y=rng.integers(0, 46, 30))
    np.savez(cache / "boston_housing.npz", x=rng.normal(size=(25, 13)), y=rng.normal(size=25))
    cases = [("imdb", dict()), ("imdb", dict(num_words=20, skip_top=3, maxlen=7, seed=1)),
             ("imdb", dict(start_char=None, oov_char=None, index_from=0, num_words=30)),
             ("reuters", dict(maxlen=3, num_words=100)),                # equal lengths: a 2-D object array
             ("reuters", dict()), ("reuters", dict(num_words=25, maxlen=6, test_split=0.3, seed=5, oov_char=None)),
             ("boston_housing", dict(test_split=0.3, seed=4))]
    for name, kwargs in cases:
        ours = getattr(datasets, name).load_data(**kwargs)
        theirs = getattr(keras.datasets, name).load_data(**kwargs)
        for a, b in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]]):
            assert a.dtype == b.dtype and a.shape == b.shape, (name, kwargs)
        if name == "reuters" and kwargs.get("maxlen") == 3:
            assert ours[0][0].ndim == 2
            if a.dtype == object:
                assert [list(s) for s in a] == [list(s) for s in b], (name, kwargs)
            else:
                np.testing.assert_array_equal(a, b)
