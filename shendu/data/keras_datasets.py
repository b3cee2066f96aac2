"""``keras.datasets``: the datasets of ``tf.keras.datasets``, from Keras's cache folder.

``shendu.keras.datasets.<name>.load_data`` returns what ``tf.keras.datasets.<name>.load_data``
returns (same tuple structure, dtypes, shapes, shuffling and word-index arithmetic). As in Keras, a
file missing from the cache is downloaded once from Keras's own origin (``get_file``), verified
against Keras's published SHA-256 where Keras publishes one, and kept. Offline (a network error,
or ``SHENDU_OFFLINE=1``), mnist falls back to the MNIST test set embedded in shendu with a warning;
the others raise an error naming the file, the folder to put it in and the URL to fetch it from.

Where the files are looked for, exactly as Keras's ``get_file`` stores them:
``$KERAS_HOME/datasets`` when ``KERAS_HOME`` is set, else ``~/.keras/datasets`` (and, as in Keras,
``/tmp/.keras/datasets`` when that base folder is not writable):

================  ==============================================================================
mnist             ``mnist.npz`` (x_train, y_train, x_test, y_test); when it is absent and cannot be
                  downloaded, shendu's embedded MNIST test set (``shendu.data.datasets.load_mnist_test``)
                  is split 8,000 / 2,000 instead, with a warning
fashion_mnist     ``fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` (IDX files)
boston_housing    ``boston_housing.npz`` (x, y)
imdb              ``imdb.npz`` (x_train, y_train, x_test, y_test), ``imdb_word_index.json``
reuters           ``reuters.npz`` (x, y), ``reuters_word_index.json``
cifar10           ``cifar-10-batches-bin/`` -- the *binary* CIFAR-10 release, see below (not downloaded)
================  ==============================================================================

No pickle is ever loaded. ``.npz`` files are read with ``allow_pickle=False``, except the ragged
word-index sequences of imdb and reuters: NumPy can store those ``dtype=object`` arrays only as a
pickle stream. shendu reads that stream with :func:`_parse_object_array`, a small data-only parser
that understands the handful of opcodes with which NumPy writes an object array of lists of ints;
it never imports or calls anything, and any other opcode or reference (``os.system``, ...) is
refused with an error. Keras's CIFAR-10 (the ``cifar-10-batches-py`` folder) is a set of pickled
Python dicts holding arrays; shendu does not read it, and instead reads the binary release of the
same images (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, no pickle), extracted into
the Keras datasets folder.
"""
from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np

from shendu.data.datasets import EMBEDDED, _read_idx, load_mnist_test
from shendu.data.download import DownloadError, get_file, keras_cache_dir

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_PY_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_BIN_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

# the SHA-256 digests Keras publishes for its dataset files (fashion-mnist and the word indices: none or MD5)
FILE_HASHES = {
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    "boston_housing.npz": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
    "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "reuters.npz": "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
    "imdb_word_index.json": "bfafd718b763782e994055a2d397834f",
    "reuters_word_index.json": "4d44cc38712099c9e383dc6e5f11a921",
}

REUTERS_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog",
    "lead")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is not in the Keras cache folder and could not be downloaded."""


class UnsafeDataError(ValueError):
    """A file holds something shendu refuses to read, such as a pickle that would import or call code."""


# ------------------------------------------------------------------------------------------ the cache
def keras_datasets_dir() -> Path:
    """The folder Keras's ``get_file`` caches datasets in: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    return keras_cache_dir() / "datasets"


def _candidate_dirs() -> list[Path]:
    """The cache folder, then Keras's own fallback ``/tmp/.keras/datasets`` when the base is not writable."""
    primary = keras_datasets_dir()
    dirs = [primary]
    if not os.access(primary.parent, os.W_OK):
        dirs.append(Path("/tmp") / ".keras" / "datasets")
    return dirs


