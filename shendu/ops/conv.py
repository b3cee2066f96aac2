"""Convolution over images (batch, height, width, channels) and sequences (batch, length, channels).

A convolution is ONE matrix product on an im2col matrix: each output pixel's receptive field
(kh × kw × channels values) becomes one row, read through a strided *view* of the padded input,
so building it is a single copy with no Python loop. Backward turns rows back into pixels
(col2im) with a loop over the kh × kw kernel offsets only (pooling, ops/pool.py, loops over the
same offsets). Where numba is installed, ops/conv_kernels.py runs
col2im (the input gradient, and the transposed convolution's forward: ops/transposed_conv.py) and
the padded im2col as compiled loops, a few images at a time multiplied while in cache, never
building the padded copy; these forms remain the fallback and the reference.

The im2col matrix holds kh·kw copies of the input, which for many channels and a large kernel is
gigabytes (Conv2D(1, 7) on a 28×28×128 batch of 128: 2.5 GB, then a matrix-VECTOR product). So
``_plan`` picks by shape: when the filters are few against the input channels, the *shift* form
multiplies every padded input pixel by every kernel offset at once, Z = x_pad K (kh·kw·filters
columns, no input copies), and adds Z's offset planes back shifted (the im2col of the small side);
and when either form's temporary would pass TEMP_LIMIT, the batch is cut into chunks, the columns
recomputed in backward instead of kept.

Padding follows TensorFlow. With k_eff = (k - 1) * dilation + 1, the dilated kernel size:
  'valid'   no padding, out = (in - k_eff) // stride + 1
  'same'    out = ceil(in / stride); pad max((out - 1) * stride + k_eff - in, 0) in total,
            half (rounded down) before, the odd one after (bottom / right)
  'causal'  (conv1d) pad k_eff - 1 before, so y[t] sees only x[..t]
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

from shendu import backend
from shendu.autograd import Function
from shendu.ops import compiled, conv_kernels
from shendu.ops.shape import reshape
from shendu.tensor import Tensor, as_tensor

# ---------------------------------------------------------------- window geometry, im2col, col2im


class _Window(NamedTuple):
    """Where a window slides over (height, width): size, stride, dilation, padding, output size."""
    k: tuple       # (kh, kw)
    s: tuple       # (sh, sw)
    d: tuple       # (dh, dw)
    pads: tuple    # ((top, bottom), (left, right))
    out: tuple     # (oh, ow)


def _ints(value, rank: int, name: str, op: str) -> tuple:
    """An int or a sequence of ``rank`` ints, checked positive."""
    values = (value,) * rank if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != rank or not all(isinstance(v, numbers.Integral) and v >= 1 for v in values):
        raise ValueError(f"{op}: {name} must be a positive int or {rank} of them, got {value!r}.")
    return tuple(int(v) for v in values)


def _padding(op: str, padding, allowed: tuple) -> str:
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in allowed:
        raise ValueError(f"{op}: unknown padding {padding!r}; expected one of "
                         f"{', '.join(repr(p) for p in allowed)}.")
    return mode


def _axis(size: int, k: int, s: int, d: int, padding: str) -> tuple:
    """(pad_before, pad_after, out) along one axis, by TensorFlow's rule (module docstring)."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0, (size - k_eff) // s + 1
    if padding == "causal":
        return k_eff - 1, 0, (size - 1) // s + 1
    out = -(-size // s)
    total = max((out - 1) * s + k_eff - size, 0)
    return total // 2, total - total // 2, out


def _geometry(op, sizes, kernel, strides, dilation, padding, what="kernel") -> _Window:
    """The window of a 1-D or 2-D op; a 1-D op runs as 2-D on a height-1 view, so gets a trivial height axis."""
    rank = len(sizes)
    axes = [_axis(*args, padding) for args in zip(sizes, kernel, strides, dilation)]
    if any(out < 1 for _, _, out in axes):
        k_eff = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
        dilated = f" (dilated to {'x'.join(map(str, k_eff))} by dilation_rate {dilation})" * (k_eff != kernel)
        raise ValueError(
            f"{op}: the {'x'.join(map(str, kernel))} {what}{dilated} is larger than the "
            f"{'x'.join(map(str, sizes))} input, so padding='valid' leaves no output; use padding='same', "
            f"a smaller {what}, or a larger input.")
    if rank == 1:
        kernel, strides, dilation, axes = (1, *kernel), (1, *strides), (1, *dilation), [(0, 0, 1), *axes]
    return _Window(tuple(kernel), tuple(strides), tuple(dilation),
                   tuple((lo, hi) for lo, hi, _ in axes), tuple(out for _, _, out in axes))


def _pad(x, pads, value=0):
    """x (N, H, W, C) padded on H and W by ((top, bottom), (left, right))."""
    if pads == ((0, 0), (0, 0)):
        return x
    return backend.xp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)


