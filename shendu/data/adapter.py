"""Turn what users pass to ``fit``/``evaluate``/``predict`` into batches of (x, y, sample_weight).

Accepted: NumPy arrays (or lists/dicts of them for multi-input models), a Python generator or
iterator yielding ``(x, y)`` / ``(x, y, sample_weight)`` tuples, or a ``Sequence``-like object
with ``__len__`` and ``__getitem__`` returning such tuples.
"""
from __future__ import annotations

import numpy as np

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
    return not (hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__")
                                           and not isinstance(x, (np.ndarray, list, tuple, dict, Tensor))))


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
            raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}.")
        self.batch_size, self.shuffle = int(batch_size), shuffle
        self.rng = rng or np.random.default_rng()

    def __len__(self):
        return -(-self.n // self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            idx = order[start:start + self.batch_size] if order is not None else slice(start, start + self.batch_size)
            yield _take(self.x, idx), _take(self.y, idx), _take(self.sample_weight, idx)


class IterableBatches:
    """Batches from a generator, iterator or ``Sequence``; ``steps`` bounds an endless generator."""

    def __init__(self, data, steps=None, who="fit"):
        self.data, self.steps, self.who = data, steps, who
        self._iterator = None

    def __len__(self):
        if self.steps is not None:
            return self.steps
        if hasattr(self.data, "__len__"):
            return len(self.data)
        return None

    def __iter__(self):
        if hasattr(self.data, "__getitem__") and hasattr(self.data, "__len__"):
            source = (self.data[i] for i in range(len(self.data)))
            if hasattr(self.data, "on_epoch_end"):
                source = _then(source, self.data.on_epoch_end)
        else:
            if self._iterator is None:
                self._iterator = iter(self.data)
            source = self._iterator
        for step, batch in enumerate(source):
            if self.steps is not None and step >= self.steps:
                break
            if not isinstance(batch, (tuple, list)):
                batch = (batch,)               # x alone (a GAN's images, an autoencoder's inputs), as Keras takes it
            if not 1 <= len(batch) <= 3:
                raise ValueError(f"{self.who}: a generator must yield x, (x, y) or (x, y, sample_weight), "
                                 f"got a {type(batch).__name__} of {len(batch)} elements.")
            x, y, sw = (tuple(batch) + (None, None))[:3]
            yield _as_array(x), _as_array(y), _as_array(sw)
            if self.steps is not None and step + 1 >= self.steps:
                break


def _then(iterator, fn):
    yield from iterator
    fn()


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
