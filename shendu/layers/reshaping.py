"""Layers that change the spatial size: UpSampling2D (repeat pixels), ZeroPadding2D, Cropping2D."""
from __future__ import annotations

from shendu import ops
from shendu.layers.base import Layer


def _pairs(padding, name):
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    padding = tuple(padding)
    if len(padding) == 2 and all(isinstance(p, int) for p in padding):
        return ((padding[0], padding[0]), (padding[1], padding[1]))
    if len(padding) == 2 and all(len(p) == 2 for p in padding):
        return tuple(tuple(int(v) for v in p) for p in padding)
    raise ValueError(f"{name}: expected an int, (rows, cols) or ((top, bottom), (left, right)), got {padding!r}.")


class Spatial2D(Layer):
    """Base: images of rank 4, (batch, height, width, channels) or, channels_first, (batch, channels, height, width)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__}: data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}.")

    @property
    def _rows(self) -> int:
        """The axis of the rows (height); the columns follow it."""
        return 2 if self.data_format == "channels_first" else 1

    def build(self, input_shape):
        if len(input_shape) != 4:
            axes = "(batch, channels, height, width)" if self._rows == 2 else "(batch, height, width, channels)"
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects inputs of rank 4 {axes} but got "
                             f"shape {tuple(input_shape)} (rank {len(input_shape)}).")
        self.built = True


class UpSampling2D(Spatial2D):
    """Repeat every row ``size[0]`` times and every column ``size[1]`` times (nearest neighbour)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if interpolation != "nearest":
            raise ValueError(f"UpSampling2D supports interpolation='nearest', got {interpolation!r}.")
        self.interpolation = interpolation

    def call(self, inputs):
        r = self._rows
        shape = inputs.shape
        h, w = shape[r], shape[r + 1]
        sh, sw = self.size
        # a broadcast view does the repeat; its gradient sums each block back to its source pixel
        spread = shape[:r] + (h, 1, w, 1) + shape[r + 2:]
        x = ops.broadcast_to(ops.reshape(inputs, spread), shape[:r] + (h, sh, w, sw) + shape[r + 2:])
        return ops.reshape(x, shape[:r] + (h * sh, w * sw) + shape[r + 2:])

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}


class ZeroPadding2D(Spatial2D):
    """Add rows and columns of zeros around each image."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = _pairs(padding, "ZeroPadding2D")

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0),) * self._rows + self.padding + ((0, 0),) * (2 - self._rows))

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


class Cropping2D(Spatial2D):
    """Remove rows and columns at the borders of each image."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = _pairs(cropping, "Cropping2D")

    def build(self, input_shape):
        super().build(input_shape)
        for size, (before, after), what in zip(input_shape[self._rows:self._rows + 2], self.cropping,
                                               ("rows", "columns")):
            if size is not None and before + after >= size:
                raise ValueError(f"Cropping2D layer '{self.name}': cropping {before} + {after} {what} leaves "
                                 f"nothing of an input with {size} {what} (input shape {tuple(input_shape)}).")

    def call(self, inputs):
        (t, b), (l, r) = self.cropping
        h, w = inputs.shape[self._rows:self._rows + 2]
        crop = (slice(t, h - b), slice(l, w - r))
        return inputs[(slice(None),) * self._rows + crop]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping], "data_format": self.data_format}
