"""Loss functions as metrics: the weighted running mean of a per-sample loss.

The formulas live in ``shendu.losses``; these classes only name them and average them over
every sample seen since the last reset.
"""
from __future__ import annotations

import numpy as np

from shendu import losses
from shendu.metrics.base import Mean, MeanMetricWrapper, as_numpy, squeeze_or_expand


def _aligned(fn):
    """fn after Keras's rank alignment, so labels (batch,) meet predictions (batch, 1) row by row."""
    def per_sample(y_true, y_pred, **kwargs):
        y_true, y_pred = losses.align_ranks(y_true, y_pred)
        return fn(y_true, y_pred, **kwargs)
    per_sample.__name__ = fn.__name__
    return per_sample


class MeanSquaredError(MeanMetricWrapper):
    """mean of (y_pred - y_true)² over all samples seen."""
    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(_aligned(losses.mean_squared_error), name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """mean of |y_pred - y_true| over all samples seen."""
    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(_aligned(losses.mean_absolute_error), name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """100 · mean |(y_true - y_pred) / y_true| over all samples seen."""
    def __init__(self, name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(losses.mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """mean of (log(1 + y_pred) - log(1 + y_true))² over all samples seen."""
    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(losses.mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """mean of log(cosh(y_pred - y_true)) over all samples seen."""
    def __init__(self, name: str = "logcosh", dtype=None):
        super().__init__(losses.log_cosh, name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """sqrt(mean of (y_pred - y_true)²): the root of the running mean, not a mean of batch roots."""

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = squeeze_or_expand(as_numpy(y_true).astype(np.float64), as_numpy(y_pred).astype(np.float64))
        super().update_state((y_pred - y_true) ** 2, sample_weight=sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


class BinaryCrossentropy(MeanMetricWrapper):
    """mean binary cross-entropy over all samples seen."""
    def __init__(self, name: str = "binary_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0):
        super().__init__(_aligned(losses.binary_crossentropy), name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """mean categorical cross-entropy (one-hot targets) over all samples seen."""
    def __init__(self, name: str = "categorical_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0, axis: int = -1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """mean sparse categorical cross-entropy (integer labels) over all samples seen."""
    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype=None, from_logits: bool = False,
                 ignore_class=None, axis: int = -1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis


class KLDivergence(MeanMetricWrapper):
    """mean Kullback-Leibler divergence Σ t log(t / p) over all samples seen."""
    def __init__(self, name: str = "kl_divergence", dtype=None):
        super().__init__(losses.kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """mean Poisson loss y_pred - y_true log(y_pred) over all samples seen."""
    def __init__(self, name: str = "poisson", dtype=None):
        super().__init__(losses.poisson, name=name, dtype=dtype)


class Hinge(MeanMetricWrapper):
    """mean hinge loss over all samples seen."""
    def __init__(self, name: str = "hinge", dtype=None):
        super().__init__(losses.hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """mean squared hinge loss over all samples seen."""
    def __init__(self, name: str = "squared_hinge", dtype=None):
        super().__init__(losses.squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """mean categorical hinge loss over all samples seen."""
    def __init__(self, name: str = "categorical_hinge", dtype=None):
        super().__init__(losses.categorical_hinge, name=name, dtype=dtype)
