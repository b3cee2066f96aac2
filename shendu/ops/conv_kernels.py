"""Compiled col2im for the 2-D convolutions: each output pixel gathered and written once.

col2im is the adjoint of the im2col window view: the gradient of a convolution's input (Conv2D's
backward) and the forward of a transposed convolution both add every window's values back onto the
pixels it covers. The plain form (ops/conv.py's ``_col2im``) runs one strided ``+=`` over the whole
padded image per kernel offset (16 passes for a 4×4 kernel), then crops the padding away. Here a
compiled loop visits each pixel of the *cropped* image once and sums the few window entries that
land on it:

    g[n, p, q, c] = Σ_{(a, i) ∈ rows(p + top), (b, j) ∈ cols(q + left)} cols[n, i, j, a, b, c]

where rows(r) lists the kernel offsets a and window rows i with i*sh + a*dh = r (at most ceil(kh/sh)
of them; likewise cols). No zeroed padded buffer, no scatter-add passes, no crop copy; the sum runs
over a in increasing order, as the plain form's passes do.

numba is an optional dependency imported on first use: without it (or when its compile fails, or
the backend is not NumPy) ``col2im_cropped`` returns None and the caller runs the plain form.
"""
from __future__ import annotations

import functools

from shendu import backend

_compiled = None        # the jitted kernel; False once numba turned out to be missing or broken


def _kernel():
    global _compiled
    if _compiled is None:
        try:
            import numba  # imported lazily: only these kernels need it (the "fast" extra)

            @numba.njit(cache=True, nogil=True)
            def gather(cols, out, ptr_h, a_h, i_h, ptr_w, b_w, j_w):
                n_batch, height, width, channels = out.shape
                for n in range(n_batch):
                    for p in range(height):
                        for q in range(width):
                            o = out[n, p, q]
                            o[:] = 0
                            for t in range(ptr_h[p], ptr_h[p + 1]):
                                a, i = a_h[t], i_h[t]
                                for u in range(ptr_w[q], ptr_w[q + 1]):
                                    src = cols[n, i, j_w[u], a, b_w[u]]
                                    for c in range(channels):
                                        o[c] += src[c]
            _compiled = gather
        except Exception:       # ImportError, or a numba that cannot build here: the plain form is used
            _compiled = False
    return _compiled


def _disable():
    global _compiled
    _compiled = False


@functools.lru_cache(maxsize=256)
def axis_taps(size: int, before: int, k: int, s: int, d: int, out: int):
    """For each pixel r = 0..size-1 of one cropped axis, the (offset, window) pairs (a, i) with
    i*s + a*d = r + before, 0 <= a < k, 0 <= i < out; as CSR arrays (ptr, a, i), cached per geometry."""
    np = backend.xp
    ptr, offsets, windows = [0], [], []
    for r in range(before, before + size):
        for a in range(k):
            shifted = r - a * d
            if shifted >= 0 and shifted % s == 0 and shifted // s < out:
                offsets.append(a)
                windows.append(shifted // s)
        ptr.append(len(offsets))
    return (np.asarray(ptr, np.int64), np.asarray(offsets, np.int64), np.asarray(windows, np.int64))


def col2im_cropped(cols, w, out_hw):
    """The cropped col2im: cols (N, oh, ow, kh, kw, C) summed onto an (N, *out_hw, C) image whose padding
    before is ``w.pads[.][0]``; None when the compiled kernel is unavailable (the caller then runs the plain
    ``_col2im`` and crops)."""
    xp = backend.xp
    # one channel: the inner loop has nothing to vectorise, and the plain form's whole-image passes win
    if xp.__name__ != "numpy" or cols.dtype.kind != "f" or cols.shape[-1] < 2:
        return None
    kernel = _kernel()
    if not kernel:
        return None
    rows = axis_taps(out_hw[0], w.pads[0][0], w.k[0], w.s[0], w.d[0], w.out[0])
    columns = axis_taps(out_hw[1], w.pads[1][0], w.k[1], w.s[1], w.d[1], w.out[1])
    g = xp.empty((cols.shape[0], *out_hw, cols.shape[-1]), cols.dtype)
    try:
        kernel(xp.ascontiguousarray(cols), g, *rows, *columns)
    except Exception as error:      # numba compiles per dtype on first call; a failure there means no kernel
        if not type(error).__module__.startswith("numba"):
            raise
        _disable()
        return None
    return g
