"""Weight initializers with Keras's names, defaults and formulas.

The variance-scaling family draws from N or U with variance scale / n, n = fan_in, fan_out or
their mean: Glorot (Xavier) keeps activations' variance steady for tanh/sigmoid, He for ReLU.
"""
from __future__ import annotations

import math

import numpy as np

from shendu import backend
from shendu.serialization import lookup
from shendu.serialization import serialize as _serialize


def compute_fans(shape):
    """(fan_in, fan_out): a conv kernel (..., in, out) counts its receptive field in both."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Callable ``init(shape, dtype) -> array``; ``seed`` makes it repeat, else the shared generator is used."""

    def __init__(self, seed=None):
        self.seed = seed

    def _rng(self):
        return backend.xp.random.default_rng(self.seed) if self.seed is not None else backend.rng

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def __init__(self):
        super().__init__()

    def __call__(self, shape, dtype=None):
        return backend.xp.zeros(shape, dtype or backend.floatx)

    def get_config(self):
        return {}


class Ones(Zeros):
    def __call__(self, shape, dtype=None):
        return backend.xp.ones(shape, dtype or backend.floatx)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def __call__(self, shape, dtype=None):
        return backend.xp.full(shape, self.value, dtype or backend.floatx)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """w ~ N(mean, stddev²)"""
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, shape).astype(dtype or backend.floatx)

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    """w ~ U(minval, maxval)"""
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype or backend.floatx)

    def get_config(self):
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


def _truncated_normal(rng, shape, mean, stddev):
    """N(mean, stddev²) redrawn until within two standard deviations, as TensorFlow does."""
    out = rng.normal(0.0, 1.0, shape)
    bad = backend.xp.abs(out) > 2
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = backend.xp.abs(out) > 2
    return out * stddev + mean


class TruncatedNormal(RandomNormal):
    """w ~ N(mean, stddev²) truncated to ±2 stddev"""
    def __call__(self, shape, dtype=None):
        return _truncated_normal(self._rng(), shape, self.mean, self.stddev).astype(dtype or backend.floatx)


class VarianceScaling(Initializer):
    """Var(w) = scale / n, n from ``mode``; drawn from a (truncated) normal or a uniform."""
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, **axes):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}.")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling distribution must be 'truncated_normal', 'untruncated_normal' "
                             f"or 'uniform', got {distribution!r}.")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            # 0.8796... is the stddev of a unit normal truncated at ±2: divide so Var(w) is exactly scale
            w = _truncated_normal(rng, shape, 0.0, math.sqrt(scale) / 0.87962566103423978)
        elif self.distribution == "untruncated_normal":
            w = rng.normal(0.0, math.sqrt(scale), shape)
        else:
            limit = math.sqrt(3.0 * scale)
            w = rng.uniform(-limit, limit, shape)
        return backend.xp.asarray(w).astype(dtype or backend.floatx)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode, "distribution": self.distribution}


def _variance_scaling(name, scale, mode, distribution):
    class Preset(VarianceScaling):
        def __init__(self, seed=None, input_axes=None, output_axes=None):  # Keras 3 config keys, accepted
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed, "input_axes": None, "output_axes": None}
    Preset.__name__ = Preset.__qualname__ = name
    Preset.__doc__ = f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})"
    return Preset


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")


class Orthogonal(Initializer):
    """W with orthonormal rows or columns (QR of a Gaussian matrix), times ``gain``: keeps RNN states from exploding."""
    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {tuple(shape)}.")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = backend.xp.linalg.qr(a)
        q *= backend.xp.sign(backend.xp.diag(r))
        if rows < cols:
            q = q.T
        return backend.xp.asarray(self.gain * q.reshape(shape)).astype(dtype or backend.floatx)

    def get_config(self):
        return {"seed": self.seed, "gain": self.gain}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D shape, got {tuple(shape)}.")
        return (self.gain * backend.xp.eye(*shape)).astype(dtype or backend.floatx)

    def get_config(self):
        return {"gain": self.gain}


_REGISTRY = {c.__name__: c for c in (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal,
                                     VarianceScaling, GlorotUniform, GlorotNormal, HeNormal, HeUniform,
                                     LecunNormal, LecunUniform, Orthogonal, Identity)}
_ALIASES = {"zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
            "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
            "variance_scaling": "VarianceScaling", "glorot_uniform": "GlorotUniform",
            "glorot_normal": "GlorotNormal", "he_normal": "HeNormal", "he_uniform": "HeUniform",
            "lecun_normal": "LecunNormal", "lecun_uniform": "LecunUniform", "orthogonal": "Orthogonal",
            "identity": "Identity", "xavier_uniform": "GlorotUniform", "xavier_normal": "GlorotNormal",
            "uniform": "RandomUniform", "normal": "RandomNormal"}


def get(identifier):
    """An initializer from a name ('glorot_uniform'), a config dict, an instance or a callable."""
    if identifier is None or isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    return lookup("initializer", identifier, _REGISTRY, _ALIASES)


def serialize(initializer):
    return _serialize(initializer, "keras.initializers")


deserialize = get
