"""Compiled loops (numba) for the 2-D depthwise convolution: each output pixel's row of channels is a sum of
kh·kw input rows, each scaled channel by channel by one row of the kernel.

    forward:   y[n,i,j,q] = bias[q] + Σ_{a,b} x[n, i·sh + a·dh - top, j·sw + b·dw - left, q // M] K[a,b,q]
    backward:  dK[a,b,q] += x[n, i·sh + a·dh - top, j·sw + b·dw - left, q // M] dy[n,i,j,q]
               dx[n, i·sh + a·dh - top, j·sw + b·dw - left, c] += Σ_m dy[n,i,j,c·M + m] K[a,b,c·M + m]

(q = c·M + m, the output channel of input channel c and depth multiplier m; K is tf.keras's (kh, kw, C, M)
kernel seen as (kh, kw, C·M); terms whose input pixel falls in the padding are zero and skipped, so no padded
copy of x, nor of dx, is made.) NumPy's einsum over the strided window view runs these sums at a few hundred
MFLOP/s. Here, at width stride 1 and multiplier 1 (the common case), a whole output row (ow·C contiguous
values) takes kh·kw contiguous runs of input rows, each times K[a, b] tiled ow times (``Kt``): one long loop
LLVM vectorises (``*_rows``; dK comes out tiled too and is folded over the width). Other strides and
multipliers run loops along each pixel's channels, about 3x slower. Inside the innermost loops every index is
the loop's own over a slice: numba checks a computed index for negative values, and that check, or any test,
kept LLVM from vectorising them (measured 3-8x slower).

Images are independent: ``forward`` and ``backward`` split them over the allowed threads
(``compiled.run_images``), each thread summing dK for its own images, the parts then added in image order.
Each returns None where the kernels are unavailable (no numba, another backend or dtype, a compile failure);
``depthwise.py`` then runs its einsum form.
"""
from __future__ import annotations

from shendu import backend
from shendu.ops import compiled

NAME = "depthwise_kernels"


