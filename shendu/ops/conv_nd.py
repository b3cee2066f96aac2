"""Convolution over any number of spatial axes (1-D, 2-D, 3-D), grouped or not, and its transpose.

Channels-last throughout: x is (batch, *spatial, channels). The plan is ops/conv.py's, made
rank-generic: each output position's receptive field (k1 × ... × kr × channels values) becomes one
row of an im2col matrix, read through a strided *view* of the padded input (one copy, no Python
loop), and the convolution is one matrix product per group. Backward turns rows back into
positions (col2im) with a loop over the kernel offsets only.

Groups (``groups = G``) split the input channels into G contiguous blocks of C/G and the filters
into G blocks of F/G; block g of the filters sees only block g of the channels, so the kernel is
(*k, C/G, F), as tf.keras stores it. When every group holds a single channel (a depthwise
convolution) the work moves to ops/depthwise.py, which needs no im2col copy at all.

Padding follows TensorFlow (see ops/conv.py): 'valid', 'same' (the odd pixel after), and for 1-D
convolutions 'causal'.
"""
from __future__ import annotations

import math

from shendu import backend
from shendu.autograd import Function
from shendu.ops import compiled
from shendu.ops.conv import _ints, _padding
from shendu.ops.transposed_conv import _transpose_axis
from shendu.ops.depthwise import depthwise_conv
from shendu.ops.shape import reshape
from shendu.ops.window import Window, col2im, crop, geometry, kernel_axes, layout, pad, windows
from shendu.tensor import Tensor, as_tensor

# ---------------------------------------------------------------- convolution


