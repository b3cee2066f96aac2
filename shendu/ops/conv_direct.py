"""Direct convolution + bias + activation + max pool for layers with few input channels (first layers).

A grayscale or RGB first layer has kh·kw·C ≤ 27 terms per output: im2col then a GEMM with an inner
dimension of 9 runs BLAS far below its peak, and the layer's time goes to moving its wide output
through memory (the product, the pool, the pool's gradient, dK's product). Here one compiled loop per
pooled output reads its input patch (ph·pw windows of kh·kw·C values), computes the ph·pw convolution
outputs of every filter, and keeps their maximum and argmax: nothing but the pooled output is written.

    forward:  z[p, f] = b[f] + Σ_t patch[p, t] K[t, f]  (p in the pool window, t = (a, b, c) in the kernel)
              y[f] = act(max_p z[p, f]),  arg[f] = the first p reaching it (a NaN wins, as max_pool2d's)
    backward: w[p, f] = dy[f] where p = arg[f] and (relu) y[f] > 0, else 0
              dK[t, f] += Σ_p w[p, f] patch[p, t],  dbias[f] += Σ_p w[p, f]
              (no dx: the direct form runs where the input needs no gradient, as a first layer's)

The kernel size, channels, strides and pool size are compile-time constants of each compiled pair
(``kernels``; numba caches each on disk), so the short loops over them unroll. The patch is gathered by
the same loops in both kernels: a shared compiled helper would keep numba from caching them. Sums run
in another order than the GEMM's (bias first): the numbers agree to rounding, not bit for bit. Each
thread sums dK and dbias for its own images, one image at a time, and the parts are added in image order.
"""
from __future__ import annotations

from shendu import backend
from shendu.ops import compiled, conv, conv_loops

MAX_TERMS = 32      # kh·kw·C at most: a first layer (3×3 RGB is 27); wider layers run im2col and BLAS
MAX_POOL = 16       # ph·pw at most (the argmax is a uint8)