def _build(numba):
    @numba.njit(cache=True, nogil=True)
    def forward_rows(x, Kt, bias, y, sh, dh, dw, top, left, n0, n1):
        # width stride 1, multiplier 1: y[n, i] (ow·C) += x[n, r, b·dw - left + j] (j's run) ⊙ Kt[a, b]
        H, W, C = x.shape[1], x.shape[2], x.shape[3]
        oh, ow = y.shape[1], y.shape[2]
        kh, kw, L = Kt.shape
        for n in range(n0, n1):
            for i in range(oh):
                out = y[n, i].reshape(L)
                if bias.shape[0]:                   # tiled over the width too
                    out[:] = bias
                else:
                    out[:] = 0
                for a in range(kh):
                    r = i * sh + a * dh - top
                    if r < 0 or r >= H:
                        continue
                    row = x[n, r].reshape(W * C)
                    for b in range(kw):
                        s = b * dw - left
                        j0 = max(0, -s)                 # the outputs j whose pixel s + j is inside
                        j1 = max(j0, min(ow, W - s))
                        o, k, run = out[j0 * C:j1 * C], Kt[a, b, j0 * C:j1 * C], row[(s + j0) * C:(s + j1) * C]
                        for t in range(o.shape[0]):
                            o[t] += run[t] * k[t]

    @numba.njit(cache=True, nogil=True)
    def backward_rows(x, Kt, gy, gx, gKt, sh, dh, dw, top, left, n0, n1):
        # dx (gx: this range's images zeroed and filled; empty: not wanted) and dK tiled (gKt: these images'
        # terms added; empty: not wanted) in one pass over dy
        H, W, C = x.shape[1], x.shape[2], x.shape[3]
        oh, ow = gy.shape[1], gy.shape[2]
        kh, kw, L = Kt.shape
        want_x, want_K = gx.shape[0] > 0, gKt.shape[0] > 0
        for n in range(n0, n1):
            if want_x:
                gx[n] = 0
            for i in range(oh):
                g = gy[n, i].reshape(L)
                for a in range(kh):
                    r = i * sh + a * dh - top
                    if r < 0 or r >= H:
                        continue
                    row, grow = x[n, r].reshape(W * C), gx[n, r].reshape(W * C) if want_x else x[n, r].reshape(W * C)
                    for b in range(kw):
                        s = b * dw - left
                        j0 = max(0, -s)                 # the outputs j whose pixel s + j is inside
                        j1 = max(j0, min(ow, W - s))
                        gj = g[j0 * C:j1 * C]
                        if want_K:
                            gk, run = gKt[a, b, j0 * C:j1 * C], row[(s + j0) * C:(s + j1) * C]
                            for t in range(gj.shape[0]):
                                gk[t] += run[t] * gj[t]
                        if want_x:
                            k, run = Kt[a, b, j0 * C:j1 * C], grow[(s + j0) * C:(s + j1) * C]
                            for t in range(gj.shape[0]):
                                run[t] += gj[t] * k[t]

    @numba.njit(cache=True, nogil=True)
    def forward(x, K, bias, y, sh, sw, dh, dw, top, left, n0, n1):
        # any strides and multiplier: one output pixel's Q channels at a time
        H, W, C = x.shape[1], x.shape[2], x.shape[3]
        _, oh, ow, Q = y.shape
        kh, kw, M = K.shape[0], K.shape[1], Q // C
        for n in range(n0, n1):
            for i in range(oh):
                for j in range(ow):
                    out = y[n, i, j]
                    for q in range(Q):
                        out[q] = bias[q] if bias.shape[0] else 0
                    for a in range(kh):
                        r = i * sh + a * dh - top
                        for b in range(kw):
                            s = j * sw + b * dw - left
                            if r < 0 or r >= H or s < 0 or s >= W:
                                continue
                            row, k = x[n, r, s], K[a, b]
                            if M == 1:
                                for q in range(Q):
                                    out[q] += row[q] * k[q]
                            else:
                                for q in range(Q):
                                    out[q] += row[q // M] * k[q]

    # dx and dK of the per-pixel form: two loop nests alike but for their innermost lines, kept apart on
    # purpose: one nest testing which gradients are wanted ran 4x slower (LLVM kept the short channel loops
    # scalar), while the row form's long runs amortise the same tests (backward_rows)
    @numba.njit(cache=True, nogil=True)
    def backward_x(K, gy, gx, sh, sw, dh, dw, top, left, n0, n1):
        H, W, C = gx.shape[1], gx.shape[2], gx.shape[3]
        _, oh, ow, Q = gy.shape
        kh, kw, M = K.shape[0], K.shape[1], Q // C
        for n in range(n0, n1):
            gx[n] = 0
            for i in range(oh):
                for j in range(ow):
                    g = gy[n, i, j]
                    for a in range(kh):
                        r = i * sh + a * dh - top
                        for b in range(kw):
                            s = j * sw + b * dw - left
                            if r < 0 or r >= H or s < 0 or s >= W:
                                continue
                            gr, k = gx[n, r, s], K[a, b]
                            if M == 1:
                                for c in range(C):
                                    gr[c] += g[c] * k[c]
                            else:
                                for q in range(Q):
                                    gr[q // M] += g[q] * k[q]

    @numba.njit(cache=True, nogil=True)
    def backward_K(x, gy, gK, sh, sw, dh, dw, top, left, n0, n1):
        H, W, C = x.shape[1], x.shape[2], x.shape[3]
        _, oh, ow, Q = gy.shape
        kh, kw, M = gK.shape[0], gK.shape[1], Q // C
        for n in range(n0, n1):
            for i in range(oh):
                for j in range(ow):
                    g = gy[n, i, j]
                    for a in range(kh):
                        r = i * sh + a * dh - top
                        for b in range(kw):
                            s = j * sw + b * dw - left
                            if r < 0 or r >= H or s < 0 or s >= W:
                                continue
                            row, gk = x[n, r, s], gK[a, b]
                            if M == 1:
                                for q in range(Q):
                                    gk[q] += row[q] * g[q]
                            else:
                                for q in range(Q):
                                    gk[q] += row[q // M] * g[q]

    return forward, backward_x, backward_K, forward_rows, backward_rows


def _kernels():
    return compiled.build(NAME, _build)


def _plan(x, K, win):
    """(whether the row loops run, the kernel as the loops take it, their window arguments), or None where the
    compiled loops cannot run (not 2-D, not one float dtype, no numba)."""
    if len(win.k) != 2 or not compiled.usable(x, K) or _kernels() is None:
        return None
    xp = backend.xp
    K2 = xp.ascontiguousarray(K).reshape(*K.shape[:2], -1)
    pads = (win.pads[0][0], win.pads[1][0])
    if win.s[1] == 1 and K.shape[-1] == 1:          # the row loops: K tiled over the output width
        return True, xp.tile(K2, (1, 1, win.out[1])), (win.s[0], *win.d, *pads)
    return False, K2, (*win.s, *win.d, *pads)


def forward(x, K, bias, win):
    """y (N, oh, ow, C·M) of the unpadded input x, or None where the compiled loops cannot run."""
    plan = _plan(x, K, win)
    if plan is None:
        return None
    rows, Kx, steps = plan
    kernel = _kernels()[3 if rows else 0]
    xp = backend.xp
    x = xp.ascontiguousarray(x)
    y = xp.empty((x.shape[0], *win.out, K.shape[-2] * K.shape[-1]), x.dtype)
    b = xp.zeros(0, x.dtype) if bias is None else xp.ascontiguousarray(bias, x.dtype)
    if bias is not None and rows:                   # the row loops take it tiled as Kt
        b = xp.tile(b, win.out[1])
    failed = []

    def images(i0, i1):
        if not compiled.call(NAME, kernel, x, Kx, b, y, *steps, i0, i1):
            failed.append(i0)
    compiled.run_images(images, x.shape[0], y.size * K.shape[0] * K.shape[1])
    return None if failed else y


def backward(x, K, gy, win, want_x: bool, want_K: bool):
    """(dx or None, dK or None) of ``forward``'s output gradient gy, or None where the compiled loops cannot run."""
    plan = _plan(x, K, win)
    if plan is None or gy.dtype != x.dtype:
        return None
    rows, Kx, steps = plan
    kernels = _kernels()
    xp = backend.xp
    x, gy = xp.ascontiguousarray(x), xp.ascontiguousarray(gy)
    gx = xp.empty(x.shape if want_x else (0, 0, 0, 0), x.dtype)
    sums, failed = {}, []

    def images(i0, i1):
        gK = xp.zeros(Kx.shape if want_K else (0, 0, 0), x.dtype)
        if rows:                                    # both in one pass over dy
            ok = compiled.call(NAME, kernels[4], x, Kx, gy, gx, gK, *steps, i0, i1)
        else:
            ok = ((not want_x or compiled.call(NAME, kernels[1], Kx, gy, gx, *steps, i0, i1))
                  and (not want_K or compiled.call(NAME, kernels[2], x, gy, gK, *steps, i0, i1)))
        if not ok:
            failed.append(i0)
        sums[i0] = gK
    compiled.run_images(images, x.shape[0], 2 * gy.size * K.shape[0] * K.shape[1])
    if failed:
        return None
    gK = None
    if want_K:
        parts = [sums[i] for i in sorted(sums)]
        gK = parts[0]
        for part in parts[1:]:
            gK += part
        if rows:                                    # the tiled sums, folded over the output width
            gK = gK.reshape(*K.shape[:2], win.out[1], -1).sum(axis=2)
        gK = gK.reshape(K.shape)
    return (gx if want_x else None), gK
