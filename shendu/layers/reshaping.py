"""Layers that change the spatial size or order of axes: UpSampling1D/2D (repeat steps or pixels),
ZeroPadding1D/2D, Cropping1D/2D, and Permute."""
from __future__ import annotations

from shendu import ops
from shendu.layers.base import Layer
from shendu.layers.symbolic import shape_str


def _pairs(padding, name):
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    padding = tuple(padding)
    if len(padding) == 2 and all(isinstance(p, int) for p in padding):
        return ((padding[0], padding[0]), (padding[1], padding[1]))
    if len(padding) == 2 and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in padding):
        pairs = tuple(tuple(int(v) for v in p) for p in padding)
        if any(v < 0 for p in pairs for v in p):
            raise ValueError(f"{name}: expected non-negative sizes, got {padding!r}.")
        return pairs
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
        self._check_rank(input_shape)
        self.built = True

    def _check_rank(self, input_shape):
        if len(input_shape) != 4:
            axes = "(batch, channels, height, width)" if self._rows == 2 else "(batch, height, width, channels)"
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects inputs of rank 4 {axes} but got "
                             f"shape {tuple(input_shape)} (rank {len(input_shape)}).")

    def compute_output_shape(self, input_shape):
        """The input shape with rows and columns resized by ``_resize`` (None stays None)."""
        self._check_rank(input_shape)
        out = list(input_shape)
        r = self._rows
        for i in range(2):
            out[r + i] = None if out[r + i] is None else self._resize(i, out[r + i], input_shape)
        return tuple(out)


class UpSampling2D(Spatial2D):
    """Repeat every row ``size[0]`` times and every column ``size[1]`` times (nearest neighbour)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        interpolation = str(interpolation).lower()
        if interpolation not in ops.resize_interpolations:
            raise ValueError(f"UpSampling2D: interpolation must be one of {', '.join(ops.resize_interpolations)}, "
                             f"got {interpolation!r}.")
        self.interpolation = interpolation

    def _resize(self, i, size, input_shape):
        return size * self.size[i]

    def call(self, inputs):
        r = self._rows
        if self.interpolation != "nearest":      # a linear map per axis, TensorFlow's half-pixel sampling
            h, w = inputs.shape[r], inputs.shape[r + 1]
            return ops.resize(inputs, (h * self.size[0], w * self.size[1]), self.interpolation, self.data_format)
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

    def _resize(self, i, size, input_shape):
        return size + sum(self.padding[i])

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
        self.compute_output_shape(input_shape)
        self.built = True

    def _resize(self, i, size, input_shape):
        before, after = self.cropping[i]
        if before + after >= size:
            what = ("rows", "columns")[i]
            raise ValueError(f"Cropping2D layer '{self.name}': Values in `cropping` argument should be smaller "
                             f"than the corresponding spatial dimension of the input; cropping {before} + {after} "
                             f"{what} leaves nothing of an input with {size} {what} (input shape "
                             f"{shape_str(input_shape)}).")
        return size - before - after

    def call(self, inputs):
        (t, b), (l, r) = self.cropping
        h, w = inputs.shape[self._rows:self._rows + 2]
        crop = (slice(t, h - b), slice(l, w - r))
        return inputs[(slice(None),) * self._rows + crop]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping], "data_format": self.data_format}


# ---------------------------------------------------------------- sequences (batch, time, features) and Permute

def _before_after(value, name, what):
    """An int n -> (n, n); a pair stays: Keras's ``standardize_tuple`` with zero allowed."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise ValueError(f"{name}: {what} must be a non-negative int or a pair (before, after) of them, "
                         f"got {value!r}.")
    return pair


class Sequence1D(Layer):
    """Base: inputs of rank 3, (batch, time, features)."""

    _time = 1          # the axis of the steps

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        """The input shape with the steps resized by ``_resize`` (None stays None)."""
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects inputs of rank 3 (batch, time, "
                             f"features) but got shape {tuple(input_shape)} (rank {len(input_shape)}).")
        out = list(input_shape)
        t = self._time if getattr(self, "data_format", "channels_last") == "channels_last" else 2
        out[t] = None if out[t] is None else self._resize(out[t], input_shape)
        return tuple(out)


class UpSampling1D(Sequence1D):
    """Repeat every time step ``size`` times: (batch, steps, features) -> (batch, steps * size, features)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ValueError(f"UpSampling1D size must be a positive int, got {size!r}.")
        self.size = size

    def _resize(self, steps, input_shape):
        return steps * self.size

    def call(self, inputs):
        b, t, c = inputs.shape
        # broadcast a new axis of length size, then fold it into time; the gradient sums the copies
        x = ops.broadcast_to(ops.reshape(inputs, (b, t, 1, c)), (b, t, self.size, c))
        return ops.reshape(x, (b, t * self.size, c))

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class ZeroPadding1D(Sequence1D):
    """Add ``padding[0]`` zero steps before and ``padding[1]`` after each sequence.

    Args:
        padding: an int (both ends) or (before, after).
        data_format: 'channels_last' (batch, time, features), the default, or 'channels_first'
            (batch, features, time).
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _before_after(padding, "ZeroPadding1D", "padding")
        self.data_format = data_format or "channels_last"
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"ZeroPadding1D: data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}.")

    def _resize(self, steps, input_shape):
        return steps + sum(self.padding)

    def call(self, inputs):
        if self.data_format == "channels_first":
            return ops.pad(inputs, ((0, 0), (0, 0), self.padding))
        return ops.pad(inputs, ((0, 0), self.padding, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping1D(Sequence1D):
    """Remove ``cropping[0]`` steps from the start and ``cropping[1]`` from the end of each sequence."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _before_after(cropping, "Cropping1D", "cropping")

    def _resize(self, steps, input_shape):
        if sum(self.cropping) >= steps:
            raise ValueError(f"`cropping` parameter of `Cropping1D` layer must be smaller than the input length: "
                             f"layer '{self.name}' crops {self.cropping[0]} + {self.cropping[1]} steps, which leaves "
                             f"nothing of sequences with {steps} steps (input shape {shape_str(input_shape)}).")
        return steps - sum(self.cropping)

    def call(self, inputs):
        start, end = self.cropping
        return inputs[:, start:inputs.shape[1] - end, :]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class Permute(Layer):
    """Reorder the axes of each sample: output axis i is input axis ``dims[i - 1]`` (the batch stays first).

    Args:
        dims: a permutation of 1..rank-1, e.g. ``(2, 1)`` swaps time and features of (batch, time, features).
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute layer: dims must be a permutation "
                             f"of 1..{len(self.dims)} (axis 0 is the batch and "
                             f"stays in place), got {tuple(dims)!r}.")

    keeps_input_dtype = True

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute layer '{self.name}' with dims {self.dims} expects inputs of rank "
                             f"{len(self.dims) + 1} but got shape {tuple(input_shape)}.")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
