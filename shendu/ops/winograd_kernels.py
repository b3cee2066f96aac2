"""Compiled loops of Winograd's F(2×2, 3×3) (``conv_winograd.py``), and the two that run a thread's share of the
op in one call: ``forward_part`` (per block of images: input tiles, the 16 products, the output tiles) and
``backward_part`` (the tiles' gradients, dU's and dV's products, dx).

One call per thread matters: between calls a thread needs Python's lock again, and when the other thread
holds it the wait ended 80-400 µs later on a virtual machine (measured: a blocked thread's core idles, and
an idle core wakes slowly). Per block of images that was several such waits; the tutorial CNN's step went
from 12.6 to 11.1 ms with the whole share in one call. The products are numba's ``np.dot``, which calls
BLAS through SciPy (one thread: the pool's parts hold BLAS to one).

This module imports numba and SciPy at its top; ``conv_winograd.kernels()`` imports it on first use.
"""
from __future__ import annotations

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  numba's np.dot calls BLAS through it: loaded now, so thread limits see it

# Arrays of tiles are position-major, V[p, t, c]: the 16 products read contiguous matrices. Each loop
# covers images n0 .. n1 and their tiles t0 + (n - n0)·th·tw + i·tw + j of the tile arrays. Each inner loop
# runs along contiguous channels and writes one row: a loop that writes several rows of one array is not
# vectorised (their strides are known only at run time, so they might overlap) and ran 4-5x slower.


@numba.njit(cache=True, nogil=True)
def input_tiles(x, th, tw, n0, n1, V, t0, at, sign):
    # V[4a+b, t, c] = (Bᵀ d B)[a, b] = Σ_k sign[4a+b, k]·d[at[4a+b, k]], d = x[n, 2i:2i+4, 2j:2j+4, c]:
    # each of the 16 is four signed taps of the tile (th × tw tiles per image: rows past them are not read)
    C = x.shape[3]
    for n in range(n0, n1):
        for p in range(16):
            s0, s1, s2, s3 = sign[p, 0], sign[p, 1], sign[p, 2], sign[p, 3]
            for i in range(th):
                for j in range(tw):
                    r, q = 2 * i, 2 * j
                    x0, x1 = x[n, r + at[p, 0, 0], q + at[p, 0, 1]], x[n, r + at[p, 1, 0], q + at[p, 1, 1]]
                    x2, x3 = x[n, r + at[p, 2, 0], q + at[p, 2, 1]], x[n, r + at[p, 3, 0], q + at[p, 3, 1]]
                    out = V[p, t0 + ((n - n0) * th + i) * tw + j]
                    for c in range(C):
                        out[c] = (s0 * x0[c] + s1 * x1[c]) + (s2 * x2[c] + s3 * x3[c])


@numba.njit(cache=True, nogil=True)
def output_pool(M, t0, bias, relu, y, arg, n0, n1):
    # the tile's outputs Aᵀ m A + bias; y[n,i,j,f] = act(their max), arg = the first maximum's 2a + b
    th, tw, F = y.shape[1], y.shape[2], y.shape[3]
    for n in range(n0, n1):
        for i in range(th):
            for j in range(tw):
                t = t0 + ((n - n0) * th + i) * tw + j
                for f in range(F):
                    # Aᵀ m: rows 0..3 of each column summed into two rows (s: m0+m1+m2, e: m1-m2-m3)
                    s0 = M[0, t, f] + M[4, t, f] + M[8, t, f]
                    s1 = M[1, t, f] + M[5, t, f] + M[9, t, f]
                    s2 = M[2, t, f] + M[6, t, f] + M[10, t, f]
                    s3 = M[3, t, f] + M[7, t, f] + M[11, t, f]
                    e0 = M[4, t, f] - M[8, t, f] - M[12, t, f]
                    e1 = M[5, t, f] - M[9, t, f] - M[13, t, f]
                    e2 = M[6, t, f] - M[10, t, f] - M[14, t, f]
                    e3 = M[7, t, f] - M[11, t, f] - M[15, t, f]
                    b = bias[f]
                    v00, v01 = s0 + s1 + s2 + b, s1 - s2 - s3 + b
                    v10, v11 = e0 + e1 + e2 + b, e1 - e2 - e3 + b
                    m, k = v00, 0       # the first maximum in row-major order; a NaN wins
                    if v01 > m or (v01 != v01 and m == m):
                        m, k = v01, 1
                    if v10 > m or (v10 != v10 and m == m):
                        m, k = v10, 2
                    if v11 > m or (v11 != v11 and m == m):
                        m, k = v11, 3
                    y[n, i, j, f] = m if (m > 0 or not relu) else 0
                    arg[n, i, j, f] = k


