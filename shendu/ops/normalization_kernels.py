"""Compiled loops (numba) for the two common normalizations of channels-last arrays, seen as (rows, C):

- batch norm: statistics per column (channel) over all rows, x̂ = (x - μ)/√(σ² + ε), y = γ x̂ + β;
  backward dx = γ/(n√(σ²+ε)) (n dy - Σdy - x̂ Σ(dy x̂)), dγ = Σ dy x̂, dβ = Σ dy (sums over the rows);
- layer norm: the same formulas per row, over its C values.

NumPy's form (``normalization.py``) makes about ten array-sized temporaries per pass, and on a (64, 26, 26, 32)
activation each costs a trip through memory. Here batch norm reads x three times (its mean, its variance, then
y and x̂ written) and dy twice (its sums, then dx); layer norm does each row in one visit while it is in cache. Rows are split
over the allowed threads (``compiled.run``); the per-channel sums are each thread's own, in float64, added in
row order. Batch norm's statistics take two passes, as the NumPy form's: the mean, then the mean square
about it, both summed in float64. Each function returns None where the kernels cannot run (no numba,
another backend or dtype); ``normalization.py`` then runs its NumPy form.
"""
from __future__ import annotations

from shendu import backend
from shendu.ops import compiled

NAME = "normalization_kernels"


def _build(numba):
    @numba.njit(cache=True, nogil=True)
    def column_sums(x, center, sums, r0, r1):
        # sums[0] += Σ (x - center), sums[1] += Σ (x - center)² over rows r0..r1 (float64)
        C = x.shape[1]
        s, q = sums[0], sums[1]
        for r in range(r0, r1):
            row = x[r]
            for c in range(C):
                v = numba.float64(row[c]) - center[c]
                s[c] += v
                q[c] += v * v

    @numba.njit(cache=True, nogil=True)
    def column_normalize(x, mean, inv_std, gamma, beta, xhat, y, r0, r1):
        C = x.shape[1]
        for r in range(r0, r1):
            xr, hr, yr = x[r], xhat[r], y[r]
            for c in range(C):
                h = (xr[c] - mean[c]) * inv_std[c]
                hr[c] = h
                yr[c] = h * gamma[c] + beta[c]

    @numba.njit(cache=True, nogil=True)
    def column_grad_sums(gy, xhat, sums, r0, r1):
        # sums[0] += Σ dy, sums[1] += Σ dy x̂ (float64)
        C = gy.shape[1]
        s, q = sums[0], sums[1]
        for r in range(r0, r1):
            g, h = gy[r], xhat[r]
            for c in range(C):
                v = numba.float64(g[c])
                s[c] += v
                q[c] += v * h[c]

    @numba.njit(cache=True, nogil=True)
    def column_grad(gy, xhat, scale, mean_g, mean_gh, gx, r0, r1):
        # dx = scale (dy - mean(dy) - x̂ mean(dy x̂)), scale = γ/√(σ²+ε)
        C = gy.shape[1]
        for r in range(r0, r1):
            g, h, o = gy[r], xhat[r], gx[r]
            for c in range(C):
                o[c] = scale[c] * (g[c] - mean_g[c] - h[c] * mean_gh[c])

    # a row's sums are reductions: LLVM vectorises them only when allowed to reassociate (4 partial sums ...)
    @numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
    def row_normalize(x, gamma, beta, eps, xhat, y, inv_std, r0, r1):
        C = x.shape[1]
        for r in range(r0, r1):
            xr, hr, yr = x[r], xhat[r], y[r]
            mean = 0.0
            for c in range(C):
                mean += xr[c]
            mean /= C
            var = 0.0
            for c in range(C):
                d = xr[c] - mean
                var += d * d
            inv = 1.0 / (var / C + eps) ** 0.5
            inv_std[r] = inv
            for c in range(C):
                h = (xr[c] - mean) * inv
                hr[c] = h
                yr[c] = h * gamma[c] + beta[c]

    @numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
    def row_grad(gy, xhat, inv_std, gamma, gx, want_x, sums, r0, r1):
        # dx per row: inv/C (C dŷ - Σdŷ - x̂ Σ(dŷ x̂)), dŷ = dy γ; sums[0] += dy x̂ and sums[1] += dy (dγ, dβ)
        C = gy.shape[1]
        sg, sb = sums[0], sums[1]
        for r in range(r0, r1):
            g, h = gy[r], xhat[r]
            total, dot = 0.0, 0.0
            for c in range(C):
                gh = g[c] * gamma[c]
                total += gh
                dot += gh * h[c]
                sg[c] += g[c] * h[c]
                sb[c] += g[c]
            if want_x:
                o, k = gx[r], inv_std[r] / C
                for c in range(C):
                    o[c] = k * (C * g[c] * gamma[c] - total - h[c] * dot)

    return column_sums, column_normalize, column_grad_sums, column_grad, row_normalize, row_grad


