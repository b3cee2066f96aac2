"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape, Lambda, and activation layers
(ReLU, LeakyReLU, Softmax, ELU, and PReLU, whose slope is learned)."""
from __future__ import annotations

import numpy as np

from shendu import activations as activations_module
from shendu import backend, ops
from shendu import constraints as constraints_module
from shendu import initializers as initializers_module
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer, same_shape, unique_name
from shendu.layers.symbolic import KerasTensor, flatten_shapes, is_shape, map_shapes, shape_str
from shendu.random import SeedGenerator
from shendu.tensor import Tensor


class InputLayer(Layer):
    """The entry of a functional model: it holds the symbolic input tensor of ``batch_shape``."""
    _accepts_strings = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
                 input_tensor=None, input_shape=None, batch_input_shape=None, **kwargs):
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype)
        shape = shape if shape is not None else input_shape
        batch_shape = batch_shape if batch_shape is not None else batch_input_shape
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input needs a shape: Input(shape=(28, 28, 1)) for one sample's shape "
                                 "(the batch axis is added for you).")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.batch_shape = tuple(batch_shape)
        self._batch_input_shape = self.batch_shape
        self.output = KerasTensor(self.batch_shape, self.dtype if dtype is not None else "float32", None,
                                  name=self.name)
        self.output.input_layer = self
        self.built = True

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          **kwargs) -> KerasTensor:
    """A symbolic input for the functional API: ``x = Input(shape=(784,))``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name,
                      **kwargs).output


def conform_rank(x, batch_shape):
    """Data with one trailing size-1 axis more or fewer than an Input expects is reshaped to it, as
    tf.keras 2 and Keras 3 do: (N, 28, 28) enters a (None, 28, 28, 1) input, (N, 1) a (None,) one."""
    if not isinstance(x, Tensor) or batch_shape is None:
        return x
    rank, expected = x.ndim, len(batch_shape)
    if rank == expected + 1 and x.shape[-1] == 1:
        return ops.squeeze(x, -1)
    if rank == expected - 1 and batch_shape[-1] == 1:
        return ops.expand_dims(x, -1)
    return x


class Dense(Layer):
    """a = f(x W + b): every input connected to every unit. W is (input_dim, units), b is (units,)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, quantization_config=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if quantization_config is not None:
            raise ValueError(f"Dense: quantized layers are not supported, got quantization_config={quantization_config!r}.")
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}.")
        self.units = int(units)
        self.activation = activations_module.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"Dense layer '{self.name}' needs the last input axis to be known, got {input_shape}.")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    @property
    def activation(self):
        return self._activation

    @activation.setter
    def activation(self, value):
        # None means linear, at construction and when set later (``layer.activation = None``)
        self._activation = activations_module.get(value)

    def compute_output_shape(self, input_shape):
        self._check_features(input_shape)
        return tuple(input_shape[:-1]) + (self.units,)

    def _check_features(self, shape):
        if self.built and shape[-1] is not None and shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Dense layer '{self.name}' expects inputs with {self.kernel.shape[0]} features on "
                             f"the last axis, so an input of shape {shape_str(shape)} is incompatible with the layer"
                             + ("; add Flatten() before it." if len(shape) > 2 else "."))

    def call(self, inputs):
        self._check_features(inputs.shape)
        if self.activation is activations_module.relu:       # the most common case, one fused op
            return ops.linear(inputs, self.kernel, self.bias, relu=True)
        return self.activation(ops.linear(inputs, self.kernel, self.bias))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations_module.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers_module.serialize(self.kernel_initializer),
                "bias_initializer": initializers_module.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers_module.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers_module.serialize(self.bias_regularizer),
                "kernel_constraint": constraints_module.serialize(self.kernel_constraint),
                "bias_constraint": constraints_module.serialize(self.bias_constraint), "quantization_config": None}


class Activation(Layer):
    """a = f(z) as a layer of its own."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations_module.get(activation)
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations_module.serialize(self.activation)}


def _check_noise_shape(noise_shape):
    """``noise_shape`` as a tuple of positive ints or None, or a ValueError naming what is wrong."""
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (tuple, list)):
        raise ValueError("Invalid value received for argument `noise_shape`. Expected a tuple or list of integers. "
                         f"Received: noise_shape={noise_shape!r}")
    if any(d is not None and (isinstance(d, bool) or not isinstance(d, int)) for d in noise_shape):
        raise ValueError("Invalid value received for argument `noise_shape`. Expected all elements to be integers "
                         f"or None. Received: noise_shape={noise_shape!r}")
    if any(d is not None and d <= 0 for d in noise_shape):
        raise ValueError("Invalid value received for argument `noise_shape`. Expected all dimensions to be positive "
                         f"integers or None. Received: noise_shape={noise_shape!r}")
    return tuple(noise_shape)