@numba.njit(cache=True, nogil=True)
def grad_tiles(gy, arg, y, relu, grad, g, dM, t0, n0, n1, gb):
    # dM = A dY Aᵀ, dY = the tile's 2×2 gradient: g at its argmax k = 2a + b, 0 elsewhere, so
    # dM[p, t, f] = grad[p, k]·g with g = dy where (relu) y > 0, else 0 (g: an (F,) scratch row). gb += Σ g
    th, tw, F = gy.shape[1], gy.shape[2], gy.shape[3]
    zero = grad[0, 0] - grad[0, 0]
    for n in range(n0, n1):
        for i in range(th):
            for j in range(tw):
                t = t0 + ((n - n0) * th + i) * tw + j
                dy, top, k = gy[n, i, j], y[n, i, j], arg[n, i, j]
                for f in range(F):
                    g[f] = dy[f] if (top[f] > 0 or not relu) else zero
                for f in range(F):
                    gb[f] += g[f]
                for p in range(16):
                    c0, c1, c2, c3 = grad[p, 0], grad[p, 1], grad[p, 2], grad[p, 3]
                    out = dM[p, t]
                    for f in range(F):
                        a = k[f]
                        out[f] = g[f] * (c0 if a == 0 else (c1 if a == 1 else (c2 if a == 2 else c3)))


@numba.njit(cache=True, nogil=True)
def output_act(M, t0, bias, relu, y, n0, n1):
    # no pool: y[n, 2i+a, 2j+b, f] = act((Aᵀ m A)[a, b] + bias[f]), the outputs inside y only (the last tiles
    # of an odd size reach a row or column past it); one loop per output row a of the tile
    oh, ow, F = y.shape[1], y.shape[2], y.shape[3]
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    for n in range(n0, n1):
        for i in range(th):
            for j in range(tw):
                t = t0 + ((n - n0) * th + i) * tw + j
                for a in range(min(2, oh - 2 * i)):
                    row = y[n, 2 * i + a]
                    q = 2 * j
                    for f in range(F):
                        if a == 0:      # Aᵀ's row 0: m0 + m1 + m2 down each column
                            c0 = M[0, t, f] + M[4, t, f] + M[8, t, f]
                            c1 = M[1, t, f] + M[5, t, f] + M[9, t, f]
                            c2 = M[2, t, f] + M[6, t, f] + M[10, t, f]
                            c3 = M[3, t, f] + M[7, t, f] + M[11, t, f]
                        else:           # row 1: m1 - m2 - m3
                            c0 = M[4, t, f] - M[8, t, f] - M[12, t, f]
                            c1 = M[5, t, f] - M[9, t, f] - M[13, t, f]
                            c2 = M[6, t, f] - M[10, t, f] - M[14, t, f]
                            c3 = M[7, t, f] - M[11, t, f] - M[15, t, f]
                        v = c0 + c1 + c2 + bias[f]
                        row[q, f] = v if (v > 0 or not relu) else 0
                        if q + 1 < ow:
                            v = c1 - c2 - c3 + bias[f]
                            row[q + 1, f] = v if (v > 0 or not relu) else 0


@numba.njit(cache=True, nogil=True)
def grad_act_tiles(gy, y, relu, grad, d, dM, t0, n0, n1, gb):
    # no pool: the tile's 2×2 gradient dY[k = 2a + b] = dy where (relu) y > 0, 0 past the output's edge (d: a
    # (4, F) scratch), gb += Σ dY; then dM[p] = Σ_k grad[p, k]·dY[k], A dY Aᵀ (grad's entries: 0 and ±1)
    oh, ow, F = gy.shape[1], gy.shape[2], gy.shape[3]
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    zero = grad[0, 0] - grad[0, 0]
    for n in range(n0, n1):
        for i in range(th):
            for j in range(tw):
                t = t0 + ((n - n0) * th + i) * tw + j
                for k in range(4):
                    r, q, out = 2 * i + (k >> 1), 2 * j + (k & 1), d[k]
                    if r < oh and q < ow:
                        dy, top = gy[n, r, q], y[n, r, q]
                        for f in range(F):
                            out[f] = dy[f] if (top[f] > 0 or not relu) else zero
                        for f in range(F):
                            gb[f] += out[f]
                    else:
                        for f in range(F):
                            out[f] = zero
                for p in range(16):
                    c0, c1, c2, c3 = grad[p, 0], grad[p, 1], grad[p, 2], grad[p, 3]
                    out = dM[p, t]
                    for f in range(F):
                        out[f] = (c0 * d[0, f] + c1 * d[1, f]) + (c2 * d[2, f] + c3 * d[3, f])


