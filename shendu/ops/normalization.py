"""Batch and layer normalization, fused: one forward and one closed-form backward each."""
from __future__ import annotations

import math

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor


class Normalize(Function):
    """y = γ (x - μ) / √(σ² + ε) + β, with μ, σ² over ``axes``;
    dx = γ/(N√(σ²+ε)) (N dy - Σdy - x̂ Σ(dy x̂))  where x̂ = (x - μ)/√(σ²+ε)."""

    def forward(self, x, gamma, beta):
        xp = backend.xp
        mean = x.mean(axis=self.axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=self.axes, keepdims=True)   # biased, as Keras computes it
        inv_std = 1.0 / xp.sqrt(var + self.epsilon)
        xhat = centered * inv_std
        self.save(xhat, inv_std, gamma)
        if self.stats is not None:      # hand the batch statistics to the caller (moving averages)
            self.stats.extend((mean, var))
        return xhat * gamma + beta

    def backward(self, gy):
        xhat, inv_std, gamma = self.saved
        n = math.prod(xhat.shape[a] for a in self.axes)     # values per group (from shapes: a batch may be empty)
        # γ and β are shaped like the normalized slice; their grads sum over the other axes (the engine does it)
        g_gamma = gy * xhat if self.needs[1] else None
        g_beta = gy if self.needs[2] else None
        gx = None
        if self.needs[0]:
            gxhat = gy * gamma
            gx = inv_std / n * (n * gxhat - gxhat.sum(axis=self.axes, keepdims=True)
                                - xhat * (gxhat * xhat).sum(axis=self.axes, keepdims=True))
        return gx, g_gamma, g_beta


def batch_norm(x, gamma, beta, axis: int = -1, epsilon: float = 1e-3):
    """Normalize over every axis except ``axis`` (the channels) with the batch's own statistics.

    Returns (y, batch_mean, batch_var); the caller updates its moving averages from the last two.
    """
    axis = axis % x.ndim
    axes = tuple(i for i in range(x.ndim) if i != axis)
    stats = []
    y = Normalize.apply(x, gamma, beta, axes=axes, epsilon=epsilon, stats=stats)
    return y, stats[0].reshape(-1), stats[1].reshape(-1)


def layer_norm(x, gamma, beta, axes=(-1,), epsilon: float = 1e-3) -> Tensor:
    """Normalize each sample over ``axes`` (the features), then scale by γ and shift by β."""
    axes = tuple(a % x.ndim for a in axes)
    return Normalize.apply(x, gamma, beta, axes=axes, epsilon=epsilon, stats=None)
