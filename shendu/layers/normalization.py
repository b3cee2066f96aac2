"""BatchNormalization and LayerNormalization with Keras's weights, defaults and training rules."""
from __future__ import annotations

from shendu import backend, ops
from shendu import constraints as constraints_module
from shendu import initializers as initializers_module
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer, same_shape
from shendu.tensor import Tensor


class BatchNormalization(Layer):
    """Training: x̂ = (x - μ_batch)/√(σ²_batch + ε), y = γx̂ + β, and the moving statistics follow
    m ← momentum·m + (1 - momentum)·batch. Inference (or a frozen layer): the moving statistics are used.
    Weights, in Keras's order: gamma, beta, moving_mean, moving_variance (and, with ``renorm``,
    moving_stddev, renorm_mean, renorm_stddev).

    Batch renormalization (``renorm=True``, Ioffe 2017, https://arxiv.org/abs/1702.03275): in training
    y = γ (x̂ r + d) + β with r = σ_batch / σ_renorm and d = (μ_batch - μ_renorm) / σ_renorm held constant
    (no gradient) and clipped by ``renorm_clipping`` {'rmin', 'rmax', 'dmax'}; μ_renorm, σ_renorm follow the
    batches with ``renorm_momentum``, the moving mean and standard deviation with ``momentum``."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        for legacy in ("fused", "virtual_batch_size", "adjustment"):
            kwargs.pop(legacy, None)
        super().__init__(**kwargs)
        self.renorm, self.renorm_momentum = bool(renorm), renorm_momentum
        if renorm:
            renorm_clipping = dict(renorm_clipping or {})
            unknown = set(renorm_clipping) - {"rmax", "rmin", "dmax"}
            if unknown:
                raise ValueError(f"Received invalid keys for `renorm_clipping` argument: {renorm_clipping}. "
                                 "Supported values: ['rmax', 'rmin', 'dmax'].")
            rmin, rmax, dmax = (renorm_clipping.get(k) for k in ("rmin", "rmax", "dmax"))
            if rmin is not None and rmax is not None and rmax < rmin:
                raise ValueError(f"rmax should be greater than rmin in the `renorm_clipping` argument. Received: "
                                 f"rmax={rmax}, rmin={rmin}.")
            if dmax is not None and dmax < 0:
                raise ValueError(f"dmax should be non-negative in the `renorm_clipping` argument. Received: "
                                 f"dmax={dmax}.")
        self.renorm_clipping = renorm_clipping
        self.axis = axis[0] if isinstance(axis, (list, tuple)) else axis
        self.momentum, self.epsilon, self.center, self.scale = momentum, epsilon, center, scale
        self.beta_initializer = initializers_module.get(beta_initializer)
        self.gamma_initializer = initializers_module.get(gamma_initializer)
        self.moving_mean_initializer = initializers_module.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers_module.get(moving_variance_initializer)
        self.beta_regularizer = regularizers_module.get(beta_regularizer)
        self.gamma_regularizer = regularizers_module.get(gamma_regularizer)
        self.beta_constraint = constraints_module.get(beta_constraint)
        self.gamma_constraint = constraints_module.get(gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(f"BatchNormalization '{self.name}': axis {self.axis} of input {input_shape} must be known.")
        self._shape = [1] * len(input_shape)
        self._shape[axis] = dim
        self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer, regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", (dim,), self.beta_initializer, regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", (dim,), self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (dim,), self.moving_variance_initializer,
                                               trainable=False)
        if self.renorm:
            # renormalization tracks standard deviations; they start at √(the variance initializer's value)
            def stddev_init(shape, dtype=None):
                return backend.xp.sqrt(backend.asarray(self.moving_variance_initializer(shape, dtype=dtype)))
            self.moving_stddev = self.add_weight("moving_stddev", (dim,), stddev_init, trainable=False)
            self.renorm_mean = self.add_weight("renorm_mean", (dim,), self.moving_mean_initializer, trainable=False)
            self.renorm_stddev = self.add_weight("renorm_stddev", (dim,), stddev_init, trainable=False)
        self.built = True

    compute_output_shape = same_shape

    def _affine(self, dim, dtype):
        xp = backend.xp
        gamma = self.gamma if self.gamma is not None else Tensor._wrap(xp.ones(dim, dtype), False)
        beta = self.beta if self.beta is not None else Tensor._wrap(xp.zeros(dim, dtype), False)
        return gamma, beta

    def call(self, inputs, training=None, mask=None):
        axis = self.axis % inputs.ndim
        gamma, beta = self._affine(inputs.shape[axis], inputs.dtype)
        if training and self.trainable:
            if self.renorm:
                gamma, beta = self._renorm_affine(inputs, gamma, beta, mask, axis)
            if axis != inputs.ndim - 1:
                gamma, beta = ops.reshape(gamma, self._shape), ops.reshape(beta, self._shape)
            if mask is None:
                y, mean, var = ops.batch_norm(inputs, gamma, beta, axis=axis, epsilon=self.epsilon)
            else:
                y, mean, var = self._masked_batch_norm(inputs, gamma, beta, mask, axis)
            m = self.momentum
            self.moving_mean.data = self.moving_mean.data * m + mean.astype(self.moving_mean.dtype) * (1 - m)
            if self.renorm:
                # the moving variance is derived from the moving standard deviation (relu: rounding)
                std = backend.xp.sqrt(var + self.epsilon).astype(self.moving_stddev.dtype)
                self.moving_stddev.data = self.moving_stddev.data * m + std * (1 - m)
                self.moving_variance.data = backend.xp.maximum(self.moving_stddev.data ** 2 - self.epsilon, 0)
            else:
                self.moving_variance.data = self.moving_variance.data * m + var.astype(self.moving_variance.dtype) * (1 - m)
            return y
        # inference: y = γ (x - m)/√(v + ε) + β with the moving statistics as constants
        shape = self._shape if axis != inputs.ndim - 1 else [inputs.shape[axis]]
        inv = 1.0 / backend.xp.sqrt(self.moving_variance.data + self.epsilon)
        scale = ops.reshape(gamma, shape) * Tensor._wrap(inv.reshape(shape), False)
        return (inputs - Tensor._wrap(self.moving_mean.data.reshape(shape), False)) * scale + ops.reshape(beta, shape)

    def _renorm_affine(self, inputs, gamma, beta, mask, axis):
        """γ r and γ d + β for this batch (r, d constants), and the renorm statistics' update."""
        xp = backend.xp
        axes = tuple(i for i in range(inputs.ndim) if i != axis)
        x = inputs.data
        if mask is None:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
        else:
            m = backend.asarray(mask.data if isinstance(mask, Tensor) else mask)
            keep = xp.broadcast_to(m[..., None], x.shape).astype(x.dtype)
            count = keep.sum(axis=axes) + 1e-7
            mean = (x * keep).sum(axis=axes) / count
            var = (((x - mean) ** 2) * keep).sum(axis=axes) / count
        std = xp.sqrt(var + self.epsilon)
        renorm_std = xp.maximum(self.renorm_stddev.data, xp.sqrt(self.epsilon))   # no division by 0 early on
        r = std / renorm_std
        d = (mean - self.renorm_mean.data) / renorm_std
        clip = self.renorm_clipping
        if clip.get("rmin") is not None:
            r = xp.maximum(r, clip["rmin"])
        if clip.get("rmax") is not None:
            r = xp.minimum(r, clip["rmax"])
        if clip.get("dmax") is not None:
            d = xp.clip(d, -clip["dmax"], clip["dmax"])
        rm = self.renorm_momentum
        self.renorm_mean.data = (self.renorm_mean.data * rm + mean * (1 - rm)).astype(self.renorm_mean.dtype)
        self.renorm_stddev.data = (self.renorm_stddev.data * rm + std * (1 - rm)).astype(self.renorm_stddev.dtype)
        r, d = Tensor._wrap(r.astype(x.dtype), False), Tensor._wrap(d.astype(x.dtype), False)
        return gamma * r, gamma * d + beta

    def _masked_batch_norm(self, inputs, gamma, beta, mask, axis):
        """Training with a mask (batch, steps): μ, σ² over the kept steps only, as Keras computes them,
        composed from primitives (padding must not pull the statistics). Returns (y, μ, σ²)."""
        axes = tuple(i for i in range(inputs.ndim) if i != axis)
        m = backend.asarray(mask.data if isinstance(mask, Tensor) else mask)
        keep = backend.xp.broadcast_to(m[..., None], inputs.shape).astype(inputs.dtype)
        count = Tensor._wrap(keep.sum(axis=axes, keepdims=True) + 1e-7, False)     # Keras adds its epsilon
        keep = Tensor._wrap(keep, False)
        mean = ops.sum(inputs * keep, axis=axes, keepdims=True) / count
        centered = inputs - mean
        var = ops.sum(centered * centered * keep, axis=axes, keepdims=True) / count
        y = centered / ops.sqrt(var + self.epsilon) * gamma + beta
        return y, mean.data.reshape(-1), var.data.reshape(-1)

    def get_config(self):
        ser = initializers_module.serialize
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": ser(self.beta_initializer), "gamma_initializer": ser(self.gamma_initializer),
                "moving_mean_initializer": ser(self.moving_mean_initializer),
                "moving_variance_initializer": ser(self.moving_variance_initializer),
                "beta_regularizer": regularizers_module.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers_module.serialize(self.gamma_regularizer),
                "beta_constraint": constraints_module.serialize(self.beta_constraint),
                "gamma_constraint": constraints_module.serialize(self.gamma_constraint), "synchronized": False,
                "renorm": self.renorm,
                "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum}


