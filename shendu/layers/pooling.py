"""Pooling layers: local max/average over windows, and global pooling over all positions."""
from __future__ import annotations

from shendu import backend, ops
from shendu.layers.base import Layer
from shendu.layers.conv import conv_output_length, layout, spatial_axes, spatial_output_shape
from shendu.layers.input_spec import InputSpec, check_input_spec
from shendu.tensor import Tensor


def _spec(rank, data_format):
    return InputSpec(ndim=rank + 2, layout=layout(rank, data_format))


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
        self.input_spec = _spec(self.rank, self.data_format)
        self._build_at_init()

    def compute_output_shape(self, input_shape):
        check_input_spec(self, self.input_spec, input_shape)
        lengths = [conv_output_length(n, k, s, self.padding) for n, k, s in
                   zip(spatial_axes(self, input_shape), self.pool_size, self.strides)]
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        return spatial_output_shape(self, input_shape, lengths, channels)

    def call(self, inputs):
        pool = getattr(ops, self.op)
        size = self.pool_size if self.rank != 1 else self.pool_size[0]
        strides = self.strides if self.rank != 1 else self.strides[0]
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


class MaxPooling3D(BasePooling):
    """y = the largest value in each pool_size window of a volume (batch, depth, height, width, channels)."""
    rank, op = 3, "max_pool3d"


class AveragePooling3D(BasePooling):
    """y = the mean of each window of a volume ('same' padding averages only the real values)."""
    rank, op = 3, "avg_pool3d"


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
        self.input_spec = _spec(self.rank, self.data_format)
        self._build_at_init()

    def compute_output_shape(self, input_shape):
        check_input_spec(self, self.input_spec, input_shape)
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        if not self.keepdims:
            return (input_shape[0], channels)
        return spatial_output_shape(self, input_shape, (1,) * self.rank, channels)

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


class GlobalAveragePooling3D(GlobalPooling):
    rank, mode = 3, "mean"


class GlobalMaxPooling3D(GlobalPooling):
    rank, mode = 3, "max"


MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
MaxPool3D, AvgPool3D, GlobalAvgPool3D, GlobalMaxPool3D = (MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D,
                                                          GlobalMaxPooling3D)
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