def _crop(x, pads):
    """The inverse of ``_pad``: the interior of x."""
    (top, bottom), (left, right) = pads
    return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right]


def _windows(x, w: _Window):
    """A strided view (N, oh, ow, kh, kw, C) of padded x: [n, i, j, a, b, c] = x[n, i*sh + a*dh, j*sw + b*dw, c].

    No copy: it re-reads x's memory with new strides. Never write to it (windows overlap).
    """
    n, _, _, c = x.shape
    sn, sh, sw, sc = x.strides
    return backend.xp.lib.stride_tricks.as_strided(
        x, shape=(n, *w.out, *w.k, c),
        strides=(sn, sh * w.s[0], sw * w.s[1], sh * w.d[0], sw * w.d[1], sc))


def _im2col(x, w: _Window):
    """Rows of receptive fields, (N*oh*ow, kh*kw*C): the one copy of the forward pass."""
    c = x.shape[-1]
    if c >= 4:
        return _windows(x, w).reshape(-1, w.k[0] * w.k[1] * c)
    # few channels (a grayscale first layer): copying the window view moves runs of only c values,
    # so copy one kernel offset at a time instead (kh*kw whole-array copies). With one channel each offset
    # fills one contiguous row of the transposed matrix, returned as its (N*oh*ow, kh*kw) transpose view:
    # ~3.5x faster to build than writing every kh*kw-th value, and BLAS reads either layout
    if c == 1:
        cols = backend.xp.empty((w.k[0] * w.k[1], x.shape[0], *w.out, 1), x.dtype)
        for i, (a, b) in enumerate(_offsets(w)):
            cols[i] = _tap(x, w, a, b)
        return cols.reshape(w.k[0] * w.k[1], -1).T
    cols = backend.xp.empty((x.shape[0], *w.out, w.k[0] * w.k[1], c), x.dtype)
    for i, (a, b) in enumerate(_offsets(w)):
        cols[:, :, :, i] = _tap(x, w, a, b)
    return cols.reshape(-1, w.k[0] * w.k[1] * c)


def _tap(x, w: _Window, a: int, b: int):
    """What kernel offset (a, b) sees at every output pixel: the view x[n, i*sh + a*dh, j*sw + b*dw, c]."""
    (oh, ow), (sh, sw), (dh, dw) = w.out, w.s, w.d
    return x[:, a * dh:a * dh + (oh - 1) * sh + 1:sh, b * dw:b * dw + (ow - 1) * sw + 1:sw]


def _offsets(w: _Window):
    return [(a, b) for a in range(w.k[0]) for b in range(w.k[1])]


def _col2im(cols, w: _Window, padded_shape):
    """The adjoint of ``_windows``: add each window's values (N, oh, ow, kh, kw, C) back onto its pixels."""
    g = backend.xp.zeros(padded_shape, cols.dtype)
    for a, b in _offsets(w):
        _tap(g, w, a, b)[...] += cols[:, :, :, a, b]
    return g


def _col2im_cropped(cols, w: _Window, padded_shape):
    """``_col2im`` without the padding: the compiled scatter onto the cropped image when it is available
    (ops/conv_kernels.py), else the plain passes, then the crop."""
    (top, bottom), (left, right) = w.pads
    g = conv_kernels.col2im_cropped(cols, w, (padded_shape[1] - top - bottom, padded_shape[2] - left - right))
    return _crop(_col2im(cols, w, padded_shape), w.pads) if g is None else g


def _matmul_col2im(a, b, w: _Window, padded_shape, bias=None):
    """``_col2im_cropped`` of the product a @ b (rows: N·oh·ow window positions, columns: kh·kw·C), + bias
    when given, made in cache-sized blocks of images by the compiled kernel when it is there."""
    (top, bottom), (left, right) = w.pads
    g = conv_kernels.matmul_col2im(a, b, w, (padded_shape[1] - top - bottom, padded_shape[2] - left - right), bias)
    if g is None:
        g = _col2im_cropped(compiled.product(a, b).reshape(padded_shape[0], *w.out, *w.k, padded_shape[-1]), w, padded_shape)
        if bias is not None:
            g += bias                           # a fresh array, or a view of one, that this call made
    return g


