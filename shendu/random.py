"""Random tensors with ``keras.random``'s and ``tf.random``'s spellings (``tf.random.normal([batch, noise_dim])``
feeds a GAN's generator; ``keras.random.dropout`` and ``shuffle`` are differentiable in their input).

The ``seed`` argument, as in Keras 3: None draws from shendu's shared generator (``set_seed`` repeats
it); an int gives the same values on every call; a ``SeedGenerator`` gives a new, reproducible draw
each call. Draws are constants (no gradient), except that ``dropout`` and ``shuffle`` pass one to
their input.
"""
from __future__ import annotations

import numbers

from shendu import backend, ops
from shendu.missing import missing_names
from shendu.numpy_api.creation import convert_to_tensor, standardize_dtype
from shendu.numpy_api.indexing import take
from shendu.tensor import Tensor


class SeedGenerator:
    """A generator of its own: ``SeedGenerator(1337)``, passed as ``seed=``, draws new values each call
    and the same sequence on every run. ``SeedGenerator()`` (no seed) draws from shendu's shared
    generator, so ``set_seed`` repeats it, as Keras derives an unseeded generator from the global seed."""

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"SeedGenerator got unexpected arguments {sorted(kwargs)}.")
        self.name = name
        self._initial = seed
        self._own = backend.xp.random.default_rng(seed) if seed is not None else None

    @property
    def generator(self):
        # looked up on each draw: set_seed replaces the shared generator
        return self._own if self._own is not None else backend.rng

    def next(self, ordered=True):
        """A fresh integer seed drawn from this generator."""
        return int(self.generator.integers(0, 2 ** 31 - 1))

    def get_config(self) -> dict:
        return {"seed": self._initial}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _rng(seed):
    if seed is None:
        return backend.rng
    if isinstance(seed, SeedGenerator):
        return seed.generator
    if isinstance(seed, numbers.Integral):
        return backend.xp.random.default_rng(int(seed))
    raise TypeError(f"seed must be None, an int or a keras.random.SeedGenerator, got {type(seed).__name__}.")


def _shape(shape) -> tuple:
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(n) for n in shape)


def _const(values, dtype) -> Tensor:
    return Tensor._wrap(backend.xp.asarray(values).astype(standardize_dtype(dtype)), False)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None) -> Tensor:
    """Values drawn from N(mean, stddev²)."""
    return _const(_rng(seed).normal(mean, stddev, size=_shape(shape)), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None, name=None) -> Tensor:
    """Values drawn uniformly from [minval, maxval); an integer ``dtype`` draws integers (as tf.random.uniform)."""
    dtype = standardize_dtype(dtype)
    if dtype.kind in "iu":
        if maxval is None:
            raise ValueError("uniform: integer draws need maxval (the exclusive upper bound).")
        return _const(_rng(seed).integers(int(minval), int(maxval), size=_shape(shape)), dtype)
    return _const(_rng(seed).uniform(minval, 1.0 if maxval is None else maxval, size=_shape(shape)), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None) -> Tensor:
    """N(mean, stddev²) redrawn wherever a value falls more than two standard deviations out."""
    rng = _rng(seed)
    values = rng.normal(0.0, 1.0, size=_shape(shape))
    outside = backend.xp.abs(values) > 2
    while outside.any():
        values[outside] = rng.normal(0.0, 1.0, size=int(outside.sum()))
        outside = backend.xp.abs(values) > 2
    return _const(values * stddev + mean, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None) -> Tensor:
    """Integers drawn uniformly from [minval, maxval)."""
    return _const(_rng(seed).integers(int(minval), int(maxval), size=_shape(shape)), dtype)


def categorical(logits, num_samples, dtype="int32", seed=None, name=None) -> Tensor:
    """(batch, num_samples) class indices drawn from softmax(logits) row by row (logits: (batch, classes))."""
    z = convert_to_tensor(logits).data.astype("float64")
    if z.ndim != 2:
        raise ValueError(f"categorical expects logits of shape (batch, classes), got {z.shape}.")
    xp = backend.xp
    p = xp.exp(z - z.max(axis=-1, keepdims=True))
    cdf = xp.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    u = _rng(seed).random((z.shape[0], int(num_samples)))
    draws = (u[..., None] > cdf[:, None, :]).sum(axis=-1)
    return _const(xp.minimum(draws, z.shape[1] - 1), dtype)


def gamma(shape, alpha, dtype=None, seed=None) -> Tensor:
    return _const(_rng(seed).gamma(alpha, 1.0, size=_shape(shape)), dtype)


def beta(shape, alpha, beta, dtype=None, seed=None) -> Tensor:
    return _const(_rng(seed).beta(alpha, beta, size=_shape(shape)), dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None) -> Tensor:
    return _const(_rng(seed).binomial(counts, probabilities, size=_shape(shape)), dtype)


def dropout(inputs, rate, noise_shape=None, seed=None) -> Tensor:
    """inputs · m / (1 - rate), m ~ Bernoulli(1 - rate) of ``noise_shape`` (broadcast); differentiable in inputs."""
    x = convert_to_tensor(inputs)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}.")
    shape = x.shape if noise_shape is None else tuple(x.shape[i] if n is None else int(n)
                                                       for i, n in enumerate(noise_shape))
    keep = _rng(seed).random(shape) >= rate
    return ops.mul(x, Tensor._wrap((keep / (1.0 - rate)).astype(x.dtype), False))


def shuffle(x, axis=0, seed=None) -> Tensor:
    """x with its entries along ``axis`` in a random order; the gradient goes back to where each came from."""
    x = convert_to_tensor(x)
    order = _rng(seed).permutation(x.shape[axis])
    return take(x, order, axis)


def set_seed(seed) -> None:
    """``tf.random.set_seed``: reseed shendu's shared generator."""
    backend.set_seed(seed)


_UNSUPPORTED = {
    "Generator": "create keras.random.SeedGenerator(seed) and pass it as seed=: each call draws anew, reproducibly.",
    "stateless_normal": "pass an int seed= to tf.random.normal: the same int seed gives the same values.",
    "stateless_uniform": "pass an int seed= to tf.random.uniform: the same int seed gives the same values.",
    "stateless_truncated_normal": "pass an int seed= to tf.random.truncated_normal.",
    "stateless_categorical": "pass an int seed= to tf.random.categorical.",
    "fold_in": "derive seeds with keras.random.SeedGenerator(seed).next().",
    "poisson": "draw with numpy.random.default_rng(seed).poisson(lam, shape) and wrap it with tf.constant.",
    "experimental": "use tf.random.normal / uniform / categorical with seed= (an int or a SeedGenerator).",
}
__getattr__ = missing_names("random", _UNSUPPORTED, globals())
