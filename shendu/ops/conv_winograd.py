"""Winograd's F(2×2, 3×3): a 3×3 convolution + bias + activation (+ a 2×2 max pool) with 16 products per 2×2 tile.

A 3×3 convolution makes each 2×2 block of outputs from a 4×4 tile d of the input with 36 multiplies per
channel pair; Winograd's minimal filtering (Lavin & Gray, 2015) makes them with 16:

    y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A         (g: one 3×3 kernel slice; ⊙: elementwise)

Summed over input channels, the 16 elementwise products become 16 matrix products, one per tile position p:
M[p] = V[p] U[p] with V[p] (tiles, C) the transformed input and U[p] (C, F) the transformed kernel, 2.25×
fewer multiplies than im2col's GEMM. With a 2×2 max pool after it, the 2×2 output tiles are exactly the
pool's windows, so the output transform, the bias, the activation and the pool run in one pass and only the
pooled values and each window's argmax are kept (as ``Conv2DActPool``); without one, the tiles cover the
output (an odd size's last tiles reach one row or column past it). The backward is the same algebra
transposed:

    dM = A dY Aᵀ                        (dY: the tile's 2×2 gradient; pooled, dy at its argmax, 0 elsewhere)
    dU[p] = V[p]ᵀ dM[p],  dK = Gᵀ dU G  (summed over tiles by the product)
    dV[p] = dM[p] U[p]ᵀ,  dx += B dV Bᵀ (tiles overlap by two rows and columns: added)

The transforms' entries are 0, ±1 and ±½, so the rounding is close to the direct sum's, not equal to it: a
window's argmax can differ where two outputs tie to rounding. The tile transforms are compiled loops over
contiguous channels (numba); the 16 products of a block of images are one ``matmul`` call. Without numba
these layers run im2col instead; the plain NumPy forms (einsum) here are the tests' oracle for the loops,
and run in a loop's place if numba fails to compile it. Measured forward and backward, batch 64, one thread:
the tutorial CNN's second layer with its pool (32 -> 64 channels, 13×13) 6.0 ms against im2col's 10.2 ms;
unpooled, 32 -> 64 on 15×15 13.9 against 28.3 ms, 64 -> 64 on 16×16 'same' 33 against 63 ms.
"""
from __future__ import annotations

import os

from shendu import backend
from shendu.ops import compiled

NAME = "conv_winograd"
# False (or SHENDU_WINOGRAD=0): those layers run im2col (whose numbers equal Conv2D + MaxPooling2D's bit for bit)
enabled = os.environ.get("SHENDU_WINOGRAD", "1") != "0"
# Winograd runs where C·F / (C + F) > MIN_WIDTH (C input channels, F filters): the products' saving grows with C·F,
# the transforms' cost with C + F. Measured (forward + backward, one thread, 14×14, batch 64): 16 -> 32 channels
# 3.6 against im2col's 4.8 ms, 32 -> 16 4.9 against 6.5; 16 -> 16, 8 -> 64 and 64 -> 8 even; 4 -> 16 on 28×28
# 12.8 against 6.9 (inner loops of 4 channels)
MIN_WIDTH = 8
BLOCK_BYTES = 1 << 20   # images per block: their V and M tiles about fill a core's L2 cache

# the transforms: Bᵀ (4×4) on input tiles, G (4×3) on kernels, Aᵀ (2×4) on product tiles
BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _taps(M, rows: bool):
    """The nonzero entries of each row (or column) of M as (index, value) lists: the transforms are sparse."""
    lines = M if rows else tuple(zip(*M))
    return [[(k, v) for k, v in enumerate(line) if v] for line in lines]


def _cached(make):
    """``make(dtype)`` made once per array module and dtype: a step would otherwise rebuild its small tables."""
    made = {}

    def get(dtype):
        key = (backend.xp.__name__, backend.xp.dtype(dtype).str)
        if key not in made:
            made[key] = make(dtype)
        return made[key]
    get.__doc__ = make.__doc__
    return get


