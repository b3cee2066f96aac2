"""Turn what users pass to ``fit``/``evaluate``/``predict`` into batches of (x, y, sample_weight).

Accepted: NumPy arrays (or lists/dicts of them for multi-input models, arrays of strings for a
model that starts with TextVectorization); a ``Dataset`` whose elements are batches; a Python
generator or iterator yielding batches; or a ``PyDataset`` / ``Sequence`` (``__len__`` and
``__getitem__`` returning batches). A batch is ``x``, ``(x, y)`` or ``(x, y, sample_weight)``.
"""
from __future__ import annotations

import itertools
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from shendu import backend
from shendu.data.dataset import INFINITE, Dataset
from shendu.data.py_dataset import PyDataset
from shendu.tensor import Tensor


def _as_array(x):
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (np.ndarray, Tensor)) for v in x):
        return [_as_array(v) for v in x]       # a list of arrays: several inputs
    if isinstance(x, dict):
        return {k: _as_array(v) for k, v in x.items()}
    return None if x is None else np.asarray(x)


def _leaves(x):
    if isinstance(x, list):
        return x
    if isinstance(x, dict):
        return list(x.values())
    return [x]


def _take(x, idx):
    if x is None:
        return None
    if isinstance(x, list):
        return [v[idx] for v in x]
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]


def num_samples(x) -> int:
    return len(_leaves(x)[0])


def is_array_data(x) -> bool:
    """Arrays (or lists/dicts of them), as opposed to a Dataset, a PyDataset or a generator."""
    return not (isinstance(x, Dataset) or hasattr(x, "__next__") or _is_py_dataset(x)
                or (hasattr(x, "__iter__") and not hasattr(x, "__len__")))


