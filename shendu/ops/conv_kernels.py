"""Compiled im2col and col2im for the 2-D convolutions: padding implicit, a few images at a time in cache.

col2im is the adjoint of the im2col window view: the gradient of a convolution's input (Conv2D's
backward) and the forward of a transposed convolution both add every window's values back onto the
pixels it covers. The plain form (ops/conv.py's ``_col2im``) runs one strided ``+=`` over the whole
padded batch per kernel offset (16 passes for a 4×4 kernel), then crops the padding away. Here a
compiled loop does the same passes one image at a time, onto the *cropped* image, which stays in cache:

    for each image n, each kernel offset (a, b) in order, each window (i, j):
        g[n, i*sh + a*dh - top, j*sw + b*dw - left, :] += cols[n, i, j, a, b, :]   (when inside the image)

No zeroed padded buffer, no crop copy. The offsets are the outer loop, so each pixel receives its terms
in the plain form's order ((a, b) in increasing order, starting from zero): the same sums, bit for bit.
(Gathering instead, one pixel at a time over the window entries that land on it, gives those sums too,
but was measured about 20 % slower at the DCGAN generator's 4×4, stride-2, 64-channel shape, and 40 %
at 3×3 with 32 channels: the scatter reads each window's row of channels once, in order.)

When the columns are themselves a matrix product (Conv2D's dx = col2im(dy Kᵀ), Conv2DTranspose's
y = col2im(x Kᵀ)), ``matmul_col2im`` makes the product a few images at a time into one small buffer
and sums each block while it is still in cache: the whole columns matrix (kh·kw times the image)
is never written out to memory and read back.

im2col likewise reads the unpadded image and writes each window row once, zeros where a window
hangs over the border, instead of a padded copy of the image followed by the strided-view copy;
``im2col_matmul`` (Conv2DTranspose's backward: dx = cols K, dK = colsᵀ x; Conv2D's padded forward
y = cols K and its dK = colsᵀ dy, the columns made again from x) multiplies each block of rows while it
is in cache, so those columns are never written out either.

Both kernels take a range (n0, n1) of images last and write only those images' outputs, so at two or
more threads ``compiled.run_parts`` splits each block over images, with the same result, bit for bit, as
one thread (each output element is still one thread's sum, in the same order).

numba is an optional dependency imported on first use (``shendu.ops.compiled``): without it (or when its
compile fails, or the backend is not NumPy) these functions return None and the caller runs the plain form.
"""
from __future__ import annotations

from shendu import backend
from shendu.ops import compiled

BLOCK_BYTES = 2 * 2 ** 20      # the columns of one block of images: about what a core's L2 cache holds
NAME = "conv_kernels"


def _build(numba):
    @numba.njit(cache=True, nogil=True)
    def scatter(cols, out, bias, top, left, sh, sw, dh, dw, n0, n1):
        cols, out = cols[n0:n1], out[n0:n1]           # the images of this range
        n_batch, height, width, channels = out.shape
        _, oh, ow, kh, kw, _ = cols.shape
        for n in range(n_batch):
            image = out[n]
            image[:] = 0
            for a in range(kh):                       # offsets outermost: each pixel's terms in (a, b) order
                for b in range(kw):
                    for i in range(oh):
                        p = i * sh + a * dh - top
                        if p < 0 or p >= height:
                            continue
                        for j in range(ow):
                            q = j * sw + b * dw - left
                            if q < 0 or q >= width:
                                continue
                            if channels == 1:             # no row of channels to vectorise: one value
                                image[p, q, 0] += cols[n, i, j, a, b, 0]
                                continue
                            dst, src = image[p, q], cols[n, i, j, a, b]
                            for c in range(channels):
                                dst[c] += src[c]
            if bias.shape[0]:                         # + bias after the sum, as y = col2im(...) + bias does
                for p in range(height):
                    for q in range(width):
                        dst = image[p, q]
                        for c in range(channels):
                            dst[c] += bias[c]

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
    return scatter, windows


def _kernels():
    """(scatter, windows), or None where numba is missing or fails here."""
    return compiled.build(NAME, _build)


def _run(kernel, n, work, *args) -> bool:
    """kernel(*args, n0, n1) over n images split on the allowed threads (``work``: elements written in
    all); False when numba fails to compile it (the kernels are then off)."""
    return compiled.run(NAME, kernel, n, work, *args)


