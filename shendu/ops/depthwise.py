"""Depthwise convolution (each channel filtered on its own) and the separable convolution built on it.

A depthwise conv is a grouped conv with one channel per group. Its im2col matrix would be as large
as an ordinary conv's for a tiny product, so it is one einsum over the strided window view instead,
with no copy of the input at all; the input gradient is the same kind of einsum over the output
gradient spread out by the stride (the transposed convolution, written as a correlation). In 2-D,
with numba there, compiled loops along the output rows run instead, padding skipped rather than copied
(``depthwise_kernels``; the einsum form ran 4-9x slower); the einsum form is their reference and fallback.

Kernel layout as tf.keras: (*kernel_size, channels, depth_multiplier); output channel
c * depth_multiplier + m is channel c filtered by K[..., c, m].
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.ops import depthwise_kernels
from shendu.ops.conv import _ints, _padding
from shendu.ops.linalg import _column_sums, linear
from shendu.ops.shape import reshape
from shendu.ops.window import Window, crop, geometry, kernel_axes, layout, pad, windows
from shendu.tensor import Tensor, as_tensor


def _subscripts(rank: int) -> tuple[str, str]:
    """einsum letters for the output positions and the kernel offsets of a rank-``rank`` window."""
    return "pqrstu"[:rank], "abdefg"[:rank]


class DepthwiseConv(Function):
    """y[n,p,c,m] = Σ_a x[n, p*s+a*d, c] K[a,c,m] + bias[c*M+m]  (x padded);
    dK[a,c,m] = Σ_{n,p} x[n, p*s+a*d, c] dy[n,p,c,m],  dx[n, p*s+a*d, c] += Σ_m dy[n,p,c,m] K[a,c,m]"""
    # einsum over the strided window view reads each input value once per kernel offset and writes each
    # output once, with no im2col copy: several times faster than a whole-array multiply-add per offset.
    padded = False      # whether forward saved the padded input (its einsum form ran)

    def forward(self, x, K, *b):
        w, xp = self.win, backend.xp
        y = depthwise_kernels.forward(x, K, b[0] if b else None, w)     # the compiled loops skip the padding
        if y is not None:
            self.save(x, K)
            return y
        xpad = pad(x, w.pads)
        self.save(xpad, K)
        self.padded = True
        p, a = _subscripts(len(w.k))
        y = xp.einsum(f"n{p}{a}c,{a}cm->n{p}cm", windows(xpad, w), K)
        y = y.reshape(*y.shape[:-2], -1)
        if b:
            y += b[0]
        return y

    def backward(self, gy):
        xpad, K = self.saved
        w, xp = self.win, backend.xp
        channels, mult = K.shape[-2:]
        p, a = _subscripts(len(w.k))
        gy = xp.ascontiguousarray(gy)       # once for all (a pooling's gradient is a broadcast view)
        gb = _column_sums(gy.reshape(-1, channels * mult)) if len(self.needs) == 3 else None
        if not self.padded:
            grads = depthwise_kernels.backward(xpad, K, gy, w, self.needs[0], self.needs[1])
            if grads is not None:
                return (*grads, gb) if len(self.needs) == 3 else grads
            xpad = pad(xpad, w.pads)        # the compiled loops failed here: the einsum form, on the padded input
        gx = gK = None
        if self.needs[0]:
            # dx is a depthwise correlation of dy, spread out by the stride (zeros between its values) and
            # padded by k_eff - 1, with the kernel flipped: xpad[j] gets Σ_a dy[(j - a*d) / s] K[a]
            k_eff = [(k - 1) * d + 1 for k, d in zip(w.k, w.d)]
            spread = xp.zeros((gy.shape[0], *(j + e - 1 for j, e in zip(xpad.shape[1:-1], k_eff)), gy.shape[-1]),
                              gy.dtype)
            spread[(slice(None),) + tuple(slice(e - 1, e - 1 + (o - 1) * s + 1, s)
                                          for e, o, s in zip(k_eff, w.out, w.s))] = gy
            full = Window(w.k, (1,) * len(w.k), w.d, ((0, 0),) * len(w.k), tuple(xpad.shape[1:-1]))
            view = windows(spread, full)
            view = view.reshape(*view.shape[:-1], channels, mult)
            flipped = K[(slice(None, None, -1),) * len(w.k)]
            gx = crop(xp.einsum(f"n{p}{a}cm,{a}cm->n{p}c", view, flipped), w.pads)
        if self.needs[1]:
            gK = xp.einsum(f"n{p}{a}c,n{p}cm->{a}cm", windows(xpad, w), gy.reshape(*gy.shape[:-1], channels, mult))
        return (gx, gK, gb) if len(self.needs) == 3 else (gx, gK)


def depthwise_conv(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1) -> Tensor:
    """Depthwise convolution over any number of spatial axes: every input channel has its own filters.

    Args:
        x: (batch, *spatial, channels).
        kernel: (*kernel_size, channels, depth_multiplier).
        bias: (channels * depth_multiplier,) or None.
        strides, dilation_rate: an int or one per spatial axis.
        padding: 'valid' or 'same' ('causal' too with one spatial axis).
    Returns (batch, *out_spatial, channels * depth_multiplier).
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    rank = x.ndim - 2
    op = f"depthwise_conv{rank}d"
    if rank < 1:
        raise ValueError(f"depthwise_conv expects an input (batch, *spatial, channels), got shape {x.shape}.")
    if kernel.ndim != rank + 2:
        raise ValueError(f"{op} expects a {rank + 2}-D kernel ({kernel_axes(rank)}, channels, depth_multiplier) "
                         f"for a {x.ndim}-D input {layout(rank)}, but got shape {kernel.shape}.")
    if kernel.shape[-2] != x.shape[-1]:
        raise ValueError(f"{op}: the input has {x.shape[-1]} channels (last axis of {x.shape}) but the kernel "
                         f"{kernel.shape} is for {kernel.shape[-2]}; build the kernel for the input's channels.")
    filters = kernel.shape[-2] * kernel.shape[-1]
    if bias is not None and bias.shape != (filters,):
        raise ValueError(f"{op}: bias must have shape ({filters},), channels * depth_multiplier, but got "
                         f"{bias.shape}.")
    win = geometry(op, x.shape[1:-1], kernel.shape[:-2], _ints(strides, rank, "strides", op),
                   _ints(dilation_rate, rank, "dilation_rate", op),
                   _padding(op, padding, ("valid", "same", "causal") if rank == 1 else ("valid", "same")))
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return DepthwiseConv.apply(*args, win=win)


