"""Depthwise convolution (each channel filtered on its own) and the separable convolution built on it.

A depthwise conv is a grouped conv with one channel per group. Its im2col matrix would be as large
as an ordinary conv's for a tiny product, so it is computed the other way round: one whole-array
multiply-add per kernel offset, y += x_shifted * K[offset], with no copy of the input at all.

Kernel layout as tf.keras: (*kernel_size, channels, depth_multiplier); output channel
c * depth_multiplier + m is channel c filtered by K[..., c, m].
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.ops.conv import _ints, _padding
from shendu.ops.linalg import linear
from shendu.ops.shape import reshape
from shendu.ops.window import crop, geometry, kernel_axes, layout, offsets, pad, tap
from shendu.tensor import Tensor, as_tensor


class DepthwiseConv(Function):
    """y[n,p,c,m] = Σ_a x[n, p*s+a*d, c] K[a,c,m] + bias[c*M+m]  (x padded);
    dK[a,c,m] = Σ_{n,p} x[n, p*s+a*d, c] dy[n,p,c,m],  dx[n, p*s+a*d, c] += Σ_m dy[n,p,c,m] K[a,c,m]"""
    def forward(self, x, K, *b):
        w, xp = self.win, backend.xp
        xpad = pad(x, w.pads)
        channels, mult = K.shape[-2:]
        y = xp.zeros((x.shape[0], *w.out, channels, mult), x.dtype)
        for offset in offsets(w):                         # loops over kernel offsets only
            y += tap(xpad, w, offset)[..., None] * K[offset]
        y = y.reshape(*y.shape[:-2], channels * mult)
        if b:
            y += b[0]
        self.save(xpad, K)
        return y

    def backward(self, gy):
        xpad, K = self.saved
        w, xp = self.win, backend.xp
        channels, mult = K.shape[-2:]
        gy = gy.reshape(*gy.shape[:-1], channels, mult)
        gx = xp.zeros(xpad.shape, gy.dtype) if self.needs[0] else None
        gK = xp.empty(K.shape, gy.dtype) if self.needs[1] else None
        flat = gy.reshape(-1, channels, mult)
        for offset in offsets(w):
            if gx is not None:
                tap(gx, w, offset)[...] += (gy * K[offset]).sum(axis=-1)
            if gK is not None:
                gK[offset] = xp.einsum("mc,mcf->cf", tap(xpad, w, offset).reshape(-1, channels), flat)
        gx = None if gx is None else crop(gx, w.pads)
        if len(self.needs) == 3:
            return gx, gK, gy.reshape(-1, channels * mult).sum(axis=0)
        return gx, gK


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
                   dilation_rate=1) -> Tensor:
    """y = pointwise(depthwise(x)) + bias: a depthwise conv, then a 1x...x1 conv mixing the channels.

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
    return linear(y, reshape(pointwise_kernel, pointwise_kernel.shape[-2:]), bias)
