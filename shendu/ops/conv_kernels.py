"""Compiled im2col and col2im for the 2-D convolutions: each element written once, padding implicit.

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

When the columns are themselves a matrix product (Conv2D's dx = col2im(dy Kᵀ), Conv2DTranspose's
y = col2im(x Kᵀ)), ``matmul_col2im`` makes the product a few images at a time into one small buffer
and sums each block while it is still in cache: the whole columns matrix (kh·kw times the image)
is never written out to memory and read back.

im2col likewise reads the unpadded image and writes each window row once, zeros where a window
hangs over the border, instead of a padded copy of the image followed by the strided-view copy;
``im2col_matmul`` (Conv2DTranspose's backward: dx = cols K, dK = colsᵀ x) multiplies each block of
rows while it is in cache, so those columns are never written out either.

Both kernels take a range (n0, n1) of images last and write only those images' outputs, so at two or
more threads ``compiled.run_parts`` splits each block over images, with the same result, bit for bit, as
one thread (each output element is still one thread's sum, in the same order).

numba is an optional dependency imported on first use (``shendu.ops.compiled``): without it (or when its
compile fails, or the backend is not NumPy) these functions return None and the caller runs the plain form.
"""
from __future__ import annotations

import functools

from shendu import backend
from shendu.ops import compiled

BLOCK_BYTES = 2 * 2 ** 20      # the columns of one block of images: about what a core's L2 cache holds
NAME = "conv_kernels"


def _build(numba):
    @numba.njit(cache=True, nogil=True)
    def gather(cols, out, ptr_h, a_h, i_h, ptr_w, b_w, j_w, n0, n1):
        cols, out = cols[n0:n1], out[n0:n1]           # the images of this range
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

    @numba.njit(cache=True, nogil=True)
    def windows(x, cols, top, left, sh, sw, dh, dw, n0, n1):
        x, cols = x[n0:n1], cols[n0:n1]
        n_batch, height, width, channels = x.shape
        _, oh, ow, kh, kw, _ = cols.shape
        for n in range(n_batch):
            for i in range(oh):
                for j in range(ow):
                    for a in range(kh):
                        r = i * sh + a * dh - top
                        for b in range(kw):
                            q = j * sw + b * dw - left
                            dst = cols[n, i, j, a, b]
                            if 0 <= r < height and 0 <= q < width:
                                src = x[n, r, q]
                                for c in range(channels):
                                    dst[c] = src[c]
                            else:
                                for c in range(channels):
                                    dst[c] = 0
    return gather, windows


def _kernels():
    """(gather, windows), or None where numba is missing or fails here."""
    return compiled.build(NAME, _build)


def _run(kernel, n, work, *args) -> bool:
    """kernel(*args, n0, n1) over n images split on the allowed threads (``work``: elements written in
    all); False when numba fails to compile it (the kernels are then off)."""
    return compiled.run(NAME, kernel, n, work, *args)


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


def _usable(dtype, channels: int) -> bool:
    """Whether the compiled kernels take arrays of ``dtype`` with ``channels`` channels: NumPy float32/float64
    with more than one channel (with one channel the inner loop has nothing to vectorise, and the plain
    form's whole-image passes win)."""
    dtype = backend.xp.dtype(dtype)
    return (backend.xp.__name__ == "numpy" and dtype.char in "fd" and dtype.isnative and channels >= 2
            and _kernels() is not None)


def im2col_padded(x, w):
    """Rows of receptive fields (N*oh*ow, kh*kw*C) of x (N, H, W, C) padded by ``w.pads`` with zeros, the
    padding never built; None when the compiled kernel is unavailable (the caller pads and copies the view)."""
    if not _usable(x.dtype, x.shape[-1]):
        return None
    xp = backend.xp
    cols = xp.empty((x.shape[0], *w.out, *w.k, x.shape[-1]), x.dtype)
    if not _run(_kernels()[1], x.shape[0], cols.size, xp.ascontiguousarray(x), cols, w.pads[0][0], w.pads[1][0],
                *w.s, *w.d):
        return None
    return cols.reshape(-1, w.k[0] * w.k[1] * x.shape[-1])


