"""``tf.random``'s spellings for drawing tensors (``tf.random.normal([batch, noise_dim])`` feeds a GAN's
generator). Draws come from the shared generator in ``backend``, so ``set_seed`` repeats them."""
from __future__ import annotations

from shendu import backend
from shendu.tensor import Tensor


def _rng(seed):
    return backend.rng if seed is None else backend.xp.random.default_rng(seed)


def _dtype(dtype):
    return backend.xp.dtype(dtype if dtype is not None else backend.floatx)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None) -> Tensor:
    """Values drawn from N(mean, stddev²)."""
    values = _rng(seed).normal(mean, stddev, size=tuple(shape))
    return Tensor._wrap(values.astype(_dtype(dtype)), False)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None, name=None) -> Tensor:
    """Values drawn uniformly from [minval, maxval)."""
    values = _rng(seed).uniform(minval, maxval, size=tuple(shape))
    return Tensor._wrap(values.astype(_dtype(dtype)), False)


def set_seed(seed) -> None:
    """``tf.random.set_seed``: reseed shendu's shared generator."""
    backend.set_seed(seed)