class ConvND(Function):
    """y[n,p,g,f] = Σ_{a,c} x[n, p*s+a*d, g, c] K[a, c, g, f] + bias  (x padded; channels and filters in G groups);
    per group g, as matrices: y_g = cols_g K_g;   dK_g = cols_gᵀ dy_g, dx = col2im(dy_g K_gᵀ), dbias = Σ dy"""
    def forward(self, x, K, *b):
        w, G = self.win, self.groups
        xpad = pad(x, w.pads)
        taps, m = math.prod(w.k), x.shape[0] * math.prod(w.out)
        cg, F = x.shape[-1] // G, K.shape[-1]
        cols = windows(xpad, w).reshape(m, taps, G, cg)            # the copy of the input (im2col)
        # group-major stacks: cols_g (G, m, taps*cg) and K_g (G, taps*cg, F/G), then one batched GEMM
        # (regrouping copies the columns once more when G > 1; with G = 1 it is a view)
        cols = cols.transpose(2, 0, 1, 3).reshape(G, m, taps * cg)
        Kg = K.reshape(taps, cg, G, F // G).transpose(2, 0, 1, 3).reshape(G, taps * cg, F // G)
        y = backend.xp.matmul(cols, Kg).transpose(1, 0, 2).reshape(m, F)
        if b:
            y += b[0]
        self.save(cols, Kg)
        self.padded_shape = xpad.shape
        return y.reshape(x.shape[0], *w.out, F)

    def backward(self, gy):
        cols, Kg = self.saved
        w = self.win
        G, m, rows = cols.shape
        gyg = gy.reshape(m, G, -1).transpose(1, 0, 2)             # (G, m, F/G)
        gx = gK = None
        if self.needs[0]:
            cg = rows // math.prod(w.k)
            gcols = backend.xp.matmul(gyg, Kg.transpose(0, 2, 1))   # (G, m, taps*cg)
            gcols = gcols.reshape(G, m, -1, cg).transpose(1, 2, 0, 3).reshape(gy.shape[0], *w.out, *w.k, G * cg)
            gx = crop(col2im(gcols, w, self.padded_shape), w.pads)
        if self.needs[1]:
            gKg = backend.xp.matmul(cols.transpose(0, 2, 1), gyg)   # (G, taps*cg, F/G)
            gK = gKg.reshape(G, -1, rows // math.prod(w.k), gKg.shape[-1]).transpose(1, 2, 0, 3)
            gK = gK.reshape(*w.k, rows // math.prod(w.k), -1)
        if len(self.needs) == 3:
            return gx, gK, gy.reshape(m, -1).sum(axis=0)
        return gx, gK


def _check(op, x, kernel, bias, rank, in_axis, kernel_layout, groups=1):
    """Teaching errors for shapes that cannot convolve; ``in_axis`` is the kernel's input-channel axis."""
    if x.ndim != rank + 2:
        hint = (" add a batch axis (x[None]) for a single example, or a channel axis (x[..., None]) for one "
                "channel." if x.ndim == rank + 1 else " reshape it to that layout.")
        raise ValueError(f"{op} expects a {rank + 2}-D input {layout(rank)} but got shape {x.shape};{hint}")
    if kernel.ndim != rank + 2:
        raise ValueError(f"{op} expects a {rank + 2}-D kernel {kernel_layout} but got shape {kernel.shape}.")
    channels, filters = x.shape[-1], kernel.shape[-1] if in_axis == -2 else kernel.shape[-2]
    if channels % groups or filters % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels ({channels}) and the "
                         f"filters ({filters}); pick a groups value that divides both.")
    if channels != kernel.shape[in_axis] * groups:
        per = f" ({channels} / groups={groups})" if groups > 1 else ""
        raise ValueError(
            f"{op}: the input has {channels} channels (last axis of {x.shape}) so the kernel needs "
            f"{channels // groups}{per} on its input axis, but the kernel {kernel.shape} has "
            f"{kernel.shape[in_axis]}; build the kernel for the input's channel count.")
    if bias is not None and bias.shape != (filters,):
        raise ValueError(f"{op}: bias must have shape ({filters},), one value per output channel, "
                         f"but got {bias.shape}.")


def convolution(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1, groups: int = 1) -> Tensor:
    """Rank-generic convolution (cross-correlation), TensorFlow's padding, optionally grouped.

    y[n, p, f] = Σ_{a, c in f's group} x[n, p*s + a*d, c] K[a, c, f] + bias[f], p and a running over every
    spatial axis.

    Args:
        x: (batch, *spatial, in_channels), 1 to 3 spatial axes (any number works).
        kernel: (*kernel_size, in_channels / groups, filters), tf.keras's layout.
        bias: (filters,) or None.
        strides, dilation_rate: an int or one per spatial axis.
        padding: 'valid' or 'same'; 'causal' too when there is one spatial axis.
        groups: how many independent channel groups (divides in_channels and filters).
    Returns (batch, *out_spatial, filters).
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    rank = x.ndim - 2
    op = f"conv{rank}d" if rank >= 1 else "convolution"
    if rank < 1:
        raise ValueError(f"convolution expects an input (batch, *spatial, channels) with at least one spatial axis, "
                         f"got shape {x.shape}.")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}.")
    _check(op, x, kernel, bias, rank, -2, f"({kernel_axes(rank)}, in_channels/groups, filters)",
           groups)
    win = geometry(op, x.shape[1:-1], kernel.shape[:-2], _ints(strides, rank, "strides", op),
                   _ints(dilation_rate, rank, "dilation_rate", op),
                   _padding(op, padding, ("valid", "same", "causal") if rank == 1 else ("valid", "same")))
    if groups > 1 and kernel.shape[-2] == 1:
        # one channel per group: a depthwise conv whose (*k, C, multiplier) kernel is this one reshaped
        depthwise = reshape(kernel, (*kernel.shape[:-2], groups, kernel.shape[-1] // groups))
        return depthwise_conv(x, depthwise, bias, win.s, padding, win.d)
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return ConvND.apply(*args, win=win, groups=groups)


def conv3d(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1, groups: int = 1) -> Tensor:
    """3-D convolution of x (batch, depth, height, width, channels) with K (kd, kh, kw, in/groups, filters)."""
    x = as_tensor(x)
    if x.ndim != 5:
        raise ValueError(f"conv3d expects a 5-D input {layout(3)} but got shape {x.shape}.")
    return convolution(x, kernel, bias, strides, padding, dilation_rate, groups)


# ---------------------------------------------------------------- transposed convolution


class ConvNDTranspose(Function):
    """y = col2im(x Kᵀ) cropped, + bias: the adjoint (input gradient) of ConvND, i.e.
    y[n, p*s+a*d-pad, c] += Σ_f x[n,p,f] K[a,c,f];   dx = im2col(dy) K, dK = im2col(dy)ᵀ x"""
    def forward(self, x, K, *b):
        w = self.win                                    # the window of the conv this op is the adjoint of
        rows = K.reshape(-1, K.shape[-1])               # (taps*Cout, Cin)
        cols = compiled.product(x.reshape(-1, x.shape[-1]), rows.T)      # the one GEMM
        y = crop(col2im(cols.reshape(x.shape[0], *w.out, *w.k, K.shape[-2]), w, self.padded_shape), w.pads)
        if b:
            y += b[0]                                   # y is a view of a buffer this op owns
        self.save(x, K)
        return y

    def backward(self, gy):
        x, K = self.saved
        cols = windows(pad(gy, self.win.pads), self.win).reshape(-1, K[..., 0].size)   # (N*in, taps*Cout)
        gx = compiled.product(cols, K.reshape(-1, K.shape[-1])).reshape(x.shape) if self.needs[0] else None
        gK = compiled.product(cols.T, x.reshape(-1, x.shape[-1])).reshape(K.shape) if self.needs[1] else None
        if len(self.needs) == 3:
            return gx, gK, gy.reshape(-1, gy.shape[-1]).sum(axis=0)
        return gx, gK


def conv_transpose(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1,
                   output_padding=None) -> Tensor:
    """Rank-generic transposed ("deconvolution") conv: the gradient of ``convolution`` with respect to its input.

    Args:
        x: (batch, *spatial, in_channels).
        kernel: (*kernel_size, filters, in_channels), tf.keras's ConvNDTranspose layout.
        bias: (filters,) or None.
        strides, dilation_rate, output_padding: an int or one per spatial axis; output_padding must be
            smaller than the stride.
        padding: 'valid' (out = in*s + max(k_eff - s, 0)) or 'same' (out = in*s).
    Returns (batch, *out_spatial, filters).
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    rank = x.ndim - 2
    op = f"conv{rank}d_transpose"
    if rank < 1:
        raise ValueError(f"conv_transpose expects an input (batch, *spatial, channels), got shape {x.shape}.")
    _check(op, x, kernel, bias, rank, -1, f"({kernel_axes(rank)}, filters, in_channels)")
    strides, dilation = _ints(strides, rank, "strides", op), _ints(dilation_rate, rank, "dilation_rate", op)
    padding = _padding(op, padding, ("valid", "same"))
    extra = (None,) * rank
    if output_padding is not None:
        extra = (output_padding,) * rank if isinstance(output_padding, int) else tuple(output_padding)
        if len(extra) != rank or any(not 0 <= p < s for p, s in zip(extra, strides)):
            raise ValueError(f"{op}: output_padding {output_padding!r} must be >= 0 and smaller than the "
                             f"strides {strides} on each of the {rank} spatial axes.")
    axes = [_transpose_axis(n, k, s, d, padding, p)
            for n, k, s, d, p in zip(x.shape[1:-1], kernel.shape[:-2], strides, dilation, extra)]
    if any(out < 1 for _, _, out in axes):
        raise ValueError(f"{op}: a {'x'.join(map(str, x.shape[1:-1]))} input with this kernel, strides and "
                         f"padding gives an empty output {tuple(out for _, _, out in axes)}.")
    win = Window(tuple(kernel.shape[:-2]), strides, dilation, tuple((lo, hi) for lo, hi, _ in axes),
                 tuple(x.shape[1:-1]))
    padded_shape = (x.shape[0], *(lo + hi + out for lo, hi, out in axes), kernel.shape[-2])
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return ConvNDTranspose.apply(*args, win=win, padded_shape=padded_shape)


def conv1d_transpose(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1,
                     output_padding=None) -> Tensor:
    """Transposed 1-D conv of x (batch, length, channels) with K (kernel_size, filters, in_channels)."""
    x = as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"conv1d_transpose expects a 3-D input {layout(1)} but got shape {x.shape}.")
    return conv_transpose(x, kernel, bias, strides, padding, dilation_rate, output_padding)


def conv3d_transpose(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1,
                     output_padding=None) -> Tensor:
    """Transposed 3-D conv of x (batch, depth, height, width, channels) with K (kd, kh, kw, filters, in)."""
    x = as_tensor(x)
    if x.ndim != 5:
        raise ValueError(f"conv3d_transpose expects a 5-D input {layout(3)} but got shape {x.shape}.")
    return conv_transpose(x, kernel, bias, strides, padding, dilation_rate, output_padding)