class Dropout(Layer):
    """Training: zero each value with probability ``rate`` and scale the rest by 1/(1-rate); inference: identity."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                             f"Received: rate={rate}")
        self.rate, self.seed = float(rate), seed
        self.noise_shape = _check_noise_shape(noise_shape)
        # Keras holds a generator only when something is drawn; seed=None follows the shared one
        self.seed_generator = SeedGenerator(seed) if self.rate > 0 else None
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def call(self, inputs, training=None):
        if not training or self.rate == 0 or self.noise_shape is None:
            rng = self.seed_generator.generator if self.seed_generator is not None else None
            return ops.dropout(inputs, self.rate, rng=rng, training=bool(training))
        # one mask of noise_shape (None: the input's size), shared along the axes where it is 1
        shape = tuple(d if n is None else n for n, d in zip(self.noise_shape, inputs.shape))
        rng = self.seed_generator.generator
        mask = (rng.random(shape) >= self.rate) / (1.0 - self.rate)
        return inputs * Tensor._wrap(mask.astype(inputs.dtype), False)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    keeps_input_dtype = True

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            # channels last first, so the flat order matches a channels_last model's
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one entry may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        for d in self.target_shape:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < -1:
                raise ValueError(f"Reshape: each entry of target_shape must be a non-negative integer, or -1 for "
                                 f"the one axis to infer; received target_shape={self.target_shape}.")
        if self.target_shape.count(-1) > 1:
            raise ValueError(f"Reshape: target_shape may hold at most one unknown dimension (-1), since only one "
                             f"axis can be inferred; received target_shape={self.target_shape}.")
        self._build_at_init()

    keeps_input_dtype = True

    def compute_output_shape(self, input_shape):
        """The target shape after the batch axis; a -1 is worked out when every input axis is known."""
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        per_sample = int(np.prod(rest, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if (-1 not in self.target_shape and known != per_sample) or known == 0 or per_sample % known:
            raise ValueError(f"Reshape layer '{self.name}': an input sample of shape {tuple(rest)} ({per_sample} "
                             f"values) cannot be reshaped to {self.target_shape}.")
        return (input_shape[0],) + tuple(per_sample // known if d == -1 else d for d in self.target_shape)

    def call(self, inputs):
        per_sample = int(np.prod(inputs.shape[1:]))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if (-1 not in self.target_shape and known != per_sample) or (known == 0 or per_sample % known):
            raise ValueError(f"Reshape layer '{self.name}': an input sample of shape {tuple(inputs.shape[1:])} "
                             f"({per_sample} values) cannot be reshaped to {self.target_shape}.")
        return ops.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Lambda(Layer):
    """Wrap an arbitrary function of the inputs as a layer. It is saved by name only: loading a model
    that contains one needs the function passed in ``custom_objects`` (code is never read from a file)."""
    _accepts_strings = True

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function, self.arguments = function, arguments or {}
        self._output_shape_rule = output_shape
        self._mask = mask

    def compute_output_shape(self, input_shape):
        """``output_shape`` as given: a callable of the input shape, or a shape without the batch axis.
        Without it the function is dry-run (see ``Layer.compute_output_shape``)."""
        rule = self._output_shape_rule
        if rule is None:
            return super().compute_output_shape(input_shape)
        if callable(rule):
            return rule(input_shape)
        batch = next(iter(flatten_shapes(input_shape)), (None,))[0]
        return map_shapes(lambda s: (batch,) + tuple(s), tuple(rule) if is_shape(rule) else rule)

    def compute_output_spec(self, inputs, *args, **kwargs):
        if self._output_shape_rule is None:      # run the function itself, on the inputs' own dtypes
            return self._dry_run_spec(inputs, args, kwargs)
        return super().compute_output_spec(inputs, *args, **kwargs)

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        if callable(self._mask):
            return self._mask(inputs, mask)
        return self._mask

    def get_config(self):
        return {**super().get_config(), "function": getattr(self.function, "__name__", "lambda"),
                "output_shape": self._output_shape_rule, "arguments": self.arguments}


class TensorOp(Layer):
    """An arithmetic op written on symbolic tensors (``x + y`` in functional code), replayed on real ones."""

    def __init__(self, fn, op_name, **kwargs):
        super().__init__(name=unique_name(op_name), **kwargs)
        self.fn = fn

    def call(self, inputs):
        return self.fn(*inputs)


class OutputMask(Layer):
    """The mask carried by a layer's output, as a graph node: ``get_keras_mask(y)`` on a symbolic ``y``. When
    the model runs it returns the real output's mask (bool), so ``Model(inputs, get_keras_mask(y))`` works."""

    def __init__(self, mask_shape, **kwargs):
        super().__init__(name=kwargs.pop("name", None) or unique_name("keras_mask"), **kwargs)
        self.mask_shape = tuple(mask_shape)

    def compute_output_spec(self, inputs, *args, **kwargs):
        return KerasTensor(self.mask_shape, "bool")

    def call(self, inputs):
        mask = getattr(inputs, "_keras_mask", None)
        if mask is None:
            raise ValueError(f"OutputMask '{self.name}': the tensor of shape {tuple(inputs.shape)} carries no mask "
                             f"at run time, though its symbolic counterpart had one of shape {self.mask_shape}.")
        return Tensor._wrap(backend.asarray(mask.data if isinstance(mask, Tensor) else mask).astype(bool), False)

    def get_config(self):
        return {**super().get_config(), "mask_shape": list(self.mask_shape)}


