"""More convolution layers: Conv3D, Conv1DTranspose/Conv3DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D.

Weights laid out as tf.keras stores them:
  Conv3D                  kernel (kd, kh, kw, in/groups, filters)
  ConvNDTranspose         kernel (*kernel_size, filters, in)
  DepthwiseConvND         kernel (*kernel_size, in, depth_multiplier), output channel c * multiplier + m
  SeparableConvND         depthwise_kernel (*kernel_size, in, multiplier), pointwise_kernel (1, ..., 1,
                          in * multiplier, filters), bias (filters,)
``data_format='channels_first'`` inputs are transposed to channels-last and back.
"""
from __future__ import annotations

from shendu import activations as activations_module
from shendu import constraints as constraints_module
from shendu import initializers as initializers_module
from shendu import ops
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer
from shendu.layers.conv import BaseConv, BaseConvTranspose, Conv2DTranspose, _tuple
from shendu.layers.conv_shapes import conv_output_shape
from shendu.ops.window import layout


class Conv3D(BaseConv):
    """y[n,i,j,l,f] = act(Σ_{a,b,e,c} x[n, i·s+a·d, j·s+b·d, l·s+e·d, c] K[a,b,e,c,f] + b[f])"""
    rank = 3

    def _convolve(self, x, kernel, bias):
        return ops.convolution(x, kernel, bias, self.strides, self.padding, self.dilation_rate, self.groups)


class Conv1DTranspose(BaseConvTranspose):
    """Transposed 1-D convolution: (batch, steps, channels) -> (batch, steps * strides (+ ...), filters)."""
    rank = 1


class Conv3DTranspose(BaseConvTranspose):
    """Transposed 3-D convolution over (batch, depth, height, width, channels)."""
    rank = 3


class _Spatial(Layer):
    """What depthwise and separable layers share: window arguments, data_format, activation, rank checks."""
    rank = 2

    def __init__(self, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                 use_bias, bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = type(self).__name__
        if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(f"{who}: depth_multiplier must be a positive int, got {depth_multiplier!r}.")
        self.depth_multiplier = depth_multiplier
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size", who)
        self.strides = _tuple(strides, self.rank, "strides", who)
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate", who)
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same', got {padding!r}.")
        self.padding = padding
        self.data_format = data_format or "channels_last"
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
        self.activation = activations_module.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.bias_constraint = constraints_module.get(bias_constraint)

    def _channels(self, input_shape) -> int:
        who = f"{type(self).__name__} layer '{self.name}'"
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{who} expects inputs of rank {self.rank + 2} {layout(self.rank)} but got shape "
                             f"{tuple(input_shape)} (rank {len(input_shape)}).")
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        if channels is None:
            raise ValueError(f"{who}: the channels axis of the input {tuple(input_shape)} must be known.")
        return channels

    def call(self, inputs):
        channels_first = self.data_format == "channels_first"
        if channels_first:
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, self.rank + 2)) + (1,))
        y = self._activated(inputs)
        if channels_first:
            y = ops.transpose(y, (0, self.rank + 1) + tuple(range(1, self.rank + 1)))
        return y

    def _activated(self, x):
        """activation(convolution of x)."""
        return self.activation(self._convolve(x))

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "activation": activations_module.serialize(self.activation), "use_bias": self.use_bias}

    def _tail_config(self):
        return {"bias_initializer": initializers_module.serialize(self.bias_initializer),
                "bias_regularizer": regularizers_module.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers_module.serialize(self.activity_regularizer),
                "bias_constraint": constraints_module.serialize(self.bias_constraint)}


class BaseDepthwiseConv(_Spatial):
    """y[n,p,c·M+m] = act(Σ_a x[n, p·s+a·d, c] K[a,c,m] + b[c·M+m]): every channel filtered on its own."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, activity_regularizer, bias_constraint,
                         **kwargs)
        self.depthwise_initializer = initializers_module.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers_module.get(depthwise_regularizer)
        self.depthwise_constraint = constraints_module.get(depthwise_constraint)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        # Keras 3 names this weight 'kernel' (tf.keras: 'depthwise_kernel'; both attributes work here)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint)
        self.bias = self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    @property
    def depthwise_kernel(self):
        return self.kernel

    def _convolve(self, x):
        return ops.depthwise_conv(x, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)

    def compute_output_shape(self, input_shape):
        channels = input_shape[1 if self.data_format == "channels_first" else -1]
        return conv_output_shape(self, input_shape, None if channels is None else channels * self.depth_multiplier)

    def get_config(self):
        return {**super().get_config(),
                "depthwise_initializer": initializers_module.serialize(self.depthwise_initializer),
                "depthwise_regularizer": regularizers_module.serialize(self.depthwise_regularizer),
                "depthwise_constraint": constraints_module.serialize(self.depthwise_constraint),
                **self._tail_config()}


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2-D convolution: kernel (kh, kw, channels, depth_multiplier)."""
    rank = 2


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1-D convolution: kernel (kernel_size, channels, depth_multiplier)."""
    rank = 1


class BaseSeparableConv(_Spatial):
    """y = act(pointwise(depthwise(x)) + b): a depthwise conv, then a 1x1 conv mixing the channels."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, activity_regularizer, bias_constraint,
                         **kwargs)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{type(self).__name__}: filters must be a positive integer, got {filters!r}.")
        self.filters = filters
        self.depthwise_initializer = initializers_module.get(depthwise_initializer)
        self.pointwise_initializer = initializers_module.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers_module.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers_module.get(pointwise_regularizer)
        self.depthwise_constraint = constraints_module.get(depthwise_constraint)
        self.pointwise_constraint = constraints_module.get(pointwise_constraint)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer, regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def _convolve(self, x, relu=False):
        return ops.separable_conv(x, self.depthwise_kernel, self.pointwise_kernel, self.bias, self.strides,
                                  self.padding, self.dilation_rate, relu=relu)

    def _activated(self, x):
        if self.activation is activations_module.relu:      # ReLU fused into the pointwise product's op
            return self._convolve(x, relu=True)
        return self.activation(self._convolve(x))

    def compute_output_shape(self, input_shape):
        return conv_output_shape(self, input_shape, self.filters)

    def get_config(self):
        config = super().get_config()
        config = {key: config[key] for key in ("name", "trainable", "dtype", "depth_multiplier")} | {
            "filters": self.filters, **{k: v for k, v in config.items()
                                        if k not in ("name", "trainable", "dtype", "depth_multiplier")}}
        return {**config,
                "depthwise_initializer": initializers_module.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers_module.serialize(self.pointwise_initializer),
                "depthwise_regularizer": regularizers_module.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers_module.serialize(self.pointwise_regularizer),
                "depthwise_constraint": constraints_module.serialize(self.depthwise_constraint),
                "pointwise_constraint": constraints_module.serialize(self.pointwise_constraint),
                **self._tail_config()}


class SeparableConv2D(BaseSeparableConv):
    """Separable 2-D convolution: depthwise (kh, kw, in, multiplier) then pointwise (1, 1, in*multiplier, filters)."""
    rank = 2


class SeparableConv1D(BaseSeparableConv):
    """Separable 1-D convolution: depthwise (k, in, multiplier) then pointwise (1, in*multiplier, filters)."""
    rank = 1


Convolution3D, Convolution1DTranspose, Convolution3DTranspose = Conv3D, Conv1DTranspose, Conv3DTranspose
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