def _build(kh, kw, C, sh, sw, ph, pw):
    T, P = kh * kw * C, ph * pw

    def make(numba):

        @numba.njit(cache=True, nogil=True)
        def forward(x, K2, bias, relu, y, arg, patch, n0, n1):
            # patch: (P, T) scratch
            oh, ow, F = y.shape[1], y.shape[2], y.shape[3]
            for n in range(n0, n1):
                for i in range(oh):
                    for j in range(ow):
                        for p in range(P):      # patch[p, t] = x[n, r*sh + a, q*sw + b, c], (r, q) the cell's pixel
                            r0, c0 = (i * ph + p // pw) * sh, (j * pw + p % pw) * sw
                            t = 0
                            for a in range(kh):
                                for b in range(kw):
                                    for c in range(C):
                                        patch[p, t] = x[n, r0 + a, c0 + b, c]
                                        t += 1
                        out, at = y[n, i, j], (arg[n, i, j] if P > 1 else arg[0, 0, 0])
                        for f in range(F):
                            best = bias[f]
                            for t in range(T):
                                best += patch[0, t] * K2[t, f]
                            k = 0
                            for p in range(1, P):
                                v = bias[f]
                                for t in range(T):
                                    v += patch[p, t] * K2[t, f]
                                if v > best or (v != v and best == best):
                                    best, k = v, p
                            out[f] = best if (best > 0 or not relu) else 0
                            if P > 1:                       # no pool (P = 1): no argmax to keep
                                at[f] = k

        @numba.njit(cache=True, nogil=True)
        def backward(x, gy, y, arg, relu, gK, gb, patch, w, sK, sb, n0, n1):
            # gK (T, F), gb (F,): this part's sums, added to; patch (P, T), w (P, F), sK (T, F), sb (F,): scratch
            oh, ow, F = gy.shape[1], gy.shape[2], gy.shape[3]
            for n in range(n0, n1):
                sK[:] = 0                                # one image's sums, then added: shorter float sums
                sb[:] = 0
                for i in range(oh):
                    for j in range(ow):
                        for p in range(P):      # patch[p, t] = x[n, r*sh + a, q*sw + b, c], (r, q) the cell's pixel
                            r0, c0 = (i * ph + p // pw) * sh, (j * pw + p % pw) * sw
                            t = 0
                            for a in range(kh):
                                for b in range(kw):
                                    for c in range(C):
                                        patch[p, t] = x[n, r0 + a, c0 + b, c]
                                        t += 1
                        g0, a0, y0 = gy[n, i, j], (arg[n, i, j] if P > 1 else arg[0, 0, 0]), y[n, i, j]
                        for p in range(P):
                            for f in range(F):
                                g = g0[f] if (y0[f] > 0 or not relu) else 0
                                w[p, f] = g if (P == 1 or a0[f] == p) else 0
                        for f in range(F):
                            s = sb[f]
                            for p in range(P):
                                s += w[p, f]
                            sb[f] = s
                        for t in range(T):
                            for f in range(F):
                                s = sK[t, f]
                                for p in range(P):
                                    s += w[p, f] * patch[p, t]
                                sK[t, f] = s
                gK += sK
                gb += sb

        return forward, backward
    return make


def _name(K, win, pool) -> str:
    return f"conv_direct_{'x'.join(map(str, K.shape[:3]))}_stride{win.s[0]}x{win.s[1]}_pool{pool[0]}x{pool[1]}"


def kernels(K, win, pool):
    """(forward, backward) compiled for K's size and channel count, the window's strides and the pool size,
    or None (no numba, or not on NumPy)."""
    return compiled.build(_name(K, win, pool), _build(*K.shape[:3], *win.s, *pool))


def applies(x, K, win, pool=(1, 1)) -> bool:
    """Whether the direct form runs: undilated, kh·kw·C ≤ MAX_TERMS, a pool of ≤ MAX_POOL cells ((1, 1): no
    pool), float32/float64 NumPy arrays, and numba there."""
    return (win.d == (1, 1) and K.shape[0] * K.shape[1] * K.shape[2] <= MAX_TERMS
            and pool[0] * pool[1] <= MAX_POOL and compiled.usable(x, K)
            and kernels(K, win, pool) is not None)


def forward(xpad, K, bias, relu: bool, win, pool=(1, 1)):
    """(y, arg) of act(conv(xpad, K) + bias) max-pooled over pool windows (arg: a stand-in without a pool),
    or None when numba fails to compile the kernel (it is then off and the caller runs the im2col form)."""
    xp = backend.xp
    n, F = xpad.shape[0], K.shape[-1]
    y = xp.empty((n, *(o // p for o, p in zip(win.out, pool)), F), xpad.dtype)
    arg = xp.empty(y.shape if pool[0] * pool[1] > 1 else (1, 1, 1, 1), xp.uint8)
    bias = xp.zeros(F, xpad.dtype) if bias is None else bias
    kernel, failed = kernels(K, win, pool)[0], []
    x, K2 = xp.ascontiguousarray(xpad), xp.ascontiguousarray(K).reshape(-1, F)

    def images(i0, i1):
        patch = xp.empty((pool[0] * pool[1], K2.shape[0]), x.dtype)
        if not compiled.call(_name(K, win, pool), kernel, x, K2, bias, relu, y, arg, patch, i0, i1):
            failed.append(i0)
    compiled.run_images(images, n, y.size * K2.shape[0] * pool[0] * pool[1])
    return None if failed else (y, arg)


def backward(xpad, K, gy, y, arg, relu: bool, win, pool, need_K: bool, need_b: bool):
    """(dK or None, dbias or None) of ``forward``'s output gradient gy. No dx: the direct form runs only
    where the input needs no gradient (a first layer; measured, a loop for dx lost to the GEMM and col2im)."""
    xp = backend.xp
    F = K.shape[-1]
    x, gy = xp.ascontiguousarray(xpad), xp.ascontiguousarray(gy)
    T, cells = K.shape[0] * K.shape[1] * K.shape[2], pool[0] * pool[1]
    kernel, sums, failed = kernels(K, win, pool)[1], {}, []

    def images(i0, i1):
        gK, gb = xp.zeros((T, F), gy.dtype), xp.zeros(F, gy.dtype)
        scratch = (xp.empty((cells, T), x.dtype), xp.empty((cells, F), x.dtype), xp.empty((T, F), x.dtype),
                   xp.empty(F, x.dtype))
        if not compiled.call(_name(K, win, pool), kernel, x, gy, y, arg, relu, gK, gb, *scratch, i0, i1):
            failed.append(i0)                           # numba failed: the plain form below runs instead
        sums[i0] = gK, gb
    compiled.run_images(images, x.shape[0], gy.size * T * cells)
    if failed:
        return plain_backward(x, K, gy, y, arg, relu, win, pool, need_K, need_b)
    parts = [sums[i] for i in sorted(sums)]
    gK, gb = parts[0]
    for pK, pb in parts[1:]:
        gK += pK
        gb += pb
    return (gK.reshape(K.shape) if need_K else None), (gb if need_b else None)


def plain_backward(xpad, K, gy, y, arg, relu: bool, win, pool, need_K: bool, need_b: bool):
    """``backward`` in NumPy, through the whole convolution's gradient: dz = dy routed to each window's argmax
    (conv_loops.pool_act_grad), then dK = im2colᵀ dz and dbias = Σ dz (the tests' oracle, and what runs if
    numba fails on the backward after compiling the forward)."""
    xp, F = backend.xp, K.shape[-1]
    if pool[0] * pool[1] > 1:
        gz = xp.empty((xpad.shape[0], *win.out, F), gy.dtype)
        conv_loops.pool_act_grad(gy, arg, y, relu, pool, gz)
    else:
        gz = gy * (y > 0) if relu else gy
    gz2 = gz.reshape(-1, F)
    gK = (conv._im2col(xpad, win).T @ gz2).reshape(K.shape) if need_K else None
    return gK, (gz2.sum(axis=0) if need_b else None)
