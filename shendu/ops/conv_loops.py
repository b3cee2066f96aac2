"""Compiled loops for the memory-bound parts of convolution and pooling, each with its plain NumPy form.

The matrix products of a convolution run in BLAS; what is left is moving memory: bias + ReLU after
the product, the ReLU mask of the backward pass, col2im (adding each window's gradient back onto its
pixels) and max pooling. In NumPy these are several whole-array passes each (an add, then a maximum; a
boolean temporary, then a multiply; nine strided adds for a 3×3 col2im; one equality test and one
multiply per pool offset in the backward), so with
numba installed one loop does each in a single pass. ``kernels()`` is None without numba (or on a
backend other than NumPy) and the callers then run the NumPy form, which is also the tests' oracle.
(col2im itself is ``conv_kernels.col2im_cropped``, which writes each pixel of the cropped image once.)

Every loop takes a range (r0, r1) of independent rows (images, or rows of a matrix) last, and writes only
those rows' outputs, so ``compiled.run_parts`` splits it over the allowed threads with the same result,
bit for bit, as one thread.

Pool windows are indexed over the *padded* input: output (i, j) covers rows i*sh .. i*sh + kh - 1 and
columns j*sw .. j*sw + kw - 1. The stored argmax is the offset a*kw + b of the first maximum in
row-major window order (PyTorch's tie rule); a NaN wins, as it does in ``maximum``.
"""
from __future__ import annotations

from shendu import backend
from shendu.ops import compiled

NAME = "conv_loops"