@numba.njit(cache=True, nogil=True)
def input_grad(dV, t0, gx, th, tw, n0, n1, at, sign, w):
    # gx[n, 2i:2i+4, 2j:2j+4, c] += B dV Bᵀ: first w[4a+q] = Σ_p Bᵀ[p, a] dV[4p+q], then pixel (a, b) gets
    # Σ_q Bᵀ[q, b] w[4a+q]; Bᵀ's column a has the ≤ 3 nonzeros at[a], sign[a]. w: a (16, C) scratch. The
    # images' gx is zeroed here first, rows and columns past the th × tw tiles included (tiles overlap by two
    # rows and columns: their shares are added)
    C = gx.shape[3]
    gx[n0:n1] = 0
    for n in range(n0, n1):
        for i in range(th):
            for j in range(tw):
                t = t0 + ((n - n0) * th + i) * tw + j
                for a in range(4):
                    s0, s1, s2 = sign[a, 0], sign[a, 1], sign[a, 2]
                    for q in range(4):
                        v0, v1, v2 = dV[4 * at[a, 0] + q, t], dV[4 * at[a, 1] + q, t], dV[4 * at[a, 2] + q, t]
                        out = w[4 * a + q]
                        for c in range(C):
                            out[c] = s0 * v0[c] + s1 * v1[c] + s2 * v2[c]
                for a in range(4):
                    for b in range(4):
                        s0, s1, s2 = sign[b, 0], sign[b, 1], sign[b, 2]
                        w0, w1, w2 = w[4 * a + at[b, 0]], w[4 * a + at[b, 1]], w[4 * a + at[b, 2]]
                        out = gx[n, 2 * i + a, 2 * j + b]
                        for c in range(C):
                            out[c] += s0 * w0[c] + s1 * w1[c] + s2 * w2[c]


@numba.njit(cache=True, nogil=True)
def forward_part(x, th, tw, i0, i1, step, V, keep, U, M, bias, relu, pooled, y, arg, in_at, in_sign):
    # images i0 .. i1, ``step`` at a time: their tiles V (kept whole, or a block's buffer), M[p] = V[p] U[p] for the
    # 16 positions, then the output tiles (pooled with their argmax, or not)
    tiles = th * tw
    for i in range(i0, i1, step):
        m = min(step, i1 - i)
        t0 = i * tiles if keep else 0
        input_tiles(x, th, tw, i, i + m, V, t0, in_at, in_sign)
        for p in range(16):
            np.dot(V[p, t0:t0 + m * tiles], U[p], M[p, :m * tiles])
        if pooled:
            output_pool(M, 0, bias, relu, y, arg, i, i + m)
        else:
            output_act(M, 0, bias, relu, y, i, i + m)


@numba.njit(cache=True, nogil=True)
def backward_part(gy, y, arg, relu, pooled, grad, d, dM, V, dU, scratch, Ut, dV, gx, th, tw, i0, i1, step, gb,
                  need_K, need_x, back_at, back_sign, w):
    # images i0 .. i1, ``step`` at a time: the tiles' dM (and gb += Σ dY), dU[p] += V[p]ᵀ dM[p] (scratch: (C, F)),
    # dV[p] = dM[p] U[p]ᵀ (Ut: (16, F, C)), and dx = B dV Bᵀ into gx
    tiles = th * tw
    for i in range(i0, i1, step):
        m = min(step, i1 - i)
        if pooled:
            grad_tiles(gy, arg, y, relu, grad, d[0], dM, 0, i, i + m, gb)
        else:
            grad_act_tiles(gy, y, relu, grad, d, dM, 0, i, i + m, gb)
        if need_K:
            for p in range(16):
                np.dot(V[p, i * tiles:(i + m) * tiles].T, dM[p, :m * tiles], scratch)
                dU[p] += scratch
        if need_x:
            for p in range(16):
                np.dot(dM[p, :m * tiles], Ut[p], dV[p, :m * tiles])
            input_grad(dV, 0, gx, th, tw, i, i + m, back_at, back_sign, w)