def im2col_matmul(x, w, b=None, c=None):
    """(cols @ b, colsᵀ @ c) with cols = im2col_padded(x, w) (N*oh*ow, kh*kw*C), either product skipped
    when its matrix is None; made a block of images at a time, the colsᵀ c product summed over the blocks.
    None when the compiled kernel is unavailable."""
    if not _usable(x.dtype, x.shape[-1]):
        return None
    xp = backend.xp
    rows, width, n = w.out[0] * w.out[1], w.k[0] * w.k[1] * x.shape[-1], x.shape[0]
    step = max(1, min(n, BLOCK_BYTES // (rows * width * x.dtype.itemsize)))
    x = xp.ascontiguousarray(x)
    yb = None if b is None else xp.empty((n * rows, b.shape[1]), xp.result_type(x, b))
    yc = None if c is None else xp.zeros((width, c.shape[1]), xp.result_type(x, c))
    buffer = xp.empty((step * rows, width), x.dtype)
    for i in range(0, n, step):
        m = min(step, n - i)
        block = buffer[:m * rows]
        if not _run(_kernels()[1], m, block.size, x[i:i + m], block.reshape(m, *w.out, *w.k, -1), w.pads[0][0],
                    w.pads[1][0], *w.s, *w.d):
            return None
        if b is not None:
            xp.matmul(block, b, out=yb[i * rows:(i + m) * rows])
        if c is not None:
            yc += block.T @ c[i * rows:(i + m) * rows]
    return yb, yc


def matmul_col2im(a, b, w, out_hw):
    """col2im_cropped(a @ b), the product viewed as (N, oh, ow, kh, kw, C) and made a block of images at a
    time; a is (N*oh*ow, F), b is (F, kh*kw*C). None when the compiled kernel is unavailable."""
    xp = backend.xp
    rows, width = w.out[0] * w.out[1], b.shape[1]
    dtype = xp.result_type(a, b)
    if not (_usable(dtype, width // (w.k[0] * w.k[1])) and a.flags.c_contiguous):
        return None
    n = a.shape[0] // rows
    step = max(1, min(n, BLOCK_BYTES // (rows * width * dtype.itemsize)))
    taps = (axis_taps(out_hw[0], w.pads[0][0], w.k[0], w.s[0], w.d[0], w.out[0])
            + axis_taps(out_hw[1], w.pads[1][0], w.k[1], w.s[1], w.d[1], w.out[1]))
    g = xp.empty((n, *out_hw, width // (w.k[0] * w.k[1])), dtype)
    buffer = xp.empty((step * rows, width), dtype)
    for i in range(0, n, step):
        m = min(step, n - i)
        block = xp.matmul(a[i * rows:(i + m) * rows], b, out=buffer[:m * rows])
        if not _run(_kernels()[0], m, block.size, block.reshape(m, *w.out, *w.k, -1), g[i:i + m], *taps):
            return None
    return g


def col2im_cropped(cols, w, out_hw, out=None):
    """The cropped col2im: cols (N, oh, ow, kh, kw, C) summed onto an (N, *out_hw, C) image whose padding
    before is ``w.pads[.][0]``, written into ``out`` (a contiguous array of that shape) when given; None when
    the compiled kernel is unavailable (the caller then runs the plain ``_col2im`` and crops)."""
    if not _usable(cols.dtype, cols.shape[-1]) or (out is not None and not out.flags.c_contiguous):
        return None
    xp = backend.xp
    rows = axis_taps(out_hw[0], w.pads[0][0], w.k[0], w.s[0], w.d[0], w.out[0])
    columns = axis_taps(out_hw[1], w.pads[1][0], w.k[1], w.s[1], w.d[1], w.out[1])
    g = xp.empty((cols.shape[0], *out_hw, cols.shape[-1]), cols.dtype) if out is None else out
    ok = _run(_kernels()[0], cols.shape[0], cols.size, xp.ascontiguousarray(cols), g, *rows, *columns)
    return g if ok else None