def _im2col_padded(x, w: _Window):
    """``_im2col`` of x padded by ``w.pads``: the compiled kernel that never builds the padded copy when it is
    available (ops/conv_kernels.py), else the pad and the window copy."""
    cols = conv_kernels.im2col_padded(x, w)
    return _im2col(_pad(x, w.pads), w) if cols is None else cols


def _check_conv(op, x, kernel, bias, rank, in_axis, layout, kernel_layout):
    """Teaching errors for shapes that cannot convolve; ``in_axis`` is the kernel's input-channel axis."""
    if x.ndim != rank + 2:
        hint = (" add a batch axis (x[None]) for a single example, or a channel axis (x[..., None]) for one "
                "channel" if x.ndim == rank + 1 else "")
        raise ValueError(f"{op} expects a {rank + 2}-D input {layout} but got shape {x.shape};{hint}"
                         f"{'.' if hint else ' reshape it to that layout.'}")
    if kernel.ndim != rank + 2:
        raise ValueError(f"{op} expects a {rank + 2}-D kernel {kernel_layout} but got shape {kernel.shape}.")
    if x.shape[-1] != kernel.shape[in_axis]:
        raise ValueError(
            f"{op}: the input has {x.shape[-1]} channels (last axis of {x.shape}) but the kernel {kernel.shape} "
            f"expects {kernel.shape[in_axis]}; build the kernel for the input's channel count.")
    filters = kernel.shape[-1] if in_axis == -2 else kernel.shape[-2]
    if bias is not None and bias.shape != (filters,):
        raise ValueError(f"{op}: bias must have shape ({filters},), one value per output channel, "
                         f"but got {bias.shape}.")


# ---------------------------------------------------------------- convolution

TEMP_LIMIT = 256 * 2 ** 20      # bytes: the largest temporary (columns) one convolution call may build


