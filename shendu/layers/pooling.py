"""Pooling layers: local max/average over windows, and global pooling over all positions."""
from __future__ import annotations

from shendu import backend, ops
from shendu.layers.base import Layer
from shendu.tensor import Tensor


class BasePooling(Layer):
    rank = 2
    op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        r = self.rank
        self.pool_size = (pool_size,) * r if isinstance(pool_size, int) else tuple(pool_size)
        strides = self.pool_size if strides is None else strides
        self.strides = (strides,) * r if isinstance(strides, int) else tuple(strides)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', got {padding!r}.")
        self.data_format = data_format or "channels_last"

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            axes = "(batch, steps, channels)" if self.rank == 1 else "(batch, height, width, channels)"
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects inputs of rank {self.rank + 2} "
                             f"{axes} but got shape {tuple(input_shape)}.")
        self.built = True

    def call(self, inputs):
        pool = getattr(ops, self.op)
        size = self.pool_size if self.rank == 2 else self.pool_size[0]
        strides = self.strides if self.rank == 2 else self.strides[0]
        if self.data_format == "channels_first":
            perm = (0,) + tuple(range(2, self.rank + 2)) + (1,)
            y = pool(ops.transpose(inputs, perm), size, strides, self.padding)
            return ops.transpose(y, (0, self.rank + 1) + tuple(range(1, self.rank + 1)))
        return pool(inputs, size, strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "padding": self.padding,
                "strides": list(self.strides), "data_format": self.data_format}


class MaxPooling2D(BasePooling):
    """y = the largest value in each pool_size window (slid by strides)."""
    rank, op = 2, "max_pool2d"


class AveragePooling2D(BasePooling):
    """y = the mean of each window ('same' padding averages only the real values)."""
    rank, op = 2, "avg_pool2d"


class MaxPooling1D(BasePooling):
    rank, op = 1, "max_pool1d"


class AveragePooling1D(BasePooling):
    rank, op = 1, "avg_pool1d"


class GlobalPooling(Layer):
    """Reduce over every spatial/time axis, leaving (batch, channels) (or keepdims)."""
    rank = 2
    mode = "mean"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        self.keepdims = keepdims
        # only the 1-D average reads a mask; the max ignores it (tf.keras and Keras 3 do the same)
        self.supports_masking = self.rank == 1 and self.mode == "mean"

    def call(self, inputs, mask=None):
        axes = tuple(range(2, self.rank + 2)) if self.data_format == "channels_first" else tuple(range(1, self.rank + 1))
        if mask is not None and self.supports_masking:
            # masked (padded) steps must not count: weight the mean by the mask
            m = backend.asarray(mask).astype(inputs.dtype)
            m = m[:, None, :] if self.data_format == "channels_first" else m[..., None]   # broadcast over channels
            total = ops.sum(inputs * Tensor._wrap(m, False), axis=axes, keepdims=self.keepdims)
            count = backend.xp.maximum(m.sum(axis=axes, keepdims=self.keepdims), 1)
            return total / Tensor._wrap(count, False)
        reduce = ops.mean if self.mode == "mean" else ops.max
        return reduce(inputs, axis=axes, keepdims=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(GlobalPooling):
    rank, mode = 2, "mean"


class GlobalMaxPooling2D(GlobalPooling):
    rank, mode = 2, "max"


class GlobalAveragePooling1D(GlobalPooling):
    rank, mode = 1, "mean"


class GlobalMaxPooling1D(GlobalPooling):
    rank, mode = 1, "max"


MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