@_cached
def _tables(dtype):
    """The transforms as the tap tables the compiled loops read (each loop writes one row: see ``_build``):
    - in_at (16, 4, 2), in_sign (16, 4): V[4a+b] = Σ_k in_sign[k]·d[in_at[k]], the 2×2 nonzeros of Bᵀ's rows a, b;
    - grad (16, 4): dM[4u+v] = grad[4u+v, 2a+b]·g for an argmax (a, b), grad = A[u, a]·A[v, b];
    - back_at (4, 3), back_sign (4, 3): the ≤ 3 nonzeros of each column of Bᵀ (sign 0 pads), for dx = B dV Bᵀ."""
    xp = backend.xp
    rows = _taps(BT, rows=True)
    in_at = [[(r, q) for r, _ in rows[a] for q, _ in rows[b]] for a in range(4) for b in range(4)]
    in_sign = [[u * v for _, u in rows[a] for _, v in rows[b]] for a in range(4) for b in range(4)]
    grad = [[AT[a][u] * AT[b][v] for a in range(2) for b in range(2)] for u in range(4) for v in range(4)]
    cols = [taps + [(0, 0)] * (3 - len(taps)) for taps in _taps(BT, rows=False)]
    return (xp.asarray(in_at, xp.intp), xp.asarray(in_sign, dtype), xp.asarray(grad, dtype),
            xp.asarray([[k for k, _ in c] for c in cols], xp.intp), xp.asarray([[v for _, v in c] for c in cols], dtype))


def _build(numba):
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

    return {"input_tiles": input_tiles, "output_pool": output_pool, "grad_tiles": grad_tiles,
            "output_act": output_act, "grad_act_tiles": grad_act_tiles, "input_grad": input_grad}


def kernels():
    """The compiled tile loops as a dict, or None (numba missing or failing, or not on NumPy)."""
    return compiled.build(NAME, _build)


def applies(x, K, win, pool) -> bool:
    """Whether F(2×2, 3×3) runs: a 3×3 kernel, stride 1, undilated, no pool or a 2×2 one with at least one window,
    channels and filters wide enough (MIN_WIDTH), float32/float64 NumPy arrays, and the compiled loops there."""
    C, F, pool = K.shape[2], K.shape[3], tuple(pool)
    return (enabled and K.shape[:2] == (3, 3) and win.s == (1, 1) and win.d == (1, 1) and pool in ((1, 1), (2, 2))
            and C * F > MIN_WIDTH * (C + F) and all(o >= pool[0] for o in win.out) and compiled.usable(x, K)
            and kernels() is not None)


# ---------------------------------------------------------------- the plain forms (the tests' oracle)


@_cached
def _arrays(dtype):
    """Bᵀ, G and Aᵀ as arrays of ``dtype``."""
    xp = backend.xp
    return xp.asarray(BT, dtype), xp.asarray(G, dtype), xp.asarray(AT, dtype)


def _tile_view(x, th, tw):
    """The 4×4 input tiles at stride 2 as a view (n, th, tw, 4, 4, C)."""
    n, _, _, c = x.shape
    s = x.strides
    return backend.xp.lib.stride_tricks.as_strided(
        x, (n, th, tw, 4, 4, c), (s[0], 2 * s[1], 2 * s[2], s[1], s[2], s[3]), writeable=False)


@_cached
def _kron_G(dtype):
    """G ⊗ G (16, 9): (G g Gᵀ)[i, j] = Σ_ab G[i, a] G[j, b] g[a, b] is row 4i + j of it times g flattened."""
    _, G_, _ = _arrays(dtype)
    return backend.xp.kron(G_, G_)


def kernel_transform(K):
    """U[4i+j, c, f] = (G g Gᵀ)[i, j] for each kernel slice g = K[:, :, c, f]: (16, C, F), one small product."""
    return (_kron_G(K.dtype) @ K.reshape(9, -1)).reshape(16, *K.shape[2:])


