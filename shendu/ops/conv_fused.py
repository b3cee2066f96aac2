"""Conv2D with its bias and ReLU in one op: a = max(conv2d(x, K) + bias, 0).

A Conv2D layer with activation='relu' is the common case (the tutorial CNN, VGG), and as two ops it
writes the whole pre-activation, reads it back for the maximum, keeps both, and in the backward builds
a boolean mask and multiplies. Fused, the maximum runs in place on the product's output, only ``a`` is
kept, and the backward masks dy once (``dz = da where a > 0``; a > 0 exactly where z > 0) before
Conv2D's own backward. The backward's col2im is the compiled loop of ``conv_loops`` when numba is
there. The composed form, ``relu(conv2d(x, K, bias))``, is the tests' oracle.
"""
from __future__ import annotations

from shendu import autograd, backend
from shendu.ops import conv_loops
from shendu.ops.conv import (Conv2D, _check_conv, _col2im, _crop, _geometry, _ints, _offsets, _pad, _padding, _plan,
                             _tap, _windows)
from shendu.tensor import Tensor, as_tensor

ACTIVATIONS = ("linear", "relu")
BLOCK_BYTES = 1 << 20   # im2col rows per GEMM in the forward: about what a core's L2 cache holds


def _im2col_into(x, w, out):
    """Conv2D's im2col of x (N, H, W, C), written into out (N*oh*ow, kh*kw*C)."""
    n, c = x.shape[0], x.shape[-1]
    if c >= 4:
        backend.xp.copyto(out.reshape(n, *w.out, *w.k, c), _windows(x, w))
        return
    # few channels: copy one kernel offset at a time (runs of c values are too short to copy well)
    view = out.reshape(n, *w.out, w.k[0] * w.k[1], c)
    for i, (a, b) in enumerate(_offsets(w)):
        view[:, :, :, i] = _tap(x, w, a, b)



class Conv2DAct(Conv2D):
    """y[n,i,j,f] = act(Σ_{a,b,c} x[n, i*s+a*d, j*s+b*d, c] K[a,b,c,f] + bias[f]), act = relu or linear;
    dz = dy * (y > 0) for relu, then Conv2D's backward with dz: dK = colsᵀ dz, dx = col2im(dz Kᵀ), dbias = Σ dz"""
    keep = True         # whether backward will run (conv2d_act says): if not, the columns are not kept

    def forward(self, x, K, *b):
        w, xp = self.win, backend.xp
        xpad = _pad(x, w.pads)
        n, dtype = x.shape[0], xp.result_type(x, K)
        plan = _plan(x.shape, xpad.shape[1:3], K.shape, w, dtype.itemsize)
        if plan != ("cols", n) or w.s != (1, 1) or w.d != (1, 1):
            y = super().forward(x, K, *b)               # a fresh array this op owns
            if self.activation == "relu":
                xp.maximum(y, 0, out=y)
                self.save(*self.saved, y)               # the output alone gives the ReLU's mask
            return y
        self.padded_shape, (self.mode, self.chunk) = xpad.shape, plan
        rows, f = w.out[0] * w.out[1], K.shape[-1]
        width = w.k[0] * w.k[1] * x.shape[-1]
        K2 = K.reshape(-1, f)
        y = xp.empty((n * rows, f), dtype)
        # the im2col rows of a few images at a time, each block multiplied while it is still in cache;
        # the columns are kept whole for dK when a gradient will be asked for, else one block is reused
        step = max(1, min(n, BLOCK_BYTES // (rows * width * dtype.itemsize)))
        cols = xp.empty((n * rows if self.keep else step * rows, width), dtype)
        for i in range(0, n, step):
            part = xpad[i:i + step]
            lo, hi = (i * rows if self.keep else 0), (i * rows if self.keep else 0) + len(part) * rows
            block, out = cols[lo:hi], y[i * rows:i * rows + len(part) * rows]
            _im2col_into(part, w, block)
            xp.matmul(block, K2, out=out)
            if b:
                out += b[0]
            if self.activation == "relu":
                xp.maximum(out, 0, out=out)
        y = y.reshape(n, *w.out, f)
        if self.keep:
            self.save(cols, K, y) if self.activation == "relu" else self.save(cols, K)
        return y

    def backward(self, gy):
        saved = self.saved
        if self.activation == "relu":
            gy = conv_loops.relu_mask(gy, saved[-1])
            saved = saved[:-1]
        if not (self.mode == "cols" and self.chunk >= gy.shape[0]):
            self.saved = saved                          # the chunked form reads (x_pad, K) from saved
            return self._backward_chunks(gy)
        cols, K = saved
        w = self.win
        gy2 = gy.reshape(-1, gy.shape[-1])
        gx = gK = None
        if self.needs[0]:                               # the first layer's input needs no gradient
            gcols = (gy2 @ K.reshape(-1, K.shape[-1]).T).reshape(gy.shape[0], *w.out, *w.k, K.shape[2])
            gx = _crop(conv_loops.col2im(gcols, w, self.padded_shape, _col2im), w.pads)
        if self.needs[1]:
            gK = (cols.T @ gy2).reshape(K.shape)
        if len(self.needs) == 3:                        # Σ dz over pixels: a GEMV beats .sum(axis=0) here
            return gx, gK, backend.xp.ones(gy2.shape[0], gy2.dtype) @ gy2
        return gx, gK


def conv2d_act(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1,
               activation: str = "relu") -> Tensor:
    """act(conv2d(x, kernel) + bias) as one op, act 'relu' or 'linear'; arguments as ``conv2d``.

    Args:
        x: (batch, height, width, in_channels).
        kernel: (kernel_height, kernel_width, in_channels, filters).
        bias: (filters,) or None.
        activation: 'relu' (max(z, 0)) or 'linear' (z).
    Returns (batch, out_height, out_width, filters).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"conv2d_act: activation must be one of {ACTIVATIONS}, got {activation!r}; apply "
                         f"other activations to conv2d's output.")
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    _check_conv("conv2d", x, kernel, bias, 2, -2, "(batch, height, width, channels)",
                "(kernel_height, kernel_width, in_channels, filters)")
    win = _geometry("conv2d", x.shape[1:3], kernel.shape[:2], _ints(strides, 2, "strides", "conv2d"),
                    _ints(dilation_rate, 2, "dilation_rate", "conv2d"),
                    _padding("conv2d", padding, ("valid", "same")))
    args = (x, kernel) if bias is None else (x, kernel, bias)
    keep = autograd.is_grad_enabled() and any(t.requires_grad for t in args)   # will backward run?
    return Conv2DAct.apply(*args, win=win, activation=activation, keep=keep)