def separable_conv(x, depthwise_kernel, pointwise_kernel, bias=None, strides=1, padding: str = "valid",
                   dilation_rate=1, relu: bool = False) -> Tensor:
    """y = pointwise(depthwise(x)) + bias: a depthwise conv, then a 1x...x1 conv mixing the channels
    (with ``relu``, max(y, 0) in the same op as the pointwise product, as ``linear``'s).

    Composed from ``depthwise_conv`` and ``linear`` (both differentiable).

    Args:
        x: (batch, *spatial, channels).
        depthwise_kernel: (*kernel_size, channels, depth_multiplier).
        pointwise_kernel: (1, ..., 1, channels * depth_multiplier, filters), tf.keras's layout.
        bias: (filters,) or None.
    Returns (batch, *out_spatial, filters).
    """
    x, pointwise_kernel = as_tensor(x), as_tensor(pointwise_kernel)
    rank = x.ndim - 2
    y = depthwise_conv(x, depthwise_kernel, None, strides, padding, dilation_rate)
    if pointwise_kernel.ndim != rank + 2 or any(k != 1 for k in pointwise_kernel.shape[:-2]) \
            or pointwise_kernel.shape[-2] != y.shape[-1]:
        raise ValueError(f"separable_conv{rank}d: the pointwise kernel must have shape "
                         f"{(1,) * rank + (y.shape[-1], '<filters>')} (channels * depth_multiplier inputs), "
                         f"got {pointwise_kernel.shape}.")
    return linear(y, reshape(pointwise_kernel, pointwise_kernel.shape[-2:]), bias, relu=relu)