def kernel_grad(dU):
    """dK = Gᵀ dU G for each (c, f): (3, 3, C, F) from dU (16, C, F), the transpose of ``kernel_transform``."""
    return (_kron_G(dU.dtype).T @ dU.reshape(16, -1)).reshape(3, 3, *dU.shape[1:])


def _rows(n0, n1, th, tw, t0):
    return slice(t0, t0 + (n1 - n0) * th * tw)


def plain_input_tiles(x, th, tw, n0, n1, V, t0, *tables):
    """``input_tiles`` in NumPy: V[:, tiles of images n0 .. n1] = Bᵀ d B of each of x's th × tw tiles."""
    BT_, _, _ = _arrays(x.dtype)
    tiles = backend.xp.einsum("ia,ntsabc,jb->ijntsc", BT_, _tile_view(x[n0:n1], th, tw), BT_, optimize=True)
    V[:, _rows(n0, n1, th, tw, t0)] = tiles.reshape(16, -1, x.shape[3])


def plain_output_pool(M, t0, bias, relu, y, arg, n0, n1):
    """``output_pool`` in NumPy: the tiles' outputs Aᵀ m A + bias, their first maximum and its offset."""
    xp = backend.xp
    _, _, AT_ = _arrays(M.dtype)
    _, th, tw, F = y.shape
    m = M[:, _rows(n0, n1, th, tw, t0)].reshape(4, 4, n1 - n0, th, tw, F)
    z = xp.einsum("ip,pqntsf,jq->ntsfij", AT_, m, AT_, optimize=True) + bias[:, None, None]
    windows = z.reshape(n1 - n0, th, tw, F, 4)
    arg[n0:n1] = windows.argmax(axis=-1)
    top = xp.take_along_axis(windows, arg[n0:n1, ..., None].astype(xp.intp), axis=-1)[..., 0]
    y[n0:n1] = xp.where(top > 0, top, 0) if relu else top


def plain_grad_tiles(gy, arg, y, relu, grad, g, dM, t0, n0, n1, gb):
    """``grad_tiles`` in NumPy: dM = A dY Aᵀ of each tile's 2×2 gradient; gb += Σ of the tiles' gradients."""
    xp = backend.xp
    _, _, AT_ = _arrays(gy.dtype)
    _, th, tw, F = gy.shape
    g = xp.where(y[n0:n1] > 0, gy[n0:n1], 0) if relu else gy[n0:n1]
    dY = xp.where(xp.arange(4) == arg[n0:n1, ..., None], g[..., None], 0)    # (n, th, tw, F, 4): 2×2 tiles, flat
    dm = xp.einsum("ip,ntsfij,jq->pqntsf", AT_, dY.reshape(n1 - n0, th, tw, F, 2, 2), AT_, optimize=True)
    dM[:, _rows(n0, n1, th, tw, t0)] = dm.reshape(16, -1, F)
    gb += g.reshape(-1, F).sum(axis=0)


def plain_output_act(M, t0, bias, relu, y, n0, n1):
    """``output_act`` in NumPy: every tile's Aᵀ m A + bias (activated), the part inside y written."""
    xp = backend.xp
    _, _, AT_ = _arrays(M.dtype)
    _, oh, ow, F = y.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    m = M[:, _rows(n0, n1, th, tw, t0)].reshape(4, 4, n1 - n0, th, tw, F)
    z = xp.einsum("ip,pqntsf,jq->ntisjf", AT_, m, AT_, optimize=True).reshape(n1 - n0, 2 * th, 2 * tw, F)
    z = z[:, :oh, :ow] + bias
    y[n0:n1] = xp.where(z > 0, z, 0) if relu else z


