"""The metric machinery: Metric (state + update/result/reset), Mean, Sum and MeanMetricWrapper.

Metrics are bookkeeping, not training: they run on NumPy arrays with no autodiff, and keep
their running totals in float64 so that a mean over a long epoch does not drift.
"""
from __future__ import annotations

import re

import numpy as np

from shendu import autograd, backend
from shendu.tensor import Tensor


def as_numpy(x) -> np.ndarray | None:
    """Tensors, backend arrays (NumPy or CuPy) and Python lists as a NumPy array."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        return backend.to_numpy(x.data)     # read only: no copy needed
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return backend.to_numpy(x)
    return np.asarray(x)


def snake_case(name: str) -> str:
    """'TopKCategoricalAccuracy' → 'top_k_categorical_accuracy', Keras's default metric names."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def squeeze_or_expand(x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True):
    """Keras's rank alignment: when the ranks differ by one and the longer array ends in a size-1
    axis, squeeze that axis, or (against a rank-1 partner) expand the partner instead."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def reduce_to_samplewise(values: np.ndarray, sample_weight, reduce_fn):
    """Per-sample values (batch,) and their weights: axes beyond the weights' rank are reduced
    with ``reduce_fn`` (mean for Mean, sum for Sum) after weighting, as Keras does."""
    values = values.astype(np.float64)
    if sample_weight is not None:
        weights = as_numpy(sample_weight).astype(np.float64)
        values, weights = squeeze_or_expand(values, weights)
        weight_ndim = weights.ndim
        if values.ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values.ndim)))
        weights = np.broadcast_to(weights, values.shape)
        values = values * weights
        if weight_ndim > 1:
            weights = reduce_fn(weights, axis=tuple(range(1, weight_ndim)))
        sample_weight = weights
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


def merge_mask(sample_weight, y_pred):
    """A Keras-style mask carried by y_pred (``y_pred._keras_mask``, from masking layers) folded into
    the sample weights, so masked timesteps neither add to the total nor to the count."""
    mask = getattr(y_pred, "_keras_mask", None)
    if mask is None:
        return sample_weight
    mask = as_numpy(mask).astype(np.float64)
    if sample_weight is None:
        return mask
    mask, weights = squeeze_or_expand(mask, as_numpy(sample_weight).astype(np.float64))
    return weights * mask


def divide_no_nan(a, b):
    """a / b, and 0 where b is 0 (an empty confusion-matrix row is 0, not NaN)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    safe = np.where(b == 0, 1.0, b)
    return np.where(b == 0, 0.0, a / safe)


def to_result(x):
    """A scalar result as a Python float, a vector as a NumPy array."""
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


class MetricVariable:
    """A piece of metric state for custom metrics: ``assign``, ``assign_add``, ``assign_sub``, ``numpy()``.

    Built-in metrics keep plain arrays; this exists so that Keras-style custom metrics written
    with ``self.add_variable(...)`` / ``self.add_weight(...)`` run unchanged.
    """
    __array_priority__ = 1000

    def __init__(self, shape=(), initializer="zeros", dtype="float32", name=None):
        self.shape, self.dtype, self.name = tuple(shape), np.dtype(dtype or "float32"), name
        self.initializer = initializer
        self.value = self._initial()

    def _initial(self):
        init = self.initializer
        if init in (None, "zeros", "Zeros"):
            return np.zeros(self.shape, self.dtype)
        if init in ("ones", "Ones"):
            return np.ones(self.shape, self.dtype)
        if callable(init):
            return np.asarray(as_numpy(init(self.shape, self.dtype)), self.dtype).reshape(self.shape)
        raise ValueError(f"MetricVariable {self.name!r}: unsupported initializer {init!r}; use 'zeros', "
                         "'ones' or a callable initializer(shape, dtype).")

    def assign(self, value):
        self.value = np.asarray(as_numpy(value), self.dtype).reshape(self.shape)
        return self

    def assign_add(self, value):
        return self.assign(self.value + as_numpy(value))

    def assign_sub(self, value):
        return self.assign(self.value - as_numpy(value))

    def numpy(self):
        """A copy of the value: later updates of the metric do not change it."""
        return self.value.copy()

    def __array__(self, dtype=None, copy=None):
        return self.value.copy() if dtype is None else self.value.astype(dtype)

    def __float__(self):
        return float(self.value)

    def __repr__(self):
        return f"<MetricVariable {self.name!r} value={self.value!r}>"


