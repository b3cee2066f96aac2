"""Callbacks that read the logs: ``CSVLogger`` (one CSV row per epoch) and ``TerminateOnNaN``."""
from __future__ import annotations

import collections.abc
import csv
import math
import os

import numpy as np

from shendu.callbacks.base import Callback


def _csv_value(value):
    # a vector-valued metric is written as one quoted "[a, b, c]" cell, as Keras does
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file: columns 'epoch' (from 0), then the log keys sorted.

    When the first epoch has no 'val_*' keys, 'val_<key>' columns are added anyway (cells 'NA'), so a
    ``validation_freq`` > 1 run still fits the header.

    Args:
        filename: the CSV file, e.g. 'run/log.csv'.
        separator: the delimiter between cells.
        append: add to an existing file (its header is kept) instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()     # write a header only into an empty file
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()       # readable while training runs

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or ±inf.

    Without it, ``fit`` goes on after a NaN loss: NaN gradients turn every weight into NaN and all later
    losses and predictions are NaN too. With it, training stops after that batch (its update already
    applied), prints "Batch N: Invalid loss, terminating training" and ``on_train_end`` runs as usual.
    ``fit`` also warns once, before training, when its array inputs already hold NaN or inf.

    Args:
        raise_error: False stops gracefully (``model.stop_training = True``, so ``on_train_end`` still
            runs); True raises RuntimeError at once.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating "
                               "training immediately.")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