def _build(numba):
    @numba.njit(cache=True, nogil=True)
    def relu_mask(gy, a, out, r0, r1):
        # dz = da where a > 0, else 0: one pass, no boolean temporary (flat, contiguous arrays). The range is
        # sliced off first: an index from range(r0, r1) could be negative, and its wraparound test would stop
        # the loop from being vectorised (5x slower)
        gy, a, out = gy[r0:r1], a[r0:r1], out[r0:r1]
        for i in range(out.shape[0]):
            out[i] = gy[i] if a[i] > 0 else 0

    @numba.njit(cache=True, nogil=True)
    def bias_relu(y, b, relu, r0, r1):
        # y = max(y + b, 0) (or y + b) in place, y (rows, F), b (F,): one pass instead of two
        y = y[r0:r1]
        for i in range(y.shape[0]):
            for f in range(y.shape[1]):
                v = y[i, f] + b[f]
                y[i, f] = v if (v > 0 or not relu) else 0

    @numba.njit(cache=True, nogil=True)
    def max_pool(x, y, arg, kh, kw, sh, sw, r0, r1):
        # y[n,i,j,c] = max over the window, arg = the offset a*kw + b of its first maximum
        x, y, arg = x[r0:r1], y[r0:r1], arg[r0:r1]        # the images of this range
        n_, oh, ow, c_ = y.shape
        for n in range(n_):
            for i in range(oh):
                for j in range(ow):
                    for c in range(c_):
                        y[n, i, j, c] = x[n, i * sh, j * sw, c]
                        arg[n, i, j, c] = 0
                    for a in range(kh):
                        for b in range(kw):
                            if a == 0 and b == 0:
                                continue
                            r, q = i * sh + a, j * sw + b
                            for c in range(c_):
                                v, m = x[n, r, q, c], y[n, i, j, c]
                                if v > m or (v != v and m == m):
                                    y[n, i, j, c] = v
                                    arg[n, i, j, c] = a * kw + b

    @numba.njit(cache=True, nogil=True)
    def max_pool_grad(gy, arg, g, kh, kw, sh, sw, assign, r0, r1):
        # g[n, i*sh + a, j*sw + b, c] (+)= gy[n,i,j,c] where arg = a*kw + b, else 0: one pass per
        # window offset along contiguous channels; ``assign`` when the windows tile g exactly
        gy, arg, g = gy[r0:r1], arg[r0:r1], g[r0:r1]
        n_, oh, ow, c_ = gy.shape
        for n in range(n_):
            for i in range(oh):
                for a in range(kh):
                    r = i * sh + a
                    for j in range(ow):
                        for b in range(kw):
                            q, k = j * sw + b, a * kw + b
                            if assign:
                                for c in range(c_):
                                    g[n, r, q, c] = gy[n, i, j, c] if arg[n, i, j, c] == k else 0
                            else:
                                for c in range(c_):
                                    g[n, r, q, c] += gy[n, i, j, c] if arg[n, i, j, c] == k else 0

    @numba.njit(cache=True, nogil=True)
    def bias_act_pool(z, b, relu, ph, pw, y, arg, r0, r1):
        # y[n,i,j,f] = act(max_{a,b} z[n, i*ph+a, j*pw+b, f] + b[f]), arg its first maximum's offset a*pw + b:
        # pooling tiles z (stride = pool size, the last rows and columns left over are dropped); the maximum
        # of ReLU'd values is the ReLU of the maximum, so the ReLU runs once per window
        z, y, arg = z[r0:r1], y[r0:r1], arg[r0:r1]
        n_, oh, ow, c_ = y.shape
        for n in range(n_):
            for i in range(oh):
                for j in range(ow):
                    for c in range(c_):
                        y[n, i, j, c] = z[n, i * ph, j * pw, c] + b[c]
                        arg[n, i, j, c] = 0
                    for a in range(ph):
                        for q in range(pw):
                            if a == 0 and q == 0:
                                continue
                            r, s = i * ph + a, j * pw + q
                            for c in range(c_):
                                v, m = z[n, r, s, c] + b[c], y[n, i, j, c]
                                if v > m or (v != v and m == m):
                                    y[n, i, j, c] = v
                                    arg[n, i, j, c] = a * pw + q
                    if relu:
                        for c in range(c_):
                            v = y[n, i, j, c]
                            y[n, i, j, c] = v if v > 0 else 0

    @numba.njit(cache=True, nogil=True)
    def pool_act_grad(gy, arg, y, relu, ph, pw, gz, r0, r1):
        # gz[n, i*ph+a, j*pw+b, f] = gy[n,i,j,f] where a*pw + b is the window's argmax (and y > 0 for relu), else
        # 0: every element of gz written once, row by row, the pooled rows left over included
        gy, arg, y, gz = gy[r0:r1], arg[r0:r1], y[r0:r1], gz[r0:r1]
        n_, oh, ow, c_ = gy.shape
        for n in range(n_):
            for r in range(gz.shape[1]):
                i, a = r // ph, r % ph
                for s in range(gz.shape[2]):
                    j, q = s // pw, s % pw
                    if i >= oh or j >= ow:
                        for c in range(c_):
                            gz[n, r, s, c] = 0
                        continue
                    k = a * pw + q
                    for c in range(c_):
                        hit = arg[n, i, j, c] == k and (y[n, i, j, c] > 0 or not relu)
                        gz[n, r, s, c] = gy[n, i, j, c] if hit else 0

    return {"relu_mask": relu_mask, "bias_relu": bias_relu, "max_pool": max_pool, "max_pool_grad": max_pool_grad,
            "bias_act_pool": bias_act_pool, "pool_act_grad": pool_act_grad}


def kernels():
    """The compiled loops as a dict, or None (numba missing or failing to compile, or not on NumPy)."""
    return compiled.build(NAME, _build)


def _run(kernel, n, work, *args) -> bool:
    """kernel(*args, r0, r1) over n independent rows split on the allowed threads (``work``: element
    operations in all); False when numba fails to compile it (the loops are then off)."""
    return compiled.run(NAME, kernel, n, work, *args)


# ---------------------------------------------------------------- the callers' entry points


def relu_mask(gy, a):
    """dz = dy where a > 0 else 0, a fresh array (the backward of a = max(z, 0), written with its output)."""
    xp, k = backend.xp, kernels()
    if k is None or not compiled.usable(gy, a) or gy.shape != a.shape:
        return gy * (a > 0)
    out = xp.empty(a.shape, a.dtype)
    if _run(k["relu_mask"], a.size, a.size, xp.ascontiguousarray(gy).reshape(-1),
            xp.ascontiguousarray(a).reshape(-1), out.reshape(-1)):
        return out
    return gy * (a > 0)


def bias_relu(y, b, relu: bool) -> None:
    """y = max(y + b, 0) (relu) or y + b, in place on y (rows, F), an array the caller owns; b (F,) or None."""
    xp, k = backend.xp, kernels()
    if (k is not None and b is not None and compiled.usable(y, b) and y.ndim == 2 and y.flags.c_contiguous
            and _run(k["bias_relu"], y.shape[0], y.size, y, b, relu)):
        return
    if b is not None:
        y += b
    if relu:
        xp.maximum(y, 0, out=y)