def _binary(op):
    return lambda self, other: op(self.value, as_numpy(other) if not np.isscalar(other) else other)


def _rbinary(op):
    return lambda self, other: op(as_numpy(other) if not np.isscalar(other) else other, self.value)


for _name, _op in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.divide),
                   ("pow", np.power)]:
    setattr(MetricVariable, f"__{_name}__", _binary(_op))
    setattr(MetricVariable, f"__r{_name}__", _rbinary(_op))
for _name, _op in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]:
    setattr(MetricVariable, f"__{_name}__", _binary(_op))
MetricVariable.__neg__ = lambda self: -self.value


class Metric:
    """Base class: ``update_state`` accumulates a batch, ``result`` reads the running value,
    ``reset_state`` clears it (the training loop does this at the start of every epoch).

    Subclasses keep their state in attributes and override all three; ``add_variable`` state is
    zeroed by the default ``reset_state``. ``metric(y_true, y_pred)`` updates and returns the result.
    """

    def __init__(self, dtype=None, name: str | None = None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = str(np.dtype(dtype or "float32"))
        self._variables: list[MetricVariable] = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        if not hasattr(self, "_variables"):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before add_variable.")
        v = MetricVariable(shape, initializer, dtype or self.dtype, name)
        self._variables.append(v)
        return v

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape=shape, initializer=initializer or "zeros", dtype=dtype, name=name)

    @property
    def variables(self) -> list:
        return list(getattr(self, "_variables", []))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state(y_true, y_pred, "
                                  "sample_weight=None).")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self) -> None:
        for v in self.variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def reset_states(self) -> None:
        """tf.keras 2's name for ``reset_state``."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Sum(Metric):
    """total = Σ_i w_i v_i over every value seen since the last reset. State: ``total``."""

    def __init__(self, name: str = "sum", dtype=None):
        super().__init__(dtype=dtype, name=name)
        # float64 state: a sum over a long epoch does not drift
        self.total = self.add_variable(dtype="float64", name="total")

    def update_state(self, values, sample_weight=None) -> None:
        values, _ = reduce_to_samplewise(as_numpy(values), sample_weight, np.sum)
        self.total.assign_add(values.sum())

    def result(self):
        return float(self.total.value)


class Mean(Metric):
    """mean = Σ_i w_i v_i / Σ_i w_i over every sample seen since the last reset. State: ``total``, ``count``.

    Totals and counts accumulate across batches, so an uneven last batch weighs by its size,
    not as a whole batch. Values with extra axes, (batch, time), are first averaged per sample.
    """

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(dtype=dtype, name=name)
        # float64 state: a mean over a long epoch does not drift
        self.total = self.add_variable(dtype="float64", name="total")
        self.count = self.add_variable(dtype="float64", name="count")

    def update_state(self, values, sample_weight=None) -> None:
        if isinstance(values, float) and (sample_weight is None or isinstance(sample_weight, (int, float))):
            # one number, the loss tracker's update each step: what the arrays below compute, without them
            weight = 1.0 if sample_weight is None else float(sample_weight)
            self.total.assign_add(values * weight)
            self.count.assign_add(weight)
            return
        values, weights = reduce_to_samplewise(as_numpy(values), sample_weight, np.mean)
        self.total.assign_add(values.sum())
        if weights is not None:
            self.count.assign_add(np.sum(weights))
        else:
            self.count.assign_add(values.shape[0] if values.ndim >= 1 else 1)

    def result(self):
        count = float(self.count.value)
        return float(self.total.value) / count if count else 0.0


def serialize_fn(fn) -> dict:
    return {"module": "builtins", "class_name": "function", "config": fn.__name__, "registered_name": "function"}


class MeanMetricWrapper(Mean):
    """The weighted running mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``:
    accuracies, and any loss function used as a metric.

    Args:
        fn: returns one value per sample (or per timestep) as a Tensor or an array.
        name: the metric's name; **kwargs go to ``fn``.
    """

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper needs a callable fn(y_true, y_pred), got {fn!r}.")
        super().__init__(name=name or "mean_metric_wrapper", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        sample_weight = merge_mask(sample_weight, y_pred)
        with autograd.no_grad():    # a metric never needs a graph
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(as_numpy(values), sample_weight=sample_weight)

    def get_config(self) -> dict:
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            config["fn"] = serialize_fn(self._fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if isinstance(config.get("fn"), (dict, str)):
            from shendu.metrics import deserialize
            config["fn"] = deserialize(config["fn"])
        return cls(**config)
