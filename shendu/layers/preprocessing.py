"""Preprocessing layers that put raw numbers on a scale a network likes: Rescaling (a fixed affine
map, e.g. pixels / 255) and Normalization (zero mean, unit variance, with statistics from ``adapt``)."""
from __future__ import annotations

import itertools

import numpy as np

from shendu import backend, ops
from shendu.layers.base import Layer, same_shape
from shendu.tensor import Tensor

EPSILON = 1e-7          # Keras's backend.epsilon(): the smallest standard deviation Normalization divides by


def _as_float(layer, inputs):
    """Integer inputs (uint8 pixels, counts) become the layer's float type, as Keras casts them."""
    if isinstance(inputs, Tensor) and inputs.dtype.kind != "f":
        return ops.cast(inputs, layer.dtype)
    return inputs


def _encode(value):
    """A constant for get_config as Keras writes it: arrays as {'class_name': '__numpy__', ...}."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": value.dtype.name}}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.item()
    return value


def _decode(value):
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        config = value.get("config") or {}
        return np.array(config["value"], dtype=config.get("dtype"))
    return value


class Rescaling(Layer):
    """y = x * scale + offset

    Args:
        scale: a number, or an array broadcast against the input (e.g. one value per channel).
        offset: likewise; ``Rescaling(1 / 127.5, offset=-1)`` maps pixels in [0, 255] to [-1, 1].
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _decode(scale), _decode(offset)
        self.supports_masking = True

    compute_output_shape = same_shape

    def call(self, inputs):
        x = _as_float(self, inputs)
        scale = backend.asarray(self.scale, dtype=x.dtype)
        offset = backend.asarray(self.offset, dtype=x.dtype)
        return x * Tensor._wrap(scale, False) + Tensor._wrap(offset, False)

    def get_config(self):
        return {**super().get_config(), "scale": _encode(self.scale), "offset": _encode(self.offset)}


