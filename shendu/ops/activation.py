"""Activation functions a = f(z), each with its derivative f'(z) beside it."""
from __future__ import annotations

import math

from shendu import backend
from shendu.autograd import Function
from shendu.ops import compiled
from shendu.ops.elementwise import abs as abs_
from shendu.ops.elementwise import clip
from shendu.tensor import Tensor


class Step(Function):
    """a = 1 if z > 0 else 0 (Heaviside, the perceptron's activation);   dz = 0 (flat almost everywhere)"""
    def forward(self, z):
        return (z > 0).astype(z.dtype)

    def backward(self, ga):
        return backend.xp.zeros_like(ga)


class Sigmoid(Function):
    """a = 1 / (1 + e^-z);   dz = da * a (1 - a)"""
    def forward(self, z):
        xp = backend.xp
        # e^-|z| never overflows, so both branches stay finite for any z
        e = xp.exp(-xp.abs(z))
        a = xp.where(z >= 0, 1 / (1 + e), e / (1 + e))
        self.save(a)
        return a

    def backward(self, ga):
        (a,) = self.saved
        return ga * a * (1 - a)


class Tanh(Function):
    """a = tanh(z);   dz = da * (1 - a²)"""
    def forward(self, z):
        a = backend.xp.tanh(z)
        self.save(a)
        return a

    def backward(self, ga):
        (a,) = self.saved
        return ga * (1 - a * a)


class ReLU(Function):
    """a = max(z, 0);   dz = da where z > 0"""
    def forward(self, z):
        a = backend.xp.maximum(z, 0)
        self.save(a)
        return a

    def backward(self, ga):
        (a,) = self.saved
        return _relu_grad(a, ga)


def _relu_grad(a, ga):
    """dz = da · (a > 0) from ReLU's output a: one compiled pass (LeakyReLU's with alpha 0: da · 0 where
    a <= 0, as the mask's product gives, NaN for an infinite da) where it can, NumPy's two otherwise."""
    xp = backend.xp
    loops = _compiled_leaky(a, ga) if xp.ndim(ga) else None
    if loops:
        g = xp.empty_like(a)
        if _run_leaky(loops[1], a.size, a.reshape(-1), ga.reshape(-1), a.dtype.type(0), g.reshape(-1)):
            return g
    return ga * (a > 0)


def _build_leaky(numba):
    @numba.njit(cache=True, nogil=True)
    def forward(z, alpha, a, r0, r1):
        z, a = z[r0:r1], a[r0:r1]          # sliced: a loop over range(r0, r1) would not be vectorised
        for i in range(z.shape[0]):
            a[i] = z[i] if z[i] > 0 else z[i] * alpha

    @numba.njit(cache=True, nogil=True)
    def backward(z, ga, alpha, g, r0, r1):
        z, ga, g = z[r0:r1], ga[r0:r1], g[r0:r1]
        for i in range(z.shape[0]):
            g[i] = ga[i] if z[i] > 0 else ga[i] * alpha
    return forward, backward


def _loopable(*arrays) -> bool:
    """Whether compiled loops take these arrays: contiguous NumPy float32/float64 arrays of one shape."""
    first = arrays[0]
    return not (backend.xp.__name__ != "numpy" or first.dtype.char not in "fd" or not first.dtype.isnative
                or not first.ndim or any(a.shape != first.shape or a.dtype != first.dtype or not a.flags.c_contiguous
                                         for a in arrays))


def _compiled_leaky(*arrays):
    """The compiled (forward, backward) loops when ``_loopable(*arrays)`` and numba is there, else None."""
    return compiled.build("leaky_relu", _build_leaky) if _loopable(*arrays) else None


def _run_leaky(loop, n, *args) -> bool:
    """A LeakyReLU loop over n flat elements, split on the allowed threads when there are enough."""
    return compiled.run("leaky_relu", loop, n, n, *args)


