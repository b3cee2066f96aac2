"""Convolution layers: Conv1D and Conv2D share one rank-generic base; Conv2DTranspose upsamples.

y = f(conv(x, K) + b) with kernels laid out as tf.keras stores them: (kh, kw, in, filters) for
Conv2D, (k, in, filters) for Conv1D, (kh, kw, filters, in) for Conv2DTranspose. Inputs are
channels-last (NHWC); ``data_format='channels_first'`` inputs are transposed in and out.
"""
from __future__ import annotations

from shendu import activations as activations_module
from shendu import constraints as constraints_module
from shendu import initializers as initializers_module
from shendu import ops
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer
from shendu.layers.input_spec import InputSpec
from shendu.ops import conv_fused


def _tuple(value, rank, name, layer, low=1):
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(value)
    if len(value) != rank or not all(isinstance(v, int) and v >= low for v in value):
        kind = "positive" if low == 1 else "non-negative"
        raise ValueError(f"{layer}: {name} must be an int or a tuple of {rank} {kind} ints, got {value!r}.")
    return value


_SPATIAL = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def layout(rank: int, data_format: str = "channels_last") -> str:
    """The axes of a rank-``rank`` convolution's input, for error messages: "(batch, height, width, channels)"."""
    spatial = list(_SPATIAL.get(rank, [f"spatial_{i}" for i in range(1, rank + 1)]))
    axes = ["channels"] + spatial if data_format == "channels_first" else spatial + ["channels"]
    return "(" + ", ".join(["batch"] + axes) + ")"


_AXES = {rank: layout(rank) for rank in (1, 2, 3)}