class ArrayBatches:
    """Batches over in-memory arrays, reshuffled each epoch when ``shuffle``."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, rng=None, who="fit"):
        self.x, self.y, self.sample_weight = _as_array(x), _as_array(y), _as_array(sample_weight)
        lengths = {len(a) for a in _leaves(self.x)}
        if len(lengths) != 1:
            raise ValueError(f"{who}: all inputs must have the same number of samples, got {sorted(lengths)}.")
        self.n = lengths.pop()
        if self.n == 0:
            raise ValueError(f"{who}: the dataset is empty (x has 0 samples); there is nothing to train on.")
        if self.y is not None:
            for a in _leaves(self.y):
                if len(a) != self.n:
                    raise ValueError(f"{who}: x and y have different numbers of samples: x has {self.n}, y has "
                                     f"{len(a)}. Each input sample needs exactly one target.")
        if self.sample_weight is not None and len(self.sample_weight) != self.n:
            raise ValueError(f"{who}: sample_weight has {len(self.sample_weight)} entries but x has {self.n} samples.")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"{who}: batch_size must be a positive integer (samples per step), got {batch_size!r}; "
                             "pass e.g. batch_size=32, or leave it out for the default of 32.")
        self.batch_size, self.shuffle = int(batch_size), shuffle
        self.rng = rng or np.random.default_rng()

    def __len__(self):
        return -(-self.n // self.batch_size)

    @property
    def num_batches(self):
        return len(self)

    def __iter__(self):
        # the arrays stay on the host and each batch moves to the device once, so the order must be host
        # indices: one copy per epoch when the generator is the device library's (CuPy)
        order = backend.to_numpy(self.rng.permutation(self.n)) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            idx = order[start:start + self.batch_size] if order is not None else slice(start, start + self.batch_size)
            yield _take(self.x, idx), _take(self.y, idx), _take(self.sample_weight, idx)


def warn_non_finite(batches: ArrayBatches, who: str = "fit") -> None:
    """One warning per array of x, y and sample_weight that holds NaN or inf, with the count: such a value turns
    the loss and then every weight into NaN a few steps later, far from its cause."""
    for label, data in (("x", batches.x), ("y", batches.y), ("sample_weight", batches.sample_weight)):
        if data is None:
            continue
        named = (list(data.items()) if isinstance(data, dict) else list(enumerate(data))
                 if isinstance(data, list) else [(None, data)])
        for key, a in named:
            if not (isinstance(a, np.ndarray) and a.dtype.kind in "fc"):
                continue
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            if bad:
                name = label if key is None else f"{label}[{key!r}]"
                n_nan = int(np.count_nonzero(np.isnan(a)))
                warnings.warn(f"{who}: {name} holds {bad} non-finite value(s) ({n_nan} NaN, {bad - n_nan} inf) "
                              f"out of {a.size}; the loss will become NaN. Clean or impute them first (e.g. "
                              f"np.nan_to_num, or drop those rows); callbacks.TerminateOnNaN stops training at the "
                              "first NaN loss.", RuntimeWarning, stacklevel=4)


class IterableBatches:
    """Batches from a ``Dataset``, a ``PyDataset`` / ``Sequence``, or a Python generator / iterator.

    Each element is one batch: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a dict is
    ``x`` for a model with named inputs). ``steps`` bounds each epoch; with ``steps`` one iterator
    continues from epoch to epoch (Keras's rule: ``steps_per_epoch`` smaller than the dataset walks
    through it across epochs), and a fresh one starts once the whole dataset has been read. An
    infinite dataset (``repeat()``) needs ``steps``.
    """

    def __init__(self, data, steps=None, who="fit", batch_size=None, y=None, sample_weight=None, shuffle=False,
                 class_weight=None, workers=1, max_queue_size=10):
        kind = "dataset" if isinstance(data, Dataset) else "py_dataset" if _is_py_dataset(data) else "generator"
        label = {"dataset": "a Dataset", "py_dataset": "a PyDataset", "generator": "a generator"}[kind]
        if batch_size is not None:
            raise ValueError(f"{who}: the `batch_size` argument must not be given when x is {label}: the data is "
                             f"already batched, each element is one batch. Received batch_size={batch_size}; set "
                             f"the batch size where the batches are made (e.g. dataset.batch({batch_size})).")
        for arg, value, what in (("y", y, "the targets"), ("sample_weight", sample_weight, "the sample weights")):
            if value is not None:
                raise ValueError(f"{who}: when x is {label}, `{arg}` must not be given: {what} belong in each "
                                 f"element the data yields, as (x, y) or (x, y, sample_weight).")
        self.data, self.steps, self.who, self.kind = data, steps, who, kind
        self.shuffle, self.class_weight = shuffle, class_weight
        self.workers, self.max_queue_size = workers, max_queue_size
        self._iterator, self._seen = None, 0
        self._known = self._count()
        if self._known == INFINITE and steps is None:
            raise ValueError(f"{who}: the dataset repeats forever; pass steps{'_per_epoch' if who == 'fit' else ''}=N "
                             f"so that each {'epoch' if who == 'fit' else 'pass'} ends after N batches, or bound the "
                             f"dataset with take(N).")

    def _count(self):
        """Batches in one full pass: a number, INFINITE, or None when unknown."""
        if self.kind == "dataset":
            card = self.data._cardinality
            return card if card >= 0 or card == INFINITE else None
        if self.kind == "py_dataset":
            n = _py_dataset_length(self.data)
            return INFINITE if n is None else n
        return len(self.data) if hasattr(self.data, "__len__") else None

    @property
    def num_batches(self):
        """Batches per epoch, or None when only reading the data tells."""
        if self.steps is not None:
            return self.steps
        return self._known if self._known is not None and self._known >= 0 else None

    def __len__(self):
        n = self.num_batches
        if n is None:
            raise TypeError(f"{self.who}: the number of batches is unknown until the data has been read; pass steps.")
        return n

    def _fresh(self):
        if self.kind == "dataset":
            return self.data._batches()
        if self.kind == "py_dataset":
            return _read_py_dataset(self.data, self.shuffle, self.workers, self.max_queue_size)
        return iter(self.data)

    def __iter__(self):
        if self.kind == "generator":          # one pass only: a generator cannot start again
            if self._iterator is None:
                self._iterator = iter(self.data)
        elif self.steps is None or self._iterator is None or (self._known is not None and self._known >= 0
                                                              and self._seen >= self._known):
            self._iterator, self._seen = self._fresh(), 0
        iterator = self._iterator
        for _ in (range(self.steps) if self.steps is not None else itertools.count()):
            try:
                element = next(iterator)
            except StopIteration:
                self._iterator = None
                if self.steps is not None:
                    warnings.warn("Your input ran out of data; the epoch ends early. Make sure the dataset or "
                                  "generator gives at least `steps_per_epoch * epochs` batches; you may need to call "
                                  "`.repeat()` on the dataset.", stacklevel=3)
                return
            self._seen += 1
            x, y, sw = unpack_x_y_sample_weight(element, self.who)
            if self.class_weight and y is not None and sw is None:
                sw = class_weight_to_sample_weights(y, self.class_weight)
            yield _as_array(x), _as_array(y), _as_array(sw)


def unpack_x_y_sample_weight(data, who="fit"):
    """One batch as the data gave it -> (x, y, sample_weight): a tuple/list of 1 to 3 parts is
    (x,), (x, y) or (x, y, sample_weight); anything else (an array, a dict) is x alone."""
    if isinstance(data, list):
        data = tuple(data)
    if isinstance(data, tuple):
        if not 1 <= len(data) <= 3:
            raise ValueError(f"{who}: each batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of "
                             f"{len(data)} items. Pack several inputs as a tuple inside: ((x1, x2), y).")
        return (data + (None, None))[:3]
    return data, None, None


def class_weight_to_sample_weights(y, class_weight):
    """class_weight {class: weight} -> one weight per sample, from each sample's label (or one-hot row)."""
    y = np.asarray(y)
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0].astype(int)
    return np.array([class_weight.get(int(c), 1.0) for c in labels], dtype="float32")


