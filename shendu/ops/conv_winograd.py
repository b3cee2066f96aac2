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
contiguous channels (``winograd_kernels``, numba), and each thread runs its share of the images, blocks of
transforms and the 16 products between them, in one compiled call. Without numba (or SciPy, whose BLAS the
compiled products call) these layers run im2col instead; the plain NumPy forms (einsum) here are the tests' oracle for the loops,
and run in a loop's place if numba fails to compile it. Measured forward and backward, batch 64, one thread:
the tutorial CNN's second layer with its pool (32 -> 64 channels, 13×13) 6.0 ms against im2col's 10.2 ms;
unpooled, 32 -> 64 on 15×15 13.9 against 28.3 ms, 64 -> 64 on 16×16 'same' 33 against 63 ms.
"""
from __future__ import annotations

import os

import numpy

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
    """The transforms as the tap tables the compiled loops read (each loop writes one row: ``winograd_kernels``):
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


def _load(numba):
    """The compiled loops, from ``winograd_kernels`` (imported here: it needs numba and SciPy)."""
    from shendu.ops import winograd_kernels as k
    compiled.rescan_blas()      # SciPy's BLAS (numba's np.dot) has just been loaded and must be held too
    return {name: getattr(k, name) for name in ("input_tiles", "output_pool", "grad_tiles", "output_act",
                                                "grad_act_tiles", "input_grad", "forward_part", "backward_part")}


def kernels():
    """The compiled tile loops as a dict, or None (numba or SciPy missing, a compile failure, or not on NumPy)."""
    return compiled.build(NAME, _load)


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


NO_ARG = numpy.zeros((1, 1, 1, 1), numpy.uint8)     # the parts' arg where there is no pool


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
        k = kernels()
        if k is not None and compiled.call(NAME, k["forward_part"], x, th, tw, i0, i1, step, Vs, keep, U, M, bias,
                                           relu, pooled, y, NO_ARG if arg is None else arg, in_at, in_sign):
            return
        for i in range(i0, i1, step):       # numba failed to compile the part: the same steps, loop by loop
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
        sums[i0] = dU, gb
        k = kernels()
        if k is not None and compiled.call(
                NAME, k["backward_part"], gy, y, NO_ARG if arg is None else arg, relu, pooled, grad, g, dM,
                V if need_K else g[:1, :1].reshape(1, 1, 1), dU, xp.empty((C, F), gy.dtype), Ut,
                dV if need_x else g[:1, :1].reshape(1, 1, 1), gx if need_x else g[:1, :1].reshape(1, 1, 1, 1),
                th, tw, i0, i1, step, gb, need_K, need_x, back_at, back_sign, w_):
            return
        for i in range(i0, i1, step):       # numba failed to compile the part: the same steps, loop by loop
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
    compiled.run_images(images, n, n * tiles * 16 * (C * F * (need_K + need_x) + C + F))
    parts = [sums[i] for i in sorted(sums)]
    dU, gb = parts[0]
    for pU, pb in parts[1:]:                 # the threads' partial sums, added in image order
        dU += pU
        gb += pb
    if need_x and gx.shape[1:3] != (h, w):
        gx = gx[:, :h, :w]
    return gx, (kernel_grad(dU) if need_K else None), (gb if need_b else None)