def max_pool(xpad, win):
    """(y, argmax) of the undilated max pool over padded xpad, or None when no compiled loop runs."""
    xp, k = backend.xp, kernels()
    if k is None or not compiled.usable(xpad) or win.d != (1, 1) or win.k[0] * win.k[1] > 255:
        return None
    shape = (xpad.shape[0], *win.out, xpad.shape[-1])
    y, arg = xp.empty(shape, xpad.dtype), xp.empty(shape, xp.uint8)
    work = y.size * win.k[0] * win.k[1]
    if not _run(k["max_pool"], shape[0], work, xp.ascontiguousarray(xpad), y, arg, win.k[0], win.k[1], *win.s):
        return None
    return y, arg


def max_pool_grad(gy, arg, win, padded_shape):
    """The gradient of ``max_pool`` on the padded input: gy routed to each window's argmax."""
    xp, k = backend.xp, kernels()
    if k is not None and compiled.usable(gy):
        # windows that tile the padded image exactly (stride = pool size, no remainder) write every pixel once
        tiles = win.s == win.k and all(o * s == n for o, s, n in zip(win.out, win.s, padded_shape[1:3]))
        g = (xp.empty if tiles else xp.zeros)(padded_shape, gy.dtype)
        work = gy.size * win.k[0] * win.k[1]
        if _run(k["max_pool_grad"], gy.shape[0], work, xp.ascontiguousarray(gy), arg, g, win.k[0], win.k[1],
                *win.s, tiles):
            return g
    g = xp.zeros(padded_shape, gy.dtype)
    (oh, ow), (sh, sw) = win.out, win.s
    for a in range(win.k[0]):               # the plain form: one masked add per window offset
        for b in range(win.k[1]):
            g[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw] += gy * (arg == a * win.k[1] + b)
    return g


def bias_act_pool(z, b, relu: bool, pool, y, arg) -> None:
    """y = act(max over each pool window of z + b) and arg = each window's first maximum, a*pw + b, written
    into y and arg (n, oh, ow, F): windows of pool = (ph, pw) that tile z (n, h, w, F), stride = pool size,
    the rows and columns left over (h - oh*ph, w - ow*pw) dropped."""
    xp, k = backend.xp, kernels()
    n, f, (oh, ow), (ph, pw) = z.shape[0], z.shape[-1], y.shape[1:3], pool
    b = xp.zeros(f, z.dtype) if b is None else b
    if k is not None and compiled.usable(z, b, y) and _run(k["bias_act_pool"], n, z.size, z, b, relu, ph, pw, y,
                                                           arg):
        return
    # the plain form: windows as a trailing axis, its first maximum (a NaN wins)
    windows = (z[:, :oh * ph, :ow * pw] + b).reshape(n, oh, ph, ow, pw, f).transpose(0, 1, 3, 5, 2, 4)
    windows = windows.reshape(n, oh, ow, f, ph * pw)
    arg[...] = windows.argmax(axis=-1)
    y[...] = xp.take_along_axis(windows, arg[..., None].astype(xp.intp), axis=-1)[..., 0]
    if relu:
        y[...] = xp.where(y > 0, y, 0)          # NaN -> 0, as the compiled loop and bias_relu


def pool_act_grad(gy, arg, y, relu: bool, pool, out) -> None:
    """out (n, h, w, F) = the gradient of ``bias_act_pool``'s z: gy at each window's argmax where (for relu)
    y > 0, else 0; every element of out written."""
    xp, k = backend.xp, kernels()
    (oh, ow), (ph, pw) = gy.shape[1:3], pool
    if k is not None and compiled.usable(gy, y, out) and _run(k["pool_act_grad"], out.shape[0], out.size,
                                                              xp.ascontiguousarray(gy), arg, y, relu, ph, pw, out):
        return
    g = gy * (y > 0) if relu else gy
    out[...] = 0
    for a in range(ph):
        for q in range(pw):
            out[:, a:oh * ph:ph, q:ow * pw:pw] = g * (arg == a * pw + q)