class LeakyReLU(Function):
    """a = z if z > 0 else alpha z;   dz = da * (1 or alpha)
    (with numba, one compiled pass each way instead of two or three whole-array NumPy passes)"""
    def forward(self, z):
        self.save(z)
        loops = _compiled_leaky(z)
        if loops:                                       # alpha in z's dtype: the product NumPy would round
            a = backend.xp.empty_like(z)
            if _run_leaky(loops[0], z.size, z.reshape(-1), z.dtype.type(self.alpha), a.reshape(-1)):
                return a
        if 0 <= self.alpha <= 1:                        # then max(z, alpha z) is the same, in two passes
            return backend.xp.maximum(z, z * self.alpha)
        return backend.xp.where(z > 0, z, z * self.alpha)

    def backward(self, ga):
        (z,) = self.saved
        xp = backend.xp
        loops = _compiled_leaky(z, ga) if xp.ndim(ga) else None
        if loops:
            g = xp.empty_like(z)
            if _run_leaky(loops[1], z.size, z.reshape(-1), ga.reshape(-1), z.dtype.type(self.alpha), g.reshape(-1)):
                return g
        if 0 <= self.alpha <= 1 and xp.ndim(ga) and ga.shape == z.shape:
            # the slope max(z > 0, alpha) is exactly 1 or alpha: three plain passes, ~5x faster than
            # a masked copyto or where() on float32 images
            slope = (z > 0).astype(ga.dtype)
            xp.maximum(slope, self.alpha, out=slope)
            slope *= ga
            return slope
        g = ga * self.alpha
        if xp.ndim(g) == 0:                             # a scalar: nothing to write into
            return xp.where(z > 0, ga, g)
        xp.copyto(g, ga, where=z > 0)                  # g is a fresh array: ours to fill
        return g


class ELU(Function):
    """a = z if z > 0 else alpha (e^z - 1);   dz = da * (1 or a + alpha)"""
    def forward(self, z):
        xp = backend.xp
        a = xp.where(z > 0, z, self.alpha * xp.expm1(xp.minimum(z, 0)))
        self.save(z, a)
        return a

    def backward(self, ga):
        z, a = self.saved
        return backend.xp.where(z > 0, ga, ga * (a + self.alpha))


class Softplus(Function):
    """a = log(1 + e^z), computed as max(z, 0) + log1p(e^-|z|);   dz = da * sigmoid(z)"""
    def forward(self, z):
        xp = backend.xp
        self.save(z)
        return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))

    def backward(self, ga):
        (z,) = self.saved
        return ga * Sigmoid().forward(z)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class GELU(Function):
    """a = z Φ(z) (exact, erf) or 0.5 z (1 + tanh(√(2/π)(z + 0.044715 z³))) (approximate)"""
    def forward(self, z):
        xp = backend.xp
        self.save(z)
        if self.approximate:
            return 0.5 * z * (1 + xp.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z ** 3)))
        return 0.5 * z * (1 + _erf(z / math.sqrt(2)))

    def backward(self, ga):
        xp = backend.xp
        (z,) = self.saved
        if self.approximate:
            t = xp.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z ** 3))
            dt = (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)
            return ga * (0.5 * (1 + t) + 0.5 * z * dt)
        cdf = 0.5 * (1 + _erf(z / math.sqrt(2)))
        pdf = xp.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return ga * (cdf + z * pdf)


def _erf(x):
    """The error function, from SciPy (cupyx on CuPy) when present, else from ``math.erf`` elementwise."""
    try:
        return backend.special("erf")(x).astype(x.dtype)      # the array library's own: SciPy's or cupyx's
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        xp = backend.xp
        return xp.vectorize(math.erf, otypes=[x.dtype])(x)


def _build_softmax(numba):
    # Rows of the last axis. NumPy's max along a short last axis ran at a tenth of memory speed (attention
    # scores: 64 keys a row); the exp between these loops stays NumPy's vectorised one.
    @numba.njit(cache=True, nogil=True)
    def shift(z, out, r0, r1):
        # out = z - max z per row (a NaN in the row makes the max NaN, as NumPy's)
        for r in range(r0, r1):
            row, o = z[r], out[r]
            m = row[0]
            for c in range(row.shape[0]):
                v = row[c]
                if v > m or v != v:
                    m = v
            for c in range(row.shape[0]):
                o[c] = row[c] - m

    @numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
    def scale(a, r0, r1):
        # a /= Σ a per row (the sum may reassociate: vectorised)
        for r in range(r0, r1):
            row = a[r]
            total = row.dtype.type(0)
            for c in range(row.shape[0]):
                total += row[c]
            for c in range(row.shape[0]):
                row[c] /= total

    @numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
    def backward(a, ga, g, r0, r1):
        # g = a (da - Σ da·a) per row
        for r in range(r0, r1):
            ar, gr, o = a[r], ga[r], g[r]
            dot = ar.dtype.type(0)
            for c in range(ar.shape[0]):
                dot += gr[c] * ar[c]
            for c in range(ar.shape[0]):
                o[c] = ar[c] * (gr[c] - dot)
    return shift, scale, backward


