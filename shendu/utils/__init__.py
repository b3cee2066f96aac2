"""Small helpers tutorials use: one-hot labels, seeding, normalisation; pictures of models and training.

    model_graph.py   a model's layers and connections as a plain graph
    plotting.py      plot_model, model_to_dot, plot_history (matplotlib, imported on first use)
"""
from __future__ import annotations

import random

import numpy as np

from shendu import backend
from shendu.utils.plotting import model_to_dot, plot_history, plot_model  # noqa: F401


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """Integer class labels (any shape) to one-hot rows: label k becomes a row with 1 at position k."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError("to_categorical expects integer class labels, got non-integral values.")
        y = y.astype("int64")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {int(y.min())}.")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(y.max())} does not fit num_classes={num_classes} "
                         f"(labels must be 0..{num_classes - 1}).")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and shendu's generators so a run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    backend.set_seed(seed)


def normalize(x, axis=-1, order=2) -> np.ndarray:
    """Scale ``x`` to unit L-``order`` norm along ``axis``."""
    x = np.asarray(x, dtype="float64" if np.asarray(x).dtype == np.float64 else "float32")
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)