def _missing(dataset: str, names, origins, folder: Path, reason: str = "") -> DatasetNotFoundError:
    names, origins = list(names), list(origins)
    files = ", ".join(repr(n) for n in names)
    urls = "\n".join(f"  {n}: {o}" for n, o in zip(names, origins))
    fetch = "\n".join(f"  curl -L --create-dirs -o {folder / n} {o}" for n, o in zip(names, origins))
    error = DatasetNotFoundError(
        f"{dataset}: {files} not found in {folder} (the Keras cache: $KERAS_HOME/datasets, else "
        f"~/.keras/datasets), and it could not be downloaded{': ' + reason if reason else ''}. Its origin:\n{urls}\n"
        f"Fetch the file{'s' if len(names) > 1 else ''} once where the network is available, e.g.\n"
        f"{fetch}\n(or run keras.datasets.{dataset}.load_data() once online), then call load_data() again.")
    error.reason = reason or "the file is not in the cache"
    return error


def _locate(dataset: str, path, origin: str) -> Path:
    """The cached file for ``path`` (a name inside the cache folder, or a path to a local file)."""
    p = Path(os.fspath(path)).expanduser()
    if p.is_absolute() or len(p.parts) > 1:
        if p.is_file():
            return p
        raise _missing(dataset, [p.name], [origin], p.parent)
    for folder in _candidate_dirs():
        if (folder / p).is_file():
            return folder / p
    try:
        return Path(get_file(str(p), origin=origin, file_hash=FILE_HASHES.get(Path(origin).name)))
    except DownloadError as e:
        raise _missing(dataset, [p.name], [origin], keras_datasets_dir(), reason=str(e)) from None


def _load_npz(file: Path, keys, object_keys=()) -> dict:
    """The arrays ``keys`` of an ``.npz`` file, read without pickle; ``object_keys`` may be object arrays."""
    out = {}
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{file}: not a readable .npz (zip) file ({e}); delete it and fetch it again.") from None
    with archive:
        members = set(archive.namelist())
        for key in keys:
            if f"{key}.npy" not in members:
                raise ValueError(f"{file}: expected an array named {key!r}, found {sorted(members)}.")
            out[key] = _read_npy(archive.read(f"{key}.npy"), f"{file}[{key}]", allow_object=key in object_keys)
    return out


def _read_npy(raw: bytes, where: str, allow_object: bool) -> np.ndarray:
    fp = io.BytesIO(raw)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)  # 3.0 differs only in header encoding
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    if not allow_object:
        raise UnsafeDataError(f"{where}: an object array (a pickle stream) where Keras stores plain numbers; "
                              "shendu does not unpickle. The file is damaged or not the Keras dataset file.")
    return _parse_object_array(raw[fp.tell():], shape, fortran, where)


# --------------------------------------------------------- a data-only reader for object-array pickles
class _Ref:
    """A reference to a global in the stream (never imported), or a call of one (never made)."""
    __slots__ = ("name", "args", "state")

    def __init__(self, name, args=None):
        self.name, self.args, self.state = name, args, None


_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_ALLOWED_GLOBALS = _RECONSTRUCT | {("numpy", "ndarray"), ("numpy", "dtype")}