def _softmax_rows(axis, *arrays):
    """The compiled softmax loops when ``axis`` is the last of contiguous NumPy float32/float64 arrays of one
    shape and numba is there, else None."""
    first = arrays[0]
    if first.ndim == 0 or axis not in (-1, first.ndim - 1) or first.size == 0 or not _loopable(*arrays):
        return None
    return compiled.build("softmax_rows", _build_softmax)


class Softmax(Function):
    """a_i = e^{z_i - max z} / Σ_j e^{z_j - max z};   dz = a * (da - Σ da·a)
    (along the last axis with numba: compiled row loops around NumPy's exp)"""
    def forward(self, z):
        xp = backend.xp
        loops = _softmax_rows(self.axis, z)
        if loops:
            z2 = z.reshape(-1, z.shape[-1])
            a, rows = xp.empty_like(z2), z2.shape[0]
            if compiled.run("softmax_rows", loops[0], rows, 2 * z.size, z2, a):
                xp.exp(a, out=a)
                if compiled.run("softmax_rows", loops[1], rows, 2 * z.size, a):
                    a = a.reshape(z.shape)
                    self.save(a)
                    return a
        a = z - z.max(axis=self.axis, keepdims=True)            # subtract the max: no overflow
        if a.dtype.kind != "f":                                 # integers: exp's float64, as NumPy gives
            a = a.astype(xp.float64)
        xp.exp(a, out=a)                                        # in place: one array-sized temporary in all
        a /= a.sum(axis=self.axis, keepdims=True)
        self.save(a)
        return a

    def backward(self, ga):
        (a,) = self.saved
        xp = backend.xp
        loops = _softmax_rows(self.axis, a, ga) if xp.ndim(ga) else None
        if loops:
            g = xp.empty_like(a)
            if compiled.run("softmax_rows", loops[2], a.size // a.shape[-1], 2 * a.size, a.reshape(-1, a.shape[-1]),
                            ga.reshape(-1, a.shape[-1]), g.reshape(-1, a.shape[-1])):
                return g
        g = ga * a
        s = g.sum(axis=self.axis, keepdims=True)
        backend.xp.subtract(ga, s, out=g)
        g *= a
        return g


class LogSoftmax(Function):
    """a_i = z_i - max z - log Σ_j e^{z_j - max z};   dz = da - softmax(z) Σ da"""
    def forward(self, z):
        xp = backend.xp
        shifted = z - z.max(axis=self.axis, keepdims=True)
        a = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.save(a)
        return a

    def backward(self, ga):
        (a,) = self.saved
        return ga - backend.xp.exp(a) * ga.sum(axis=self.axis, keepdims=True)


def step(z) -> Tensor:
    return Step.apply(z)


def sigmoid(z) -> Tensor:
    y = Sigmoid.apply(z)
    y._keras_logits = z      # a cross-entropy given from_logits=True uses z instead (tf.keras 2's rule)
    return y


def tanh(z) -> Tensor:
    return Tanh.apply(z)


def relu(z) -> Tensor:
    return ReLU.apply(z)


def leaky_relu(z, alpha: float = 0.2) -> Tensor:
    return LeakyReLU.apply(z, alpha=alpha)


def elu(z, alpha: float = 1.0) -> Tensor:
    return ELU.apply(z, alpha=alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(z) -> Tensor:
    """a = scale * elu(z, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    return ELU.apply(z, alpha=_SELU_ALPHA) * _SELU_SCALE


def softplus(z) -> Tensor:
    return Softplus.apply(z)


def gelu(z, approximate: bool = False) -> Tensor:
    return GELU.apply(z, approximate=approximate)


def softmax(z, axis: int = -1) -> Tensor:
    y = Softmax.apply(z, axis=axis)
    if axis in (-1, y.ndim - 1):
        y._keras_logits = z  # a cross-entropy given from_logits=True uses z instead (tf.keras 2's rule)
    return y


def log_softmax(z, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(z, axis=axis)


def swish(z) -> Tensor:
    """a = z * sigmoid(z) (also called SiLU)."""
    return z * sigmoid(z)


def softsign(z) -> Tensor:
    """a = z / (1 + |z|)."""
    return z / (1 + abs_(z))


def hard_sigmoid(z) -> Tensor:
    """a = clip(z / 6 + 0.5, 0, 1), Keras 3's piecewise-linear sigmoid."""
    return clip(z * (1 / 6) + 0.5, 0.0, 1.0)