def conv_output_length(length, kernel, stride, padding, dilation=1):
    """Output size of a convolution or pooling along one axis (None stays None).

    valid: floor((L - d(k-1) - 1) / s) + 1;  same and causal: ceil(L / s).
    """
    if length is None:
        return None
    if padding in ("same", "causal"):
        return (length + stride - 1) // stride
    return (length - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_length(length, kernel, stride, padding, output_padding=None, dilation=1):
    """Output size of a transposed convolution along one axis (None stays None), with k_eff = k + (k-1)(d-1):
    no output_padding: valid L·s + max(k_eff - s, 0), same L·s; else (L-1)·s + k_eff - 2·pad + output_padding
    with pad 0 (valid) or k_eff // 2 (same)."""
    if length is None:
        return None
    k_eff = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        return length * stride + (max(k_eff - stride, 0) if padding == "valid" else 0)
    pad = 0 if padding == "valid" else k_eff // 2
    return (length - 1) * stride + k_eff - 2 * pad + output_padding


def spatial_output_shape(layer, input_shape, lengths, channels):
    """(batch, *new spatial sizes, channels) in the layer's data_format; a size below 1 is an error."""
    if any(n is not None and n < 1 for n in lengths):
        raise ValueError(f"{type(layer).__name__} layer '{layer.name}' would produce an empty output, spatial size "
                         f"{tuple(lengths)}, from an input of shape {tuple(input_shape)}: the input is smaller than "
                         f"the window. Use padding='same', a smaller kernel or stride, or a larger input.")
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return (input_shape[0], channels) + tuple(lengths)
    return (input_shape[0],) + tuple(lengths) + (channels,)


def spatial_axes(layer, input_shape) -> tuple:
    """The sizes of the spatial axes of ``input_shape`` (between batch and channels)."""
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return tuple(input_shape[2:])
    return tuple(input_shape[1:-1])


class BaseConv(Layer):
    """What every convolution layer shares: arguments, kernel and bias creation, activation, config."""

    rank = 2
    transpose = False
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = type(self).__name__
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{who}: filters must be a positive integer, got {filters!r}.")
        if not isinstance(groups, int) or groups < 1 or filters % groups:
            raise ValueError(f"{who}: groups must be a positive int that divides filters={filters}, got "
                             f"groups={groups!r}.")
        self.filters = filters
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size", who)
        self.strides = _tuple(strides, self.rank, "strides", who)
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate", who)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{who}: strides > 1 cannot be combined with dilation_rate > 1 (as in Keras), got "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}; use one of them.")
        padding = str(padding).lower()
        if padding not in self.paddings:
            raise ValueError(f"{who}: padding must be one of {self.paddings}, got {padding!r}.")
        self.padding = padding
        self.data_format = data_format or "channels_last"
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
        self.groups = groups
        self.activation = activations_module.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)

    def build(self, input_shape):
        who = f"{type(self).__name__} layer '{self.name}'"
        if len(input_shape) != self.rank + 2:
            hint = ""
            if self.rank == 2 and len(input_shape) == 3:
                hint = (f" Images need a channels axis: for grayscale use input_shape={tuple(input_shape[1:]) + (1,)} "
                        f"and reshape the data with x.reshape(-1, {', '.join(str(d) for d in input_shape[1:])}, 1).")
            raise ValueError(f"{who} expects inputs of rank {self.rank + 2} {_AXES[self.rank]} but got shape "
                             f"{tuple(input_shape)} (rank {len(input_shape)}).{hint}")
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        if channels is None:
            raise ValueError(f"{who}: the channels axis of the input {tuple(input_shape)} must be known.")
        if channels % self.groups:
            raise ValueError(f"{who}: groups={self.groups} must divide the input's {channels} channels; "
                             f"choose groups among the common divisors of the channels and filters={self.filters}.")
        channels //= self.groups
        shape = self.kernel_size + ((self.filters, channels) if self.transpose else (channels, self.filters))
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        channel_axis = 1 if self.data_format == "channels_first" else -1
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={channel_axis: input_shape[channel_axis]},
                                    layout=layout(self.rank, self.data_format))
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects inputs of rank {self.rank + 2} "
                             f"{layout(self.rank, self.data_format)} but got shape {tuple(input_shape)}.")
        sizes = spatial_axes(self, input_shape)
        if self.transpose:
            padding = getattr(self, "output_padding", None) or (None,) * self.rank
            lengths = [conv_transpose_output_length(n, k, s, self.padding, p, d) for n, k, s, p, d in
                       zip(sizes, self.kernel_size, self.strides, padding, self.dilation_rate)]
        else:
            lengths = [conv_output_length(n, k, s, self.padding, d) for n, k, s, d in
                       zip(sizes, self.kernel_size, self.strides, self.dilation_rate)]
        return spatial_output_shape(self, input_shape, lengths, self.filters)

    def convolution_op(self, inputs, kernel):
        """The convolution alone, without bias or activation, in the layer's data_format: the override
        point Keras documents (e.g. a StandardizedConv2D that normalizes ``kernel`` first). When a
        subclass overrides it, call() adds the bias and applies the activation around it."""
        channels_first = self.data_format == "channels_first"
        if channels_first:
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, self.rank + 2)) + (1,))
        y = self._convolve(inputs, kernel, None)
        if channels_first:
            y = ops.transpose(y, (0, self.rank + 1) + tuple(range(1, self.rank + 1)))
        return y

    def call(self, inputs):
        if type(self).convolution_op is not BaseConv.convolution_op and not self.transpose:
            y = self.convolution_op(inputs, self.kernel)
            if self.use_bias:
                channels_first = self.data_format == "channels_first"
                y = y + ops.reshape(self.bias, (1, self.filters) + (1,) * self.rank if channels_first else (-1,))
            return self.activation(y)
        channels_first = self.data_format == "channels_first"
        if channels_first:
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, self.rank + 2)) + (1,))
        y = self._convolve_activated(inputs, self.kernel, self.bias)
        if y is None:
            y = self.activation(self._convolve(inputs, self.kernel, self.bias))
        if channels_first:
            y = ops.transpose(y, (0, self.rank + 1) + tuple(range(1, self.rank + 1)))
        return y

    def _convolve_activated(self, x, kernel, bias):
        """activation(convolution + bias) as one fused op, or None where this layer has none."""
        return None

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations_module.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers_module.serialize(self.kernel_initializer),
                "bias_initializer": initializers_module.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers_module.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers_module.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers_module.serialize(self.activity_regularizer),
                "kernel_constraint": constraints_module.serialize(self.kernel_constraint),
                "bias_constraint": constraints_module.serialize(self.bias_constraint)}


