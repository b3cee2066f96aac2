"""Batch and layer normalization, fused: one forward and one closed-form backward each."""
from __future__ import annotations

import math

from shendu import backend
from shendu.autograd import Function
from shendu.ops import normalization_kernels
from shendu.tensor import Tensor


class Normalize(Function):
    """y = γ (x - μ) / √(σ² + ε) + β, with μ, σ² over ``axes``;
    dx = γ/(N√(σ²+ε)) (N dy - Σdy - x̂ Σ(dy x̂))  where x̂ = (x - μ)/√(σ²+ε).

    Channels-last batch norm (every axis but the last) and layer norm over the last axis, with γ and β of
    the last axis's size, run compiled loops (``normalization_kernels``) over x seen as (rows, C) where numba
    is there; the NumPy form below is their reference and fallback."""
    compiled = None     # "columns" (batch norm) or "rows" (layer norm) when forward ran the compiled loops

    def _form(self, x, gamma):
        last = x.ndim - 1
        if x.ndim < 2 or gamma.shape != (x.shape[-1],):
            return None
        if self.axes == tuple(range(last)):
            return "columns"
        return "rows" if self.axes == (last,) else None

    def forward(self, x, gamma, beta):
        form = self._form(x, gamma)
        if form is not None:
            x2 = x.reshape(-1, x.shape[-1])
            if form == "columns":
                out = normalization_kernels.batch_norm_forward(x2, gamma, beta, self.epsilon)
            else:
                out = normalization_kernels.layer_norm_forward(x2, gamma, beta, self.epsilon)
            if out is not None:
                self.compiled, self.shape = form, x.shape
                self.save(out[1], out[2], gamma)
                if self.stats is not None:
                    self.stats.extend(out[3:])
                return out[0].reshape(x.shape)
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
        if self.compiled is not None:
            grads = self._compiled_backward(gy, xhat, inv_std, gamma)
            if grads is not None:
                return grads
            self._plain_saved()     # numba failed on the backward: the NumPy form, from the same values
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

    def _compiled_backward(self, gy, xhat, inv_std, gamma):
        kernel = (normalization_kernels.batch_norm_backward if self.compiled == "columns"
                  else normalization_kernels.layer_norm_backward)
        grads = kernel(gy.reshape(xhat.shape), xhat, inv_std, gamma, self.needs[0])
        if grads is None:
            return None
        gx, g_gamma, g_beta = grads
        shape = gy.shape
        return (None if gx is None else gx.reshape(shape)), (g_gamma if self.needs[1] else None), (
            g_beta if self.needs[2] else None)

    def _plain_saved(self):
        """The NumPy form's saved values (x̂ in the input's shape, 1/√(σ²+ε) broadcastable) from the compiled's."""
        xhat, inv_std, gamma = self.saved
        shape = self.shape
        xhat = xhat.reshape(shape)
        inv_std = inv_std.reshape((1,) * (len(shape) - 1) + (-1,) if self.compiled == "columns" else shape[:-1] + (1,))
        self.compiled = None
        self.save(xhat, inv_std, gamma)


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