def _kernels():
    return compiled.build(NAME, _build)


def _usable(*arrays) -> bool:
    return compiled.usable(*arrays) and _kernels() is not None


def _summed(kernel, arrays, rows: int, width: int):
    """Σ over row ranges of ``kernel(*arrays, sums, r0, r1)``'s (2, width) float64 sums, added in row order;
    None when numba fails."""
    xp = backend.xp
    parts = compiled.parts(rows, 4 * rows * width)
    partial = xp.zeros((len(parts), 2, width), xp.float64)
    if not compiled.call(NAME, compiled.run_parts, kernel, parts, lambda p: (*arrays, partial[p])):
        return None
    total = partial[0]
    for p in range(1, len(parts)):
        total += partial[p]
    return total


def batch_norm_forward(x2, gamma, beta, epsilon):
    """(y, x̂, inv_std, mean, var) of x2 (rows, C) normalized per column, or None where the kernels cannot run."""
    if not _usable(x2, gamma, beta) or x2.shape[0] == 0:
        return None
    xp = backend.xp
    x2 = xp.ascontiguousarray(x2)
    n, C = x2.shape
    # two passes, as the NumPy form: the mean, then the squares about it (float64 sums both times)
    sums = _summed(_kernels()[0], (x2, xp.zeros(C)), n, C)
    if sums is None:
        return None
    mean = sums[0] / n
    sums = _summed(_kernels()[0], (x2, mean), n, C)
    if sums is None:
        return None
    var = sums[1] / n - (sums[0] / n) ** 2          # the second term: the first pass's rounding, tiny
    inv_std = 1.0 / xp.sqrt(var + epsilon)
    mean, var, inv_std = (a.astype(x2.dtype) for a in (mean, var, inv_std))
    xhat, y = xp.empty_like(x2), xp.empty_like(x2)
    if not compiled.run(NAME, _kernels()[1], n, 3 * n * C, x2, mean, inv_std, gamma, beta, xhat, y):
        return None
    return y, xhat, inv_std, mean, var


def _gradient(gy2, xhat, gamma):
    """dy (rows, C) as the backward loops take it (contiguous), or None where they cannot run."""
    return backend.xp.ascontiguousarray(gy2) if _usable(gy2, xhat, gamma) else None


def batch_norm_backward(gy2, xhat, inv_std, gamma, want_x: bool):
    """(dx or None, dγ, dβ) of ``batch_norm_forward``, or None where the kernels cannot run."""
    gy2 = _gradient(gy2, xhat, gamma)
    if gy2 is None:
        return None
    xp = backend.xp
    n, C = gy2.shape
    sums = _summed(_kernels()[2], (gy2, xhat), n, C)
    if sums is None:
        return None
    g_beta, g_gamma = sums[0].astype(gy2.dtype), sums[1].astype(gy2.dtype)
    gx = None
    if want_x:
        gx = xp.empty_like(gy2)
        if not compiled.run(NAME, _kernels()[3], n, 3 * n * C, gy2, xhat, (gamma * inv_std).astype(gy2.dtype),
                            (sums[0] / n).astype(gy2.dtype), (sums[1] / n).astype(gy2.dtype), gx):
            return None
    return gx, g_gamma, g_beta


def layer_norm_forward(x2, gamma, beta, epsilon):
    """(y, x̂, inv_std) of x2 (rows, C) normalized per row, or None where the kernels cannot run."""
    if not _usable(x2, gamma, beta) or x2.shape[1] == 0:
        return None
    xp = backend.xp
    x2 = xp.ascontiguousarray(x2)
    xhat, y = xp.empty_like(x2), xp.empty_like(x2)
    inv_std = xp.empty(x2.shape[0], x2.dtype)
    if not compiled.run(NAME, _kernels()[4], x2.shape[0], 4 * x2.size, x2, gamma, beta, float(epsilon), xhat, y,
                        inv_std):
        return None
    return y, xhat, inv_std


def layer_norm_backward(gy2, xhat, inv_std, gamma, want_x: bool):
    """(dx or None, dγ, dβ) of ``layer_norm_forward``, or None where the kernels cannot run."""
    gy2 = _gradient(gy2, xhat, gamma)
    if gy2 is None:
        return None
    xp = backend.xp
    n, C = gy2.shape
    gx = xp.empty_like(gy2) if want_x else xp.empty((0, 0), gy2.dtype)
    sums = _summed(_kernels()[5], (gy2, xhat, inv_std, gamma, gx, want_x), n, C)
    if sums is None:
        return None
    return (gx if want_x else None), sums[0].astype(gy2.dtype), sums[1].astype(gy2.dtype)