class Conv2D(BaseConv):
    """y[n,i,j,f] = act(Σ_{a,b,c} x[n, i·s+a·d, j·s+b·d, c] K[a,b,c,f] + b[f])"""
    rank = 2

    def _convolve(self, x, kernel, bias):
        if self.groups > 1:
            return ops.convolution(x, kernel, bias, self.strides, self.padding, self.dilation_rate,
                                   self.groups)
        return ops.conv2d(x, kernel, bias, self.strides, self.padding, self.dilation_rate)

    _then_pool = None   # the pool_size of a MaxPooling2D run inside this call (``call_pooled``), else None

    def _fusable(self) -> bool:
        """undilated, ungrouped, relu or no activation: conv2d_act's case."""
        return (self.groups == 1 and self.dilation_rate == (1, 1)
                and (self.activation is activations_module.relu or self.activation is activations_module.linear))

    def _convolve_activated(self, x, kernel, bias):
        # bias and ReLU fused into the convolution, and the max pool after it when call_pooled asks
        if not self._fusable():
            return None
        activation = "relu" if self.activation is activations_module.relu else "linear"
        if self._then_pool is not None:
            return conv_fused.conv2d_act_pool(x, kernel, bias, self.padding, activation, self._then_pool)
        return conv_fused.conv2d_act(x, kernel, bias, self.strides, self.padding, 1, activation)

    def fuses_pool(self, pool) -> bool:
        """Whether ``call_pooled(x, pool)`` runs this layer and the layer ``pool`` after it as one op: a plain
        stride-1, channels-last Conv2D of conv2d_act's case, then a MaxPooling2D whose windows tile its output
        (strides = pool_size, 'valid'), neither with an activity regularizer, both computing in one dtype."""
        from shendu.layers.pooling import MaxPooling2D

        return (type(self) is Conv2D and type(pool) is MaxPooling2D and self._fusable() and self.strides == (1, 1)
                and self.data_format == "channels_last" and pool.strides == pool.pool_size and pool.padding == "valid"
                and pool.data_format == "channels_last" and self.activity_regularizer is None
                and pool.activity_regularizer is None and self.compute_dtype == pool.compute_dtype)

    def call_pooled(self, x, pool):
        """``pool(self(x))`` as one op, ``conv2d_act_pool`` (``fuses_pool`` says when): the convolution's output
        is pooled block by block while in cache and never written whole. Sequential calls it."""
        self._then_pool = pool.pool_size
        try:
            return self(x)
        finally:
            self._then_pool = None


class Conv1D(BaseConv):
    """y[n,t,f] = act(Σ_{a,c} x[n, t·s+a·d, c] K[a,c,f] + b[f]); padding may also be 'causal'."""
    rank = 1
    paddings = ("valid", "same", "causal")

    def _convolve(self, x, kernel, bias):
        if self.groups > 1:
            return ops.convolution(x, kernel, bias, self.strides, self.padding, self.dilation_rate,
                                   self.groups)
        return ops.conv1d(x, kernel, bias, self.strides, self.padding, self.dilation_rate)

    def _convolve_activated(self, x, kernel, bias):
        # relu or no activation, 'valid' or 'same', undilated, ungrouped: Conv2D's fused op on height 1 (its
        # blocked im2col with the bias and ReLU applied in cache), the sequence as a one-row image
        if not (self.groups == 1 and self.dilation_rate == (1,) and self.padding in ("valid", "same")
                and (self.activation is activations_module.relu or self.activation is activations_module.linear)):
            return None
        n, length, channels = x.shape
        y = conv_fused.conv2d_act(ops.reshape(x, (n, 1, length, channels)), ops.reshape(kernel, (1, *kernel.shape)),
                                  bias, (1, self.strides[0]), self.padding, 1,
                                  "relu" if self.activation is activations_module.relu else "linear")
        return ops.reshape(y, (n, y.shape[2], y.shape[3]))


class BaseConvTranspose(BaseConv):
    """The transposed convolution (the input-gradient of a convolution): upsamples by ``strides``."""
    transpose = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, **kwargs):
        if kwargs.get("groups", 1) != 1:     # tf.keras 2 writes groups=1 into its configs: that one is fine
            raise TypeError(f"{type(self).__name__} has no groups argument (transposed convolutions are not "
                            f"grouped in Keras); remove groups={kwargs['groups']!r}.")
        kwargs.pop("groups", None)
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, **kwargs)
        self.output_padding = None if output_padding is None else _tuple(
            output_padding, self.rank, "output_padding", type(self).__name__, low=0)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{type(self).__name__}: output_padding {self.output_padding} must be smaller than "
                             f"the strides {self.strides} on each axis.")

    def _convolve(self, x, kernel, bias):
        return ops.conv_transpose(x, kernel, bias, self.strides, self.padding, self.dilation_rate,
                                  self.output_padding)

    def get_config(self):
        config = super().get_config()
        config.pop("groups")
        config["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return config


class Conv2DTranspose(BaseConvTranspose):
    """The transposed convolution (the input-gradient of Conv2D): upsamples by ``strides``."""
    rank = 2

    def _convolve(self, x, kernel, bias):
        return ops.conv2d_transpose(x, kernel, bias, self.strides, self.padding, self.dilation_rate,
                                    self.output_padding)


Convolution1D, Convolution2D, Deconvolution2D = Conv1D, Conv2D, Conv2DTranspose