def plain_grad_act_tiles(gy, y, relu, grad, d, dM, t0, n0, n1, gb):
    """``grad_act_tiles`` in NumPy: dM = A dY Aᵀ of each tile's 2×2 gradient (0 past the edge); gb += Σ dY."""
    xp = backend.xp
    _, _, AT_ = _arrays(gy.dtype)
    _, oh, ow, F = gy.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    g = xp.where(y[n0:n1] > 0, gy[n0:n1], 0) if relu else gy[n0:n1]
    gb += g.reshape(-1, F).sum(axis=0)
    full = xp.zeros((n1 - n0, 2 * th, 2 * tw, F), gy.dtype)
    full[:, :oh, :ow] = g
    dY = full.reshape(n1 - n0, th, 2, tw, 2, F)
    dm = xp.einsum("ip,ntiswf,wq->pqntsf", AT_, dY, AT_, optimize=True)
    dM[:, _rows(n0, n1, th, tw, t0)] = dm.reshape(16, -1, F)


def plain_input_grad(dV, t0, gx, th, tw, n0, n1, *tables):
    """``input_grad`` in NumPy: gx = the sum of every tile's B dV Bᵀ at its place (tiles overlap), 0 elsewhere."""
    xp = backend.xp
    BT_, _, _ = _arrays(dV.dtype)
    C = gx.shape[3]
    dv = dV[:, _rows(n0, n1, th, tw, t0)].reshape(4, 4, n1 - n0, th, tw, C)
    dd = xp.einsum("pa,pqntsc,qb->ntsabc", BT_, dv, BT_, optimize=True)
    g = gx[n0:n1]
    g[...] = 0
    for a in range(4):
        for b in range(4):
            g[:, a:a + 2 * th:2, b:b + 2 * tw:2] += dd[:, :, :, a, b]


# ---------------------------------------------------------------- the op's two passes


PLAIN = {"input_tiles": plain_input_tiles, "output_pool": plain_output_pool, "grad_tiles": plain_grad_tiles,
         "output_act": plain_output_act, "grad_act_tiles": plain_grad_act_tiles, "input_grad": plain_input_grad}


def _run(loop: str, *args) -> None:
    """The compiled loop ``loop``, or its plain form where numba failed to compile it (the loops are then off)."""
    k = kernels()
    if k is None or not compiled.call(NAME, k[loop], *args):
        PLAIN[loop](*args)