class LayerNormalization(Layer):
    """Per sample: x̂ = (x - μ)/√(σ² + ε) over ``axis`` (the features), y = γx̂ + β. Same in training and inference."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        is_int = isinstance(axis, int) and not isinstance(axis, bool)
        if not is_int and not (isinstance(axis, (list, tuple)) and all(isinstance(a, int) for a in axis)):
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', but received: "
                            f"{axis!r}")
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon, self.center, self.scale, self.rms_scaling = epsilon, center, scale, rms_scaling
        self.beta_initializer = initializers_module.get(beta_initializer)
        self.gamma_initializer = initializers_module.get(gamma_initializer)
        self.beta_regularizer = regularizers_module.get(beta_regularizer)
        self.gamma_regularizer = regularizers_module.get(gamma_regularizer)
        self.beta_constraint = constraints_module.get(beta_constraint)
        self.gamma_constraint = constraints_module.get(gamma_constraint)
        self.supports_masking = True

    def _canonical_axes(self, input_shape) -> tuple:
        """``axis`` as sorted non-negative axes of ``input_shape``; ValueError when one is out of bounds."""
        axes = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else (self.axis,)
        rank = len(input_shape)
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"LayerNormalization layer '{self.name}': axis {a} is out of bounds for inputs of "
                                 f"rank {rank}, shape {tuple(input_shape)}.")
        canonical = tuple(sorted(a % rank for a in axes))
        if len(set(canonical)) != len(canonical):
            raise ValueError(f"LayerNormalization layer '{self.name}': Duplicate axes in axis={list(axes)} for inputs "
                             f"of rank {rank}: {list(axes)} names the same axis twice.")
        return canonical

    def build(self, input_shape):
        self._axes = self._canonical_axes(input_shape)
        self.axis = list(self._axes)        # as Keras: once built, axis holds the input's own axes, sorted
        shape = tuple(input_shape[a] for a in self._axes)
        self._param_shape = [input_shape[i] if i in self._axes else 1 for i in range(len(input_shape))]
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale or self.rms_scaling else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center and not self.rms_scaling else None
        self.built = True

    def compute_output_shape(self, input_shape):
        self._canonical_axes(input_shape)
        return same_shape(self, input_shape)

    def call(self, inputs):
        xp = backend.xp
        dims = tuple(inputs.shape[a] for a in self._axes)
        gamma = self.gamma if self.gamma is not None else Tensor._wrap(xp.ones(dims, inputs.dtype), False)
        beta = self.beta if self.beta is not None else Tensor._wrap(xp.zeros(dims, inputs.dtype), False)
        if self._axes != tuple(range(inputs.ndim - len(self._axes), inputs.ndim)):
            gamma, beta = ops.reshape(gamma, self._param_shape), ops.reshape(beta, self._param_shape)
        if 0 in dims:
            return inputs * 1.0         # nothing to normalise over a size-0 axis (a mean over it would divide by 0)
        if self.rms_scaling:
            # Keras's deprecated rule, kept for its saved models: y = γ x/√(σ² + ε), not centered, no β
            centered = inputs - ops.mean(inputs, axis=self._axes, keepdims=True)
            var = ops.mean(centered * centered, axis=self._axes, keepdims=True)
            return inputs / ops.sqrt(var + self.epsilon) * gamma
        return ops.layer_norm(inputs, gamma, beta, axes=self._axes, epsilon=self.epsilon)

    def get_config(self):
        ser = initializers_module.serialize
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {**super().get_config(), "axis": axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": ser(self.beta_initializer), "gamma_initializer": ser(self.gamma_initializer),
                "beta_regularizer": regularizers_module.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers_module.serialize(self.gamma_regularizer),
                "beta_constraint": constraints_module.serialize(self.beta_constraint),
                "gamma_constraint": constraints_module.serialize(self.gamma_constraint)}