def _is_py_dataset(x) -> bool:
    if isinstance(x, PyDataset):
        return True
    # array-likes (pandas frames, h5py datasets) define __array__ and are data, not batch sources
    return hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "__array__") and not isinstance(
        x, (np.ndarray, list, tuple, dict, str, Tensor, Dataset))


def _py_dataset_length(data):
    n = data.num_batches if isinstance(data, PyDataset) else len(data)
    return None if n is None else int(n)


def _read_py_dataset(data, shuffle, workers, max_queue_size):
    """One epoch of a PyDataset: on_epoch_begin, every batch (in shuffled order when ``shuffle``, as
    Keras's fit does), on_epoch_end; ``workers`` > 1 reads ahead in threads, keeping the order."""
    n = _py_dataset_length(data)
    order = itertools.count() if n is None else (backend.rng.permutation(n).tolist() if shuffle else range(n))
    workers = max(int(getattr(data, "_workers", None) or workers or 1), 1)
    if hasattr(data, "on_epoch_begin"):
        data.on_epoch_begin()
    try:
        if workers == 1:
            for i in order:
                yield data[i]
        else:
            ahead = max(int(getattr(data, "_max_queue_size", None) or max_queue_size or 10), workers)
            with ThreadPoolExecutor(workers) as pool:
                pending = []
                for i in order:
                    pending.append(pool.submit(data.__getitem__, i))
                    if len(pending) >= ahead:
                        yield pending.pop(0).result()
                for future in pending:
                    yield future.result()
    finally:
        if hasattr(data, "on_epoch_end"):
            data.on_epoch_end()


def split_validation(x, y, sample_weight, fraction):
    """Keras's ``validation_split``: the last ``fraction`` of the samples (before any shuffling) validate."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation_split must be between 0 and 1, got {fraction}.")
    x, y, sample_weight = _as_array(x), _as_array(y), _as_array(sample_weight)
    n = num_samples(x)
    cut = int(n * (1 - fraction))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={fraction} leaves no samples for training or for validation "
                         f"(dataset of {n} samples).")
    head, tail = slice(0, cut), slice(cut, n)
    return ((_take(x, head), _take(y, head), _take(sample_weight, head)),
            (_take(x, tail), _take(y, tail), _take(sample_weight, tail)))