def _plan(x_shape, padded_hw, K_shape, w: _Window, itemsize: int) -> tuple:
    """('cols' or 'shift', examples per chunk) for a Conv2D: the form whose temporary is smaller, and the
    batch cut so that temporary stays under TEMP_LIMIT.

    cols:  the im2col matrix, N·oh·ow × kh·kw·C;  shift: Z = x_pad K, N·Hp·Wp × kh·kw·F. The shift form
    multiplies at every padded pixel (Hp·Wp ≥ oh·ow), so it is taken only when it saves at least 4× the
    memory and costs at most 2× the multiplies (stride 1 in practice)."""
    kk, (c, f), n = w.k[0] * w.k[1], K_shape[-2:], x_shape[0]
    cells_out, cells_pad = w.out[0] * w.out[1], padded_hw[0] * padded_hw[1]
    per_cols, per_shift = cells_out * kk * c * itemsize, cells_pad * kk * f * itemsize
    shift = per_shift * 4 <= per_cols and cells_pad <= 2 * cells_out
    per = per_shift if shift else per_cols
    return ("shift" if shift else "cols"), max(1, min(n, TEMP_LIMIT // max(per, 1)))


def _shift_forward(xpad, K, w: _Window):
    """y[n,i,j,f] = Σ_{a,b} Z[a, b, f, n, i*s+a*d, j*s+b*d] with Z = K_(abf, c) x_padᵀ: one GEMM, then one
    shifted add per kernel offset. Z is offset-major so that every add runs along contiguous image rows."""
    n, hp, wp, c = xpad.shape
    kh, kw, _, f = K.shape
    Kt = backend.xp.ascontiguousarray(K.transpose(0, 1, 3, 2)).reshape(kh * kw * f, c)
    Z = compiled.product(Kt, xpad.reshape(-1, c).T).reshape(kh, kw, f * n, hp, wp)
    y = _tap(Z[0, 0], w, 0, 0).copy()                          # (F·N, oh, ow)
    for a, b in _offsets(w)[1:]:
        y += _tap(Z[a, b], w, a, b)
    return y.reshape(f, n, *w.out).transpose(1, 2, 3, 0)


def _shift_cols(gy, w: _Window, padded_hw):
    """The adjoint of the shifted add: G[a, b, f, n, p] = gy[n, i, j, f] at p = (i*s+a*d, j*s+b*d), zero
    elsewhere; as a matrix (kh·kw·F, N·Hp·Wp)."""
    n, f = gy.shape[0], gy.shape[-1]
    G = backend.xp.zeros((*w.k, f * n, *padded_hw), gy.dtype)
    gy_t = gy.transpose(3, 0, 1, 2).reshape(f * n, *w.out)
    for a, b in _offsets(w):
        _tap(G[a, b], w, a, b)[...] = gy_t
    return G.reshape(w.k[0] * w.k[1] * f, -1)


def _conv_backward_chunk(mode, xpad, K, gy, w: _Window, gK, want_x):
    """One chunk of Conv2D's backward with nothing saved but the padded input: gK += (in place), returns
    the input gradient, padding cropped (or None)."""
    c, f = K.shape[-2:]
    if mode == "shift":
        G = _shift_cols(gy, w, xpad.shape[1:3])                     # (kh·kw·F, N·Hp·Wp)
        if gK is not None:      # dK[a,b,c,f] = Σ x_pad[n,p,c] G[a,b,f,n,p]; as x_padᵀ Gᵀ: OpenBLAS runs
            # this (C, N·Hp·Wp) @ (N·Hp·Wp, kh·kw·F) order ~40× faster than G x_pad with its long inner axis
            gK += compiled.product(xpad.reshape(-1, c).T, G.T).reshape(c, *w.k, f).transpose(1, 2, 0, 3)
        if want_x:                                                  # dx_pad = Gᵀ K_(abf, c)
            Kt = backend.xp.ascontiguousarray(K.transpose(0, 1, 3, 2)).reshape(-1, c)
            return _crop(compiled.product(G.T, Kt).reshape(xpad.shape), w.pads)
        return None
    gy2 = gy.reshape(-1, f)
    if gK is not None:
        gK += compiled.product(_im2col(xpad, w).T, gy2).reshape(K.shape)
    if want_x:
        return _matmul_col2im(gy2, K.reshape(-1, f).T, w, xpad.shape)
    return None


class Conv2D(Function):
    """y[n,i,j,f] = Σ_{a,b,c} x[n, i*s+a*d, j*s+b*d, c] K[a,b,c,f] + bias[f]  (x padded);
    as matrices y = cols K;   dK = colsᵀ dy, dx = col2im(dy Kᵀ), dbias = Σ dy"""
    def forward(self, x, K, *b):
        w = self.win
        self.padded_shape = (x.shape[0], *(h + lo + hi for h, (lo, hi) in zip(x.shape[1:3], w.pads)), x.shape[-1])
        n, dtype = x.shape[0], backend.xp.result_type(x, K)
        self.mode, self.chunk = _plan(x.shape, self.padded_shape[1:3], K.shape, w, dtype.itemsize)
        if self.mode == "cols" and self.chunk >= n and w.pads != ((0, 0), (0, 0)):
            # 'same' with the compiled im2col: the rows made a few images at a time and multiplied while in
            # cache, never written out whole; backward makes them again for dK, which costs less than writing
            # kh·kw copies of x to memory and reading them back twice (DCGAN step: about 4 % faster)
            x = backend.xp.ascontiguousarray(x)
            y = conv_kernels.im2col_matmul(x, w, K.reshape(-1, K.shape[-1]), bias=b[0] if b else None)
            if y is not None:
                y = y[0]
                self.mode = "blocks"
                self.save(x, K)
                return y.reshape(n, *w.out, K.shape[-1])
        if self.mode == "cols" and self.chunk >= n:
            # (N*oh*ow, kh*kw*Cin); with padding ('same'), the windows are read without a padded copy
            cols = _im2col(x, w) if w.pads == ((0, 0), (0, 0)) else _im2col_padded(x, w)
            y = compiled.product(cols, K.reshape(-1, K.shape[-1]))      # the one GEMM
            if b:
                y += b[0]
            self.save(cols, K)                          # cols again give dK
            return y.reshape(n, *w.out, K.shape[-1])
        # the shift form, or chunks of the batch: backward recomputes from the padded input
        xpad = backend.xp.ascontiguousarray(_pad(x, w.pads))
        y = backend.xp.empty((n, *w.out, K.shape[-1]), dtype)
        for i in range(0, n, self.chunk):
            part = xpad[i:i + self.chunk]
            if self.mode == "shift":
                y[i:i + self.chunk] = _shift_forward(part, K, w)
            else:
                y[i:i + self.chunk] = compiled.product(_im2col(part, w), K.reshape(-1, K.shape[-1])).reshape(
                    len(part), *w.out, -1)
        if b:
            y += b[0]
        self.save(xpad, K)
        return y

    def backward(self, gy):
        if self.mode != "blocks" and not (self.mode == "cols" and self.chunk >= gy.shape[0]):
            return self._backward_chunks(gy)
        cols, K = self.saved
        w = self.win
        gy2 = gy.reshape(-1, gy.shape[-1])
        gx = gK = None
        if self.needs[0]:                               # the first layer's input needs no gradient
            gx = _matmul_col2im(gy2, K.reshape(-1, K.shape[-1]).T, w, self.padded_shape)   # col2im(dy Kᵀ)
        if self.needs[1] and self.mode == "blocks":     # cols is x here: dK = im2col(x)ᵀ dy, block by block
            gK = conv_kernels.im2col_matmul(cols, w, None, gy2)
            gK = (compiled.product(_im2col_padded(cols, w).T, gy2) if gK is None else gK[1]).reshape(K.shape)
        elif self.needs[1]:
            gK = compiled.product(cols.T, gy2).reshape(K.shape)
        if len(self.needs) == 3:                        # Σ dy over pixels: a GEMV beats .sum(axis=0) here
            return gx, gK, backend.xp.ones(gy2.shape[0], gy2.dtype) @ gy2
        return gx, gK

    def _backward_chunks(self, gy):
        xpad, K = self.saved
        xp, w = backend.xp, self.win
        gK = xp.zeros(K.shape, gy.dtype) if self.needs[1] else None
        gx = xp.empty(_crop(xpad, w.pads).shape, gy.dtype) if self.needs[0] else None
        for i in range(0, gy.shape[0], self.chunk):
            part = _conv_backward_chunk(self.mode, xpad[i:i + self.chunk], K, gy[i:i + self.chunk], w, gK,
                                        self.needs[0])
            if part is not None:
                gx[i:i + self.chunk] = part
        if len(self.needs) == 3:
            gy2 = gy.reshape(-1, gy.shape[-1])
            return gx, gK, xp.ones(gy2.shape[0], gy2.dtype) @ gy2
        return gx, gK


def _conv(x, kernel, bias, win) -> Tensor:
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return Conv2D.apply(*args, win=win)


def conv2d(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1) -> Tensor:
    """2-D convolution (cross-correlation, as in every framework), TensorFlow's padding.

    Args:
        x: (batch, height, width, in_channels).
        kernel: (kernel_height, kernel_width, in_channels, filters).
        bias: (filters,) or None.
        strides, dilation_rate: an int or a (height, width) pair.
        padding: 'valid' or 'same'.
    Returns (batch, out_height, out_width, filters).
    """
    return _conv(*conv2d_inputs(x, kernel, bias, strides, padding, dilation_rate))


def conv2d_inputs(x, kernel, bias, strides, padding, dilation_rate) -> tuple:
    """conv2d's arguments checked, as Tensors, with the window geometry: (x, kernel, bias, window)."""
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    _check_conv("conv2d", x, kernel, bias, 2, -2, "(batch, height, width, channels)",
                "(kernel_height, kernel_width, in_channels, filters)")
    win = _geometry("conv2d", x.shape[1:3], kernel.shape[:2], _ints(strides, 2, "strides", "conv2d"),
                    _ints(dilation_rate, 2, "dilation_rate", "conv2d"),
                    _padding("conv2d", padding, ("valid", "same")))
    return x, kernel, bias, win


def conv1d(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1) -> Tensor:
    """1-D convolution y[n,t,f] = Σ_{a,c} x[n, t*s+a*d, c] K[a,c,f] + bias[f], run as conv2d on height 1.

    Args:
        x: (batch, length, in_channels).
        kernel: (kernel_size, in_channels, filters).
        bias: (filters,) or None.
        padding: 'valid', 'same' or 'causal' (left padding only: output t never sees inputs after t).
    Returns (batch, out_length, filters).
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    _check_conv("conv1d", x, kernel, bias, 1, -2, "(batch, length, channels)",
                "(kernel_size, in_channels, filters)")
    win = _geometry("conv1d", x.shape[1:2], kernel.shape[:1], _ints(strides, 1, "strides", "conv1d"),
                    _ints(dilation_rate, 1, "dilation_rate", "conv1d"),
                    _padding("conv1d", padding, ("valid", "same", "causal")))
    n, length, channels = x.shape
    y = _conv(reshape(x, (n, 1, length, channels)), reshape(kernel, (1, *kernel.shape)), bias, win)
    return reshape(y, (n, win.out[1], y.shape[-1]))