class ReLU(Layer):
    """a = min(max(z, threshold·slope...), max_value): Keras's ReLU with its optional cap and leak."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"max_value of a ReLU layer cannot be a negative value. Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError("negative_slope of a ReLU layer cannot be None or a negative value. Received: "
                             f"negative_slope={negative_slope}")
        if threshold is None or threshold < 0:
            raise ValueError(f"threshold of a ReLU layer cannot be None or a negative value. Received: "
                             f"threshold={threshold}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def call(self, inputs):
        if self.negative_slope == 0 and self.threshold == 0:
            out = ops.relu(inputs)
        else:
            # strictly above the threshold passes (Keras's rule): x == threshold gives slope·0 = 0
            shifted = inputs - self.threshold
            out = ops.where((inputs > self.threshold).data, inputs, shifted * self.negative_slope)
        if self.max_value is not None:
            out = ops.minimum(out, self.max_value)
        return out

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """a = z if z > 0 else negative_slope·z (tf.keras 2's ``alpha=`` is accepted too)."""

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        negative_slope = alpha if alpha is not None else negative_slope
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or a negative value. "
                             f"Received: negative_slope={negative_slope}")
        self.negative_slope = float(negative_slope)
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def call(self, inputs):
        return ops.leaky_relu(inputs, alpha=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """a = softmax(z) along ``axis``; masked positions get probability 0."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.softmax(inputs, axis=self.axis)
        mask = mask.data if isinstance(mask, Tensor) else backend.asarray(mask)
        if mask.ndim > inputs.ndim:
            raise ValueError(f"Softmax layer '{self.name}': the mask must be broadcastable to the inputs and must not "
                             f"have more dimensions than them; got mask {tuple(mask.shape)} for inputs "
                             f"{tuple(inputs.shape)}.")
        if any(m not in (1, d) for m, d in zip(mask.shape[::-1], inputs.shape[::-1])):
            raise ValueError(f"Softmax layer '{self.name}': the mask of shape {tuple(mask.shape)} must be broadcastable "
                             f"to the inputs {tuple(inputs.shape)} (aligned from the last axis, each mask axis 1 or "
                             f"equal), e.g. a (batch, 1, keys) mask for (batch, queries, keys) scores.")
        keep = mask if mask.dtype == bool else mask > 0.5
        # a large negative logit where masked: exp underflows to 0 without producing nan
        y = ops.softmax(ops.where(keep, inputs, -1e9), axis=self.axis)
        # a fully masked row would come out uniform: masked positions get exactly 0, as in Keras 3
        return ops.where(keep, y, 0.0)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class ELU(Layer):
    """a = z if z > 0 else alpha·(e^z - 1)"""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """a = max(z, 0) - alpha * max(-z, 0): a leaky ReLU whose negative slope ``alpha`` is learned.

    Args:
        alpha_initializer: fills ``alpha`` (zeros: the layer starts as a plain ReLU).
        alpha_regularizer, alpha_constraint: applied to ``alpha``.
        shared_axes: input axes (batch is 0) along which one slope is shared, e.g. ``[1, 2]`` for
            (batch, height, width, channels) feature maps gives one slope per channel.

    ``alpha`` has the shape of one sample, (d1, d2, ...), with 1 on each shared axis
    (He et al., 2015, https://arxiv.org/abs/1502.01852).
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers_module.get(alpha_initializer)
        self.alpha_regularizer = regularizers_module.get(alpha_regularizer)
        self.alpha_constraint = constraints_module.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]
        self.supports_masking = True

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(input_shape):
                raise ValueError(f"PReLU layer '{self.name}': shared_axes {self.shared_axes} must name input axes "
                                 f"1..{len(input_shape) - 1} (0 is the batch) of inputs of shape {tuple(input_shape)}.")
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"PReLU layer '{self.name}' needs every unshared input axis known to size 'alpha', got "
                             f"{tuple(input_shape)}; share the unknown axes, e.g. shared_axes=[1].")
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        self.built = True

    compute_output_shape = same_shape

    def call(self, inputs):
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers_module.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers_module.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints_module.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}
