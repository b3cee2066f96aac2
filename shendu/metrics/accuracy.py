"""Accuracy metrics: a per-sample 0/1 match function each, averaged by MeanMetricWrapper."""
from __future__ import annotations

import numpy as np

from shendu.metrics.base import MeanMetricWrapper, as_numpy, squeeze_or_expand


def _float(y):
    y = as_numpy(y)
    return y if y.dtype.kind == "f" else y.astype(np.float32)


def accuracy(y_true, y_pred) -> np.ndarray:
    """match = (y_true == y_pred), elementwise: for predictions that are already labels."""
    y_pred = _float(y_pred)
    y_true, y_pred = squeeze_or_expand(as_numpy(y_true).astype(y_pred.dtype), y_pred)
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """match = (y_true == [y_pred > threshold]), elementwise."""
    y_pred = _float(y_pred)
    y_true = as_numpy(y_true)
    y_true, y_pred = squeeze_or_expand(y_true, y_pred)
    # compare in y_pred's precision, as Keras does (float32(0.7) is not the float64 0.7)
    predicted = (y_pred > np.asarray(threshold, y_pred.dtype)).astype(y_true.dtype)
    return (y_true == predicted).astype(np.float32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """match = (argmax y_true == argmax y_pred) over the last axis: one-hot targets."""
    y_true = np.argmax(as_numpy(y_true), axis=-1)
    y_pred = _float(y_pred)
    shape = y_true.shape
    squeezed = y_true.ndim == y_pred.ndim
    if squeezed:
        y_true = np.squeeze(y_true, -1)
    matches = (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)
    return matches.reshape(shape) if squeezed else matches


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """match = (y_true == argmax y_pred): integer labels of shape (batch,) or (batch, 1)."""
    y_pred = _float(y_pred)
    y_true = as_numpy(y_true).astype(y_pred.dtype)
    shape = y_true.shape
    squeezed = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if squeezed:
        y_true = y_true[..., 0]
    matches = (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)
    if squeezed:
        matches = matches.reshape(shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


def in_top_k(targets: np.ndarray, predictions: np.ndarray, k: int) -> np.ndarray:
    """True where the target's score is at least the k-th largest score (ties count as in)."""
    k = min(k, predictions.shape[-1])    # k >= number of classes: every target is in the top k
    kth = -np.partition(-predictions, k - 1, axis=-1)[:, k - 1]
    target_score = np.take_along_axis(predictions, targets[:, None].astype(np.int64), axis=-1)[:, 0]
    return target_score >= kth


def _top_k(y_true, y_pred, k):
    shape = y_true.shape
    if y_pred.ndim > 2:
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    matches = in_top_k(y_true.reshape(-1), y_pred, k).astype(np.float32)
    return matches.reshape(shape)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """match = (the true class, argmax y_true, is among the k highest scores)."""
    return _top_k(np.argmax(as_numpy(y_true), axis=-1), _float(y_pred), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids: bool = False) -> np.ndarray:
    """match = (the integer label is among the k highest scores); with ``from_sorted_ids``,
    y_pred already holds class ids sorted by score and the first k are checked."""
    y_true = as_numpy(y_true)
    if from_sorted_ids:
        y_pred = as_numpy(y_pred)
        shape = y_true.shape
        ids = y_pred.reshape(-1, y_pred.shape[-1])[:, :k]
        return (ids == y_true.reshape(-1, 1)).any(axis=1).astype(np.float32).reshape(shape)
    return _top_k(y_true.astype(np.int64), _float(y_pred), k)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true, elementwise."""
    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often [y_pred > threshold] equals the 0/1 label."""
    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax y_pred equals argmax of the one-hot y_true."""
    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax y_pred equals the integer label."""
    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the k highest scores."""
    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the k highest scores."""
    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids: bool = False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k, self.from_sorted_ids = k, from_sorted_ids