def _parse_object_array(data: bytes, shape, fortran: bool, where: str) -> np.ndarray:
    """Rebuild an object array of lists of ints from the pickle stream NumPy wrote for it, without pickle.

    The stream is interpreted as data only: the three globals NumPy's array pickling names
    (``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct``) are kept as names, never
    imported or called, and the result must have exactly the shape of ``ndarray.__reduce__``'s
    output with lists of Python ints as elements. Any other opcode or global is refused.
    """
    def bad(msg):
        return UnsafeDataError(f"{where}: {msg}. shendu reads only NumPy object arrays of lists of integers from a "
                               "pickle stream and never unpickles; the file is damaged, was written differently, "
                               "or is not the Keras dataset file.")

    stack, marks, memo = [], [], {}
    n, pos = len(data), 0
    push, unpack_i = stack.append, struct.Struct("<i").unpack_from
    unpack_I, unpack_Q = struct.Struct("<I").unpack_from, struct.Struct("<Q").unpack_from

    def take(size):
        nonlocal pos
        if pos + size > n:
            raise bad("the pickle stream is truncated")
        chunk = data[pos:pos + size]
        pos += size
        return chunk

    def pop_mark():
        if not marks:
            raise bad("unbalanced MARK in the pickle stream")
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def top():
        if len(stack) <= (marks[-1] if marks else 0):
            raise bad("stack underflow in the pickle stream")
        return stack[-1]

    def pop():
        top()
        return stack.pop()

    def global_ref(module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise bad(f"it references {module}.{name}, which unpickling would import and could execute; refused")
        return _Ref((module, name))

    while True:
        if pos >= n:
            raise bad("the pickle stream ends without STOP")
        op = data[pos]
        pos += 1
        if op == 0x4B or op == 0x4D or op == 0x4A:       # K M J  BININT1/2/4: a run of them is the bulk
            try:
                while True:
                    if op == 0x4B:
                        push(data[pos])
                        pos += 1
                    elif op == 0x4D:
                        push(data[pos] | data[pos + 1] << 8)
                        pos += 2
                    elif op == 0x4A:
                        push(unpack_i(data, pos)[0])
                        pos += 4
                    else:
                        pos -= 1                         # not an int: dispatch it below
                        break
                    op = data[pos]
                    pos += 1
            except (IndexError, struct.error):
                raise bad("the pickle stream is truncated") from None
        elif op == 0x8A:                                 # LONG1
            stack.append(int.from_bytes(take(take(1)[0]), "little", signed=True))
        elif op == 0x65:                                 # e  APPENDS
            items = pop_mark()
            target = top()
            if not isinstance(target, list):
                raise bad("APPENDS to something that is not a list")
            target.extend(items)
        elif op == 0x61:                                 # a  APPEND
            item = pop()
            if not isinstance(top(), list):
                raise bad("APPEND to something that is not a list")
            stack[-1].append(item)
        elif op == 0x5D:                                 # ]  EMPTY_LIST
            stack.append([])
        elif op == 0x28:                                 # (  MARK
            marks.append(len(stack))
        elif op == 0x94:                                 # MEMOIZE
            memo[len(memo)] = top()
        elif op in (0x71, 0x72):                         # q r  BINPUT LONG_BINPUT
            key = take(1)[0] if op == 0x71 else unpack_I(take(4))[0]
            memo[key] = top()
        elif op in (0x68, 0x6A):                         # h j  BINGET LONG_BINGET
            key = take(1)[0] if op == 0x68 else unpack_I(take(4))[0]
            if key not in memo:
                raise bad(f"GET of memo entry {key}, which was never stored")
            stack.append(memo[key])
        elif op == 0x6C:                                 # l  LIST
            stack.append(pop_mark())
        elif op == 0x74:                                 # t  TUPLE
            stack.append(tuple(pop_mark()))
        elif op == 0x29:                                 # )  EMPTY_TUPLE
            stack.append(())
        elif op in (0x85, 0x86, 0x87):                   # TUPLE1 TUPLE2 TUPLE3
            k = op - 0x84
            items = [pop() for _ in range(k)][::-1]
            stack.append(tuple(items))
        elif op == 0x4E:                                 # N  NONE
            stack.append(None)
        elif op in (0x88, 0x89):                         # NEWTRUE NEWFALSE
            stack.append(op == 0x88)
        elif op in (0x8C, 0x58):                         # SHORT_BINUNICODE BINUNICODE
            size = take(1)[0] if op == 0x8C else unpack_I(take(4))[0]
            try:
                stack.append(take(size).decode("utf-8"))
            except UnicodeDecodeError:
                raise bad("a string that is not UTF-8") from None
        elif op in (0x55, 0x54, 0x43, 0x42):             # U T C B  SHORT_BINSTRING BINSTRING SHORT_BINBYTES BINBYTES
            size = take(1)[0] if op in (0x55, 0x43) else unpack_I(take(4))[0]
            chunk = take(size)
            stack.append(chunk.decode("latin-1") if op in (0x55, 0x54) else chunk)   # Python 2 str -> str
        elif op == 0x63:                                 # c  GLOBAL "module\nname\n"
            end1 = data.find(b"\n", pos, pos + 256)
            end2 = data.find(b"\n", end1 + 1, end1 + 257) if end1 >= 0 else -1
            if end2 < 0:
                raise bad("a malformed GLOBAL")
            module, name = data[pos:end1].decode("latin-1"), data[end1 + 1:end2].decode("latin-1")
            pos = end2 + 1
            stack.append(global_ref(module, name))
        elif op == 0x93:                                 # STACK_GLOBAL
            name, module = pop(), pop()
            if not (isinstance(module, str) and isinstance(name, str)):
                raise bad("a malformed STACK_GLOBAL")
            stack.append(global_ref(module, name))
        elif op == 0x52:                                 # R  REDUCE (recorded, never called)
            args, func = pop(), pop()
            if not isinstance(func, _Ref) or func.args is not None or not isinstance(args, tuple):
                raise bad("a REDUCE that is not a call of an allowed NumPy global")
            stack.append(_Ref(func.name, args))
        elif op == 0x62:                                 # b  BUILD (recorded, never applied)
            state = pop()
            target = top()
            if not isinstance(target, _Ref) or target.args is None or target.state is not None:
                raise bad("a BUILD on something that is not a NumPy array or dtype")
            target.state = state
        elif op == 0x80:                                 # PROTO
            take(1)
        elif op == 0x95:                                 # FRAME (a length hint only)
            unpack_Q(take(8))
        elif op == 0x2E:                                 # .  STOP
            if len(stack) != 1 or marks:
                raise bad("the pickle stream does not end with exactly one object")
            root = stack[0]
            break
        else:
            raise bad(f"pickle opcode {bytes([op])!r} at byte {pos - 1} is not part of a NumPy object array "
                      "of lists of integers; refused")

    # The result must be ndarray.__reduce__'s: _reconstruct(ndarray, (0,), b'b') with the state
    # (1, shape, dtype('O8'), is_fortran, [element, ...]); every element a list of Python ints.
    if not (isinstance(root, _Ref) and root.name in _RECONSTRUCT and isinstance(root.args, tuple)
            and len(root.args) == 3 and isinstance(root.args[0], _Ref) and root.args[0].name == ("numpy", "ndarray")
            and root.args[0].args is None):
        raise bad("the pickle stream does not hold a NumPy array")
    state = root.state
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], _Ref)
            and state[2].name == ("numpy", "dtype") and state[2].args is not None and state[2].args[:1] == ("O8",)):
        raise bad("the pickle stream does not hold a NumPy object array")
    _, pshape, _, pfortran, items = state
    size = int(np.prod(shape)) if len(shape) else 1
    if not isinstance(pshape, tuple) or pshape != tuple(shape) or not isinstance(items, list) or len(items) != size:
        raise bad(f"the pickled array's shape {pshape} or size does not match the header's {tuple(shape)}")
    ints = {int}
    if not all(type(item) is list and set(map(type, item)) <= ints for item in items):
        raise bad("an element is not a list of integers")
    out = np.empty(size, dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out.reshape(shape, order="F" if (fortran or pfortran) else "C")


# --------------------------------------------------------------------------------------- the datasets
def load_mnist(path="mnist.npz"):
    """``keras.datasets.mnist.load_data``: ``(x_train, y_train), (x_test, y_test)``, uint8, (N, 28, 28) and (N,).

    Read from ``mnist.npz`` in the Keras cache, downloaded there first if absent. When it is neither
    cached nor downloadable, the MNIST test set embedded in shendu is split instead (the first 8,000
    images to train, the last 2,000 to test), with a warning.
    """
    origin = KERAS_ORIGIN + "mnist.npz"
    try:
        file = _locate("mnist", path, origin)
    except DatasetNotFoundError as missing:
        warnings.warn(
            f"mnist: {Path(os.fspath(path)).name} is not in {keras_datasets_dir()} and could not be downloaded, so "
            "load_data() is using the copy of the 10,000-image MNIST TEST set embedded in shendu instead: "
            "x_train/y_train are the first 8,000 test images and x_test/y_test the last 2,000, because the "
            f"60,000-image training files are not available. For Keras's real split, put mnist.npz ({origin}) "
            f"in that folder.\n(Why it was not downloaded: {missing.reason})",
            UserWarning, stacklevel=2)
        return split_embedded_mnist()
    f = _load_npz(file, ["x_train", "y_train", "x_test", "y_test"])
    return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def split_embedded_mnist():
    """The embedded MNIST test set as ``(x_train, y_train), (x_test, y_test)``: the first 8,000 and the last 2,000."""
    images, labels = load_mnist_test(EMBEDDED)
    images, labels = np.array(images, dtype=np.uint8), np.array(labels, dtype=np.uint8)
    return (images[:8000], labels[:8000]), (images[8000:], labels[8000:])


def cached_mnist(path="mnist.npz"):
    """Keras's full MNIST from the cache when it is there (never downloading), else ``None``."""
    for folder in _candidate_dirs():
        if (folder / path).is_file():
            f = _load_npz(folder / path, ["x_train", "y_train", "x_test", "y_test"])
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    return None


FASHION_FILES = ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]