def _images_per_block(tiles, C, F, itemsize, n):
    return max(1, min(n, BLOCK_BYTES // (tiles * 16 * (C + F) * itemsize)))


def _tile_counts(h, w, pooled: bool):
    """Tiles per column and row of an (h, w) padded input: the pool's windows (the last row or column of an odd
    output left out, as the pool drops it), or, without a pool, enough to cover every output."""
    oh, ow = h - 2, w - 2
    return (oh // 2, ow // 2) if pooled else ((oh + 1) // 2, (ow + 1) // 2)


def forward(xpad, K, bias, relu: bool, keep: bool, pooled: bool = True):
    """(y, arg, V, U): act(conv3×3(xpad, K) + bias), max-pooled over 2×2 windows (``pooled``, with each window's
    argmax: arg) or not (arg None), and what the backward reads (V: every tile's transformed input, kept when
    ``keep``; U: the transformed kernel). xpad (n, H, W, C) is the padded input. Pooled, input rows and columns
    past the windows' tiles are not read (the pool drops what they make); not pooled, an odd output's last
    tiles reach one row or column past the input, read as zeros."""
    xp = backend.xp
    n, h, w, C = xpad.shape
    F = K.shape[-1]
    th, tw = _tile_counts(h, w, pooled)
    x = xp.ascontiguousarray(xpad)
    if 2 * th + 2 > h or 2 * tw + 2 > w:
        x = xp.zeros((n, 2 * th + 2, 2 * tw + 2, C), xpad.dtype)
        x[:, :h, :w] = xpad
    U = kernel_transform(K)
    bias = xp.zeros(F, x.dtype) if bias is None else bias
    if pooled:
        y, arg = xp.empty((n, th, tw, F), x.dtype), xp.empty((n, th, tw, F), xp.uint8)
    else:
        y, arg = xp.empty((n, h - 2, w - 2, F), x.dtype), None
    V = xp.empty((16, n * th * tw, C), x.dtype) if keep else None
    in_at, in_sign, _, _, _ = _tables(x.dtype)
    step, tiles = _images_per_block(th * tw, C, F, x.dtype.itemsize, n), th * tw

    def images(i0, i1):
        rows = min(step, i1 - i0) * tiles
        Vs = V if keep else xp.empty((16, rows, C), x.dtype)        # the kept tiles, or one block's
        M = xp.empty((16, rows, F), x.dtype)
        for i in range(i0, i1, step):
            m = min(step, i1 - i)
            t0 = i * tiles if keep else 0
            _run("input_tiles", x, th, tw, i, i + m, Vs, t0, in_at, in_sign)
            xp.matmul(Vs[:, t0:t0 + m * tiles], U, out=M[:, :m * tiles])     # M[p] = V[p] U[p], 16 products
            if pooled:
                _run("output_pool", M, 0, bias, relu, y, arg, i, i + m)
            else:
                _run("output_act", M, 0, bias, relu, y, i, i + m)
    compiled.run_images(images, n, n * tiles * 16 * (C * F + C + F))
    return y, arg, V, U


def backward(gy, y, arg, V, U, relu: bool, padded_shape, need_x: bool, need_K: bool, need_b: bool):
    """(dx of the padded input or None, dK or None, dbias or None) from the output's gradient gy (pooled when
    ``forward`` gave an arg)."""
    xp = backend.xp
    n, F = gy.shape[0], gy.shape[-1]
    pooled = arg is not None
    h, w, C = padded_shape[1], padded_shape[2], U.shape[1]
    th, tw = _tile_counts(h, w, pooled)
    tiles = th * tw
    gy = xp.ascontiguousarray(gy)
    Ut = xp.ascontiguousarray(U.transpose(0, 2, 1))          # (16, F, C): dV[p] = dM[p] U[p]ᵀ
    # grad_in zeroes and fills its images, over the tiles' reach when that passes the input (cut off after)
    gx = xp.empty((n, max(h, 2 * th + 2), max(w, 2 * tw + 2), C), gy.dtype) if need_x else None
    _, _, grad, back_at, back_sign = _tables(gy.dtype)
    step = _images_per_block(tiles, C, F, gy.dtype.itemsize, n)
    sums = {}

    def images(i0, i1):
        rows = min(step, i1 - i0) * tiles
        dU, gb = xp.zeros((16, C, F), gy.dtype), xp.zeros(F, gy.dtype)
        dM = xp.empty((16, rows, F), gy.dtype)
        dV = xp.empty((16, rows, C), gy.dtype) if need_x else None
        g, w_ = xp.empty((4, F), gy.dtype), xp.empty((16, C), gy.dtype)     # the loops' scratch rows
        for i in range(i0, i1, step):
            m = min(step, i1 - i)
            if pooled:
                _run("grad_tiles", gy, arg, y, relu, grad, g[0], dM, 0, i, i + m, gb)
            else:
                _run("grad_act_tiles", gy, y, relu, grad, g, dM, 0, i, i + m, gb)
            dMb = dM[:, :m * tiles]
            if need_K:                                  # dU[p] += V[p]ᵀ dM[p]
                dU += xp.matmul(V[:, i * tiles:(i + m) * tiles].transpose(0, 2, 1), dMb)
            if need_x:                                  # dV[p] = dM[p] U[p]ᵀ, then dx = B dV Bᵀ
                xp.matmul(dMb, Ut, out=dV[:, :m * tiles])
                _run("input_grad", dV, 0, gx, th, tw, i, i + m, back_at, back_sign, w_)
        sums[i0] = dU, gb
    compiled.run_images(images, n, n * tiles * 16 * (C * F * (need_K + need_x) + C + F))
    parts = [sums[i] for i in sorted(sums)]
    dU, gb = parts[0]
    for pU, pb in parts[1:]:                 # the threads' partial sums, added in image order
        dU += pU
        gb += pb
    if need_x and gx.shape[1:3] != (h, w):
        gx = gx[:, :h, :w]
    return gx, (kernel_grad(dU) if need_K else None), (gb if need_b else None)