def _usable(dtype, channels: int, least: int = 2) -> bool:
    """Whether the compiled kernels take arrays of ``dtype`` with ``channels`` channels: NumPy float32/float64
    with at least ``least`` channels. im2col asks for two: with one channel its copies move single values and
    the plain form's whole-image copies win; the scatter adds one-channel values about twice as fast as the
    plain form's passes over a zeroed padded image (a GAN generator's last, grayscale layer)."""
    dtype = backend.xp.dtype(dtype)
    return (backend.xp.__name__ == "numpy" and dtype.char in "fd" and dtype.isnative and channels >= least
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


def im2col_matmul(x, w, b=None, c=None, bias=None):
    """(cols @ b + bias, colsᵀ @ c) with cols = im2col_padded(x, w) (N*oh*ow, kh*kw*C), either product skipped
    when its matrix is None (bias: None or (b.shape[1],), added to each block while it is in cache); made a
    block of images at a time, the colsᵀ c product summed over the blocks. None when the compiled kernel is
    unavailable."""
    if not _usable(x.dtype, x.shape[-1]):
        return None
    xp = backend.xp
    rows, width, n = w.out[0] * w.out[1], w.k[0] * w.k[1] * x.shape[-1], x.shape[0]
    step = max(1, min(n, BLOCK_BYTES // (rows * width * x.dtype.itemsize)))
    x = xp.ascontiguousarray(x)
    yb = None if b is None else xp.empty((n * rows, b.shape[1]), xp.result_type(x, b))
    sums = {}           # first image of a part -> that part's colsᵀ c, added in image order after
    failed = []

    def images(i0, i1):
        yc = None if c is None else xp.zeros((width, c.shape[1]), xp.result_type(x, c))
        buffer = xp.empty((min(step, i1 - i0) * rows, width), x.dtype)
        for i in range(i0, i1, step):
            m = min(step, i1 - i)
            block = buffer[:m * rows]
            if not _run(_kernels()[1], m, block.size, x[i:i + m], block.reshape(m, *w.out, *w.k, -1),
                        w.pads[0][0], w.pads[1][0], *w.s, *w.d):
                failed.append(True)
                return
            if b is not None:
                out = xp.matmul(block, b, out=yb[i * rows:(i + m) * rows])
                if bias is not None:
                    out += bias
            if c is not None:
                yc += block.T @ c[i * rows:(i + m) * rows]
        sums[i0] = yc
    compiled.run_images(images, n, n * rows * (width + (0 if b is None else b.shape[1])))
    if failed:
        return None
    yc = None
    if c is not None:
        parts = [sums[i] for i in sorted(sums)]
        yc = parts[0]
        for part in parts[1:]:
            yc += part
    return yb, yc


def matmul_col2im(a, b, w, out_hw, bias=None):
    """col2im_cropped(a @ b) + bias, the product viewed as (N, oh, ow, kh, kw, C) and made a block of images at
    a time; a is (N*oh*ow, F), b is (F, kh*kw*C), bias None or (C,). None when the compiled kernel is
    unavailable."""
    xp = backend.xp
    rows, width = w.out[0] * w.out[1], b.shape[1]
    dtype = xp.result_type(a, b)
    if not (_usable(dtype, width // (w.k[0] * w.k[1]), least=1) and a.flags.c_contiguous):
        return None
    n = a.shape[0] // rows
    step = max(1, min(n, BLOCK_BYTES // (rows * width * dtype.itemsize)))
    g = xp.empty((n, *out_hw, width // (w.k[0] * w.k[1])), dtype)
    # the bias goes in with each image's sum while it is in cache; one of another dtype is added afterwards,
    # by NumPy's rules, as the plain form does
    fused = bias is not None and bias.dtype == dtype and bias.shape == g.shape[-1:]
    in_kernel = xp.ascontiguousarray(bias) if fused else xp.zeros(0, dtype)
    failed = []

    def images(i0, i1):
        buffer = xp.empty((min(step, i1 - i0) * rows, width), dtype)
        for i in range(i0, i1, step):
            m = min(step, i1 - i)
            block = xp.matmul(a[i * rows:(i + m) * rows], b, out=buffer[:m * rows])
            if not _run(_kernels()[0], m, block.size, block.reshape(m, *w.out, *w.k, -1), g[i:i + m], in_kernel,
                        w.pads[0][0], w.pads[1][0], *w.s, *w.d):
                failed.append(True)
                return
    compiled.run_images(images, n, n * rows * (a.shape[1] + width))
    if failed:
        return None
    if bias is not None and not fused:
        g += bias
    return g


def col2im_cropped(cols, w, out_hw, out=None):
    """The cropped col2im: cols (N, oh, ow, kh, kw, C) summed onto an (N, *out_hw, C) image whose padding
    before is ``w.pads[.][0]``, written into ``out`` (a contiguous array of that shape) when given; None when
    the compiled kernel is unavailable (the caller then runs the plain ``_col2im`` and crops)."""
    if not _usable(cols.dtype, cols.shape[-1], least=1) or (out is not None and not out.flags.c_contiguous):
        return None
    xp = backend.xp
    g = xp.empty((cols.shape[0], *out_hw, cols.shape[-1]), cols.dtype) if out is None else out
    ok = _run(_kernels()[0], cols.shape[0], cols.size, xp.ascontiguousarray(cols), g, xp.zeros(0, g.dtype),
              w.pads[0][0], w.pads[1][0], *w.s, *w.d)
    return g if ok else None