def load_fashion_mnist():
    """``keras.datasets.fashion_mnist.load_data``: the four IDX files in ``fashion-mnist/`` of the Keras cache
    (downloaded there first when absent; Keras publishes no hashes for them)."""
    folders = [d / "fashion-mnist" for d in _candidate_dirs()]
    folder = next((d for d in folders if all((d / f).is_file() for f in FASHION_FILES)), None)
    if folder is None:
        folder = folders[0]
        absent = [f for f in FASHION_FILES if not (folder / f).is_file()]
        try:
            for name in absent:
                get_file(str(folder / name), origin=KERAS_ORIGIN + name)
        except DownloadError as e:
            absent = [f for f in FASHION_FILES if not (folder / f).is_file()]
            raise _missing("fashion_mnist", absent, [KERAS_ORIGIN + f for f in absent], folder, reason=str(e)) from None
    y_train, x_train, y_test, x_test = (np.array(_read_idx(folder / f)) for f in FASHION_FILES)
    return (x_train.reshape(len(y_train), 28, 28), y_train), (x_test.reshape(len(y_test), 28, 28), y_test)


def load_boston_housing(path="boston_housing.npz", test_split=0.2, seed=113):
    """``keras.datasets.boston_housing.load_data``: ``boston_housing.npz`` shuffled with ``seed`` and split."""
    if not (0 <= test_split < 1):
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1).")
    f = _load_npz(_locate("boston_housing", path, KERAS_ORIGIN + "boston_housing.npz"), ["x", "y"])
    x, y = f["x"], f["y"]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def _remove_long_seq(maxlen, seq, label):
    kept = [(x, y) for x, y in zip(seq, label) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def _limit_words(xs, num_words, skip_top, oov_char):
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def load_imdb(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """``keras.datasets.imdb.load_data``: reviews as object arrays of word-index lists, labels 0/1."""
    if "nb_words" in kwargs:                              # tf.keras 2 still took Keras 1's name, with a warning
        warnings.warn("The `nb_words` argument in `load_data` has been renamed `num_words`.", stacklevel=2)
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError(f"imdb.load_data() got unexpected keyword arguments {sorted(kwargs)}.")
    f = _load_npz(_locate("imdb", path, KERAS_ORIGIN + "imdb.npz"), ["x_train", "y_train", "x_test", "y_test"],
                  object_keys=("x_train", "x_test"))
    x_train, labels_train, x_test, labels_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]

    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]

    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    else:
        x_train = [list(x) for x in x_train]
        x_test = [list(x) for x in x_test]

    if maxlen:
        x_train, labels_train = _remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = _remove_long_seq(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                             "Increase maxlen.")

    xs = _limit_words(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    idx = len(x_train)
    # np.array(..., dtype=object) as in Keras: 1-D of lists, or 2-D should every sequence have the same length
    return (np.array(xs[:idx], dtype=object), labels[:idx]), (np.array(xs[idx:], dtype=object), labels[idx:])


def load_reuters(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
                 start_char=1, oov_char=2, index_from=3):
    """``keras.datasets.reuters.load_data``: newswires as object arrays of word-index lists, 46 topic labels."""
    f = _load_npz(_locate("reuters", path, KERAS_ORIGIN + "reuters.npz"), ["x", "y"], object_keys=("x",))
    xs, labels = f["x"], f["y"]

    indices = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(indices)
    xs, labels = xs[indices], labels[indices]

    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]

    if maxlen:
        xs, labels = _remove_long_seq(maxlen, xs, labels)

    xs = _limit_words(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return ((np.array(xs[:idx], dtype=object), np.array(labels[:idx])),
            (np.array(xs[idx:], dtype=object), np.array(labels[idx:])))


def _word_index(dataset, path, origin):
    with open(_locate(dataset, path, origin), encoding="utf-8") as f:
        return json.load(f)


def imdb_word_index(path="imdb_word_index.json"):
    """``keras.datasets.imdb.get_word_index``: ``{word: index}`` from ``imdb_word_index.json``."""
    return _word_index("imdb", path, KERAS_ORIGIN + "imdb_word_index.json")


def reuters_word_index(path="reuters_word_index.json"):
    """``keras.datasets.reuters.get_word_index``: ``{word: index}`` from ``reuters_word_index.json``."""
    return _word_index("reuters", path, KERAS_ORIGIN + "reuters_word_index.json")


def reuters_label_names():
    """``keras.datasets.reuters.get_label_names``: the 46 topic names, indexed like the labels."""
    return REUTERS_LABEL_NAMES


CIFAR10_BIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def _read_cifar_bin(file: Path):
    raw = np.fromfile(file, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise ValueError(f"{file}: {raw.size} bytes is not a whole number of 3,073-byte CIFAR-10 records "
                         "(1 label byte + 32x32x3 pixels); the file is truncated or damaged.")
    raw = raw.reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0]


def load_cifar10():
    """``keras.datasets.cifar10.load_data``: uint8 images (N, 32, 32, 3) and uint8 labels (N, 1).

    Read from the binary CIFAR-10 release extracted into ``cifar-10-batches-bin/`` of the Keras
    cache (the same images in the same order as Keras's pickled ``cifar-10-batches-py``, which
    shendu does not read because loading it means unpickling).
    """
    dirs = _candidate_dirs()
    folder = next((d / "cifar-10-batches-bin" for d in dirs
                   if all((d / "cifar-10-batches-bin" / f).is_file() for f in CIFAR10_BIN_FILES)), None)
    if folder is None:
        home = dirs[0]
        pickled = [p for d in dirs for p in (d / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                                             d / "cifar-10-batches-py") if p.is_dir()]
        found = (f"Keras's pickled copy is at {pickled[0]}, but reading it means unpickling, which shendu never "
                 "does (a pickle can run arbitrary code). " if pickled else
                 f"Keras itself downloads the pickled release ({CIFAR10_PY_ORIGIN}), which shendu does not read "
                 "because reading it means unpickling. ")
        raise DatasetNotFoundError(
            f"cifar10: {', '.join(CIFAR10_BIN_FILES)} not found in {home / 'cifar-10-batches-bin'}. {found}"
            f"shendu reads the binary CIFAR-10 release instead (same images and order, no pickle) and does not "
            f"download at run time. Fetch and extract it once:\n"
            f"  mkdir -p {home} && curl -L {CIFAR10_BIN_ORIGIN} | tar -xz -C {home}\n"
            f"which creates {home / 'cifar-10-batches-bin'}/; then call load_data() again.")
    parts = [_read_cifar_bin(folder / f) for f in CIFAR10_BIN_FILES]
    x_train = np.concatenate([p[0] for p in parts[:5]]).transpose(0, 2, 3, 1)
    y_train = np.concatenate([p[1] for p in parts[:5]]).reshape(-1, 1)
    x_test, y_test = parts[5][0].transpose(0, 2, 3, 1), parts[5][1].reshape(-1, 1)
    return ((np.ascontiguousarray(x_train), y_train.copy()), (np.ascontiguousarray(x_test), y_test.copy()))