class Normalization(Layer):
    """y = (x - mean) / max(sqrt(variance), 1e-7);   with ``invert=True``: y = mean + x * max(sqrt(variance), 1e-7)

    ``mean`` and ``variance`` hold one value per position of the kept ``axis`` and are either given
    or computed from data by ``adapt(data)``. Adapted statistics are non-trainable weights, as in
    Keras 3: ``mean`` and ``variance`` of the kept axes' shape and a scalar int32 ``count`` (kept for
    Keras's file layout; Keras 3 leaves it 0 too). Given ones are constants, not weights.

    Args:
        axis: the axes that keep their own statistics (default -1: one mean per feature); the others
            are averaged over. None: one mean and variance for everything.
        mean, variance: fixed statistics (both or neither), broadcast to the kept axes.
        invert: undo a normalization instead (e.g. map a model's outputs back to data units).

    Example: ``norm = Normalization(); norm.adapt(x_train)`` then use ``norm`` as a model's first layer.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        self.axis = tuple(int(a) for a in axis)
        self.input_mean, self.input_variance = mean, variance
        self.invert = invert
        self.supports_masking = True
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization needs both mean and variance or neither (then adapt() computes them), "
                             f"got mean={mean!r} and variance={variance!r}.")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Normalization mean and variance must have the same shape, got "
                                 f"{np.shape(mean)} and {np.shape(variance)}.")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError(f"Normalization mean of shape {np.shape(mean)} has more axes than the "
                                 f"{len(self.axis)} kept by axis={self.axis}.")

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"Normalization layer '{self.name}': axis {self.axis} does not fit inputs of rank {ndim} "
                             f"(shape {tuple(input_shape)}); each axis must be in [-{ndim}, {ndim}).")
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        unknown = [a for a in self._keep_axis if input_shape[a] is None]
        if unknown:
            raise ValueError(f"Normalization layer '{self.name}' keeps statistics along axis {self.axis}, so those "
                             f"axes must have a known size; inputs of shape {tuple(input_shape)} leave axis "
                             f"{unknown[0]} unknown.")
        self._reduce_axis = tuple(a for a in range(ndim) if a not in self._keep_axis)
        self._broadcast_shape = tuple(input_shape[a] if a in self._keep_axis else 1 for a in range(ndim))
        stats_shape = tuple(input_shape[a] for a in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", stats_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", stats_shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", dtype="int32", trainable=False)
        else:
            self._given = [self._broadcast(v, ndim) for v in (self.input_mean, self.input_variance)]
        self.built = True

    compute_output_shape = same_shape

    def _broadcast(self, value, ndim):
        """Given statistics, aligned from the right with the kept axes, then broadcast to them."""
        value = np.asarray(value, dtype=np.float64)
        shape = [1] * ndim
        for i in range(1, value.ndim + 1):
            shape[self._keep_axis[-i]] = value.shape[-i]
        return backend.asarray(np.broadcast_to(value.reshape(shape), self._broadcast_shape).astype(self.dtype))

    def adapt(self, data) -> None:
        """Set ``mean`` and ``variance`` from ``data``: an array (or Tensor) of samples, or an iterable of
        batches (each an array, or an ``(x, y)`` tuple whose x is used)."""
        xp = backend.xp
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, (list, tuple)) and data and not hasattr(data[0], "shape"):
            data = np.asarray(data)                   # nested lists of numbers: one array, not batches
        if hasattr(data, "shape"):
            batches, shape = [data], tuple(data.shape)
        elif hasattr(data, "__iter__"):
            iterator = iter(data)
            first = next(iterator, None)
            if first is None:
                raise ValueError("Normalization.adapt() got an empty iterable; pass an array of samples or at least "
                                 "one batch.")
            first = first[0] if isinstance(first, tuple) else first
            if not hasattr(first, "shape"):
                raise TypeError(f"Normalization.adapt() expects batches that are arrays, got a "
                                f"{type(first).__name__}; yield NumPy arrays (or (x, y) tuples of them).")
            batches, shape = itertools.chain([first], iterator), tuple(first.shape)
        else:
            raise TypeError(f"Normalization.adapt() expects an array of samples or an iterable of batches, got "
                            f"{type(data).__name__}.")
        if not self.built:
            self._build_shape = shape
            self.build(shape)
        if self.input_mean is not None:
            raise ValueError(f"Normalization layer '{self.name}' was given mean and variance, so there is nothing "
                             f"to adapt; create it without them to compute them from data.")
        stats_shape = tuple(self.adapt_mean.shape)
        # statistics are accumulated in float64 so long sums of float32 data keep their precision
        mean, var, count = xp.zeros(stats_shape), xp.zeros(stats_shape), 0
        for batch in batches:
            batch = batch[0] if isinstance(batch, tuple) else batch
            batch = backend.asarray(batch.data if isinstance(batch, Tensor) else batch).astype(xp.float64)
            if batch.ndim != len(self._broadcast_shape) or any(
                    batch.shape[a] != self._broadcast_shape[a] for a in self._keep_axis):
                raise ValueError(f"Normalization layer '{self.name}' keeps axis {self.axis} of inputs shaped like "
                                 f"{self._broadcast_shape} (1: averaged over), but adapt() got data of shape "
                                 f"{tuple(batch.shape)}.")
            n = int(np.prod([batch.shape[a] for a in self._reduce_axis], dtype=np.int64))
            batch_mean, batch_var = batch.mean(axis=self._reduce_axis), batch.var(axis=self._reduce_axis)
            # merge with what came before (Chan et al.'s parallel variance): both parts' spread about the new mean
            weight = n / (count + n)
            new_mean = mean * (1 - weight) + batch_mean * weight
            var = (var + (mean - new_mean) ** 2) * (1 - weight) + (batch_var + (batch_mean - new_mean) ** 2) * weight
            mean, count = new_mean, count + n
        self.adapt_mean.data = mean.astype(self.adapt_mean.dtype)
        self.adapt_variance.data = var.astype(self.adapt_variance.dtype)

    def call(self, inputs):
        x = _as_float(self, inputs)
        if self.input_mean is None:
            mean = self.adapt_mean.data.reshape(self._broadcast_shape)
            variance = self.adapt_variance.data.reshape(self._broadcast_shape)
        else:
            mean, variance = self._given
        xp = backend.xp
        # statistics are constants here (no gradient flows to them)
        std = xp.maximum(xp.sqrt(variance), EPSILON).astype(x.dtype)
        mean = Tensor._wrap(mean.astype(x.dtype), False)
        if self.invert:
            return mean + x * Tensor._wrap(std, False)
        return (x - mean) / Tensor._wrap(std, False)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(), "variance": np.array(self.input_variance).tolist()}
