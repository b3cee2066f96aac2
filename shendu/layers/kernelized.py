"""RandomFourierFeatures: tf.keras 2's ``layers.experimental.RandomFourierFeatures``, random features
whose inner products approximate a shift-invariant kernel (Rahimi & Recht, "Random Features for
Large-Scale Kernel Machines", 2007)."""
from __future__ import annotations

import numpy as np

from shendu import backend, ops
from shendu import initializers as initializers_module
from shendu.layers.base import Layer
from shendu.layers.input_spec import InputSpec

_KERNELS = ("gaussian", "laplacian")


class _Cauchy(initializers_module.Initializer):
    """w ~ Cauchy(0, 1) = tan(π (u - 1/2)), u ~ U(0, 1): the spectral density of the Laplacian kernel."""

    def __call__(self, shape, dtype=None):
        u = self._rng().uniform(0.0, 1.0, shape)
        return backend.xp.tan(np.pi * (u - 0.5)).astype(dtype or backend.floatx)


def _non_negative(w):
    """kernel_scale stays >= 0 after each update (tf.keras's 'NonNeg' constraint)."""
    return backend.xp.maximum(w.data, 0.0)


class RandomFourierFeatures(Layer):
    """y = cos(x @ (W / s) + b): W (input_dim, output_dim) random and frozen, b ~ U(0, 2π) frozen, s the scale.

    With W ~ N(0, 1) ('gaussian'), y·y' ≈ (output_dim / 2) exp(-|x - x'|² / (2 s²)); with W ~ Cauchy
    ('laplacian') it approximates exp(-|x - x'|₁ / s). As in tf.keras, the sqrt(2 / output_dim)
    factor of the paper is not applied.

    Args:
        output_dim: number of random features.
        kernel_initializer: 'gaussian', 'laplacian' (case-insensitive) or an initializer for W.
        scale: s > 0; default sqrt(input_dim / 2) for 'gaussian', else 1.0.
        trainable: whether s is learned (W and b never are). Default False.
    Input (batch, input_dim); output (batch, output_dim).
    """

    def __init__(self, output_dim, kernel_initializer="gaussian", scale=None, trainable=False, name=None, **kwargs):
        if not isinstance(output_dim, (int, np.integer)) or output_dim <= 0:
            raise ValueError(f"RandomFourierFeatures: output_dim must be a positive integer, got {output_dim!r}.")
        if isinstance(kernel_initializer, str) and kernel_initializer.lower() not in _KERNELS:
            raise ValueError(f"RandomFourierFeatures: kernel_initializer must be one of {_KERNELS} or an "
                             f"Initializer, got {kernel_initializer!r}.")
        if scale is not None and scale <= 0.0:
            raise ValueError(f"RandomFourierFeatures: scale must be a positive float (or None for the default), "
                             f"got {scale!r}.")
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.output_dim = int(output_dim)
        self.kernel_initializer = kernel_initializer
        self.scale = scale

    def _features_initializer(self):
        if isinstance(self.kernel_initializer, str):
            if self.kernel_initializer.lower() == "gaussian":
                return initializers_module.RandomNormal(0.0, 1.0)
            return _Cauchy()
        return initializers_module.get(self.kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"RandomFourierFeatures layer '{self.name}' expects 2-D inputs (batch, features) but "
                             f"got shape {tuple(input_shape)}; add Flatten() before it.")
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"RandomFourierFeatures layer '{self.name}': the last axis of the input "
                             f"{tuple(input_shape)} must be known.")
        self.input_spec = InputSpec(ndim=2, axes={-1: input_dim})
        self.unscaled_kernel = self.add_weight("unscaled_kernel", (input_dim, self.output_dim),
                                               self._features_initializer(), trainable=False)
        self.bias = self.add_weight("bias", (self.output_dim,), initializers_module.RandomUniform(0.0, 2 * np.pi),
                                    trainable=False)
        if self.scale is None:
            gaussian = isinstance(self.kernel_initializer, str) and self.kernel_initializer.lower() == "gaussian"
            self.scale = float(np.sqrt(input_dim / 2.0)) if gaussian else 1.0
        self.kernel_scale = self.add_weight("kernel_scale", (1,), initializers_module.Constant(self.scale),
                                            constraint=_non_negative)
        self.built = True

    def call(self, inputs):
        kernel = self.unscaled_kernel / self.kernel_scale
        return ops.cos(ops.matmul(ops.cast(inputs, self.dtype), kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        initializer = self.kernel_initializer
        if not isinstance(initializer, str):
            initializer = initializers_module.serialize(initializer)
        return {**super().get_config(), "output_dim": self.output_dim, "kernel_initializer": initializer,
                "scale": self.scale}
