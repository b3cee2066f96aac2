"""``PyDataset`` (Keras 3; tf.keras 2 called it ``Sequence``): batches computed by Python code.

Subclass it and define ``__len__`` (batches per epoch) and ``__getitem__(index)`` (one batch:
``x``, ``(x, y)`` or ``(x, y, sample_weight)``); ``on_epoch_begin``/``on_epoch_end`` run around
each epoch. ``fit`` reads the batches in a shuffled order when ``shuffle=True`` (its default), as
Keras does; ``workers`` > 1 reads ahead in that many threads (``use_multiprocessing`` also uses
threads here: shendu starts no processes).
"""
from __future__ import annotations


class PyDataset:
    """Base class for Python-computed batches (see the module docstring)."""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        if not isinstance(workers, int) or workers < 0:
            raise ValueError(f"PyDataset workers must be a non-negative integer, got {workers!r}.")
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    workers = property(lambda self: getattr(self, "_workers", 1))
    use_multiprocessing = property(lambda self: getattr(self, "_use_multiprocessing", False))
    max_queue_size = property(lambda self: getattr(self, "_max_queue_size", 10))

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning batch `index`, "
                                  f"e.g. (x_batch, y_batch).")

    @property
    def num_batches(self):
        """Batches per epoch (``len(self)``), or None for an endless dataset."""
        if type(self).__len__ is not PyDataset.__len__:
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches per epoch) or "
                                  f"the num_batches property.")

    def __len__(self):
        return self.num_batches

    def __iter__(self):
        n = self.num_batches
        index = 0
        while n is None or index < n:
            yield self[index]
            index += 1

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch (shuffle your indices here)."""
