"""Sliding windows over any number of spatial axes, channels-last: geometry, padding, im2col, col2im.

Shared by the rank-generic convolutions (ops/conv_nd.py), depthwise convolutions (ops/depthwise.py)
and pooling (ops/pool.py). Padding follows TensorFlow, by ops/conv.py's rule:
  'valid'   no padding, out = (in - k_eff) // stride + 1, with k_eff = (k - 1) * dilation + 1
  'same'    out = ceil(in / stride); the total padding split half before, the odd one after
  'causal'  (one spatial axis) pad k_eff - 1 before, so y[t] sees only x[..t]
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

from shendu import backend
from shendu.ops.conv import _axis

_LAYOUTS = {1: "(batch, length, channels)", 2: "(batch, height, width, channels)",
            3: "(batch, depth, height, width, channels)"}


class Window(NamedTuple):
    """Where a window slides over the spatial axes: size, stride, dilation, padding, output size (one per axis)."""
    k: tuple       # kernel size
    s: tuple       # strides
    d: tuple       # dilation
    pads: tuple    # ((before, after), ...)
    out: tuple     # output size


def kernel_axes(rank: int) -> str:
    """The names of a rank-``rank`` kernel's spatial axes, for error messages."""
    return {1: "kernel_size", 2: "kernel_height, kernel_width",
            3: "kernel_depth, kernel_height, kernel_width"}.get(rank, "*kernel_size")


def layout(rank: int) -> str:
    """The channels-last layout of a rank-``rank`` input, for error messages."""
    return _LAYOUTS.get(rank, f"(batch, {rank} spatial axes, channels)")


def geometry(op, sizes, kernel, strides, dilation, padding, what="kernel") -> Window:
    """The window of an op over ``sizes`` (the input's spatial axes), by TensorFlow's padding rule."""
    axes = [_axis(n, k, s, d, padding) for n, k, s, d in zip(sizes, kernel, strides, dilation)]
    if any(out < 1 for _, _, out in axes):
        k_eff = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
        dilated = f" (dilated to {'x'.join(map(str, k_eff))} by dilation_rate {tuple(dilation)})" * (
            k_eff != tuple(kernel))
        raise ValueError(
            f"{op}: the {'x'.join(map(str, kernel))} {what}{dilated} is larger than the "
            f"{'x'.join(map(str, sizes))} input, so padding='{padding}' leaves no output; use padding='same', "
            f"a smaller {what}, or a larger input.")
    return Window(tuple(kernel), tuple(strides), tuple(dilation), tuple((lo, hi) for lo, hi, _ in axes),
                  tuple(out for _, _, out in axes))


def pad(x, pads, value=0):
    """x (N, *spatial, C) padded on its spatial axes by ((before, after), ...)."""
    if all(p == (0, 0) for p in pads):
        return x
    return backend.xp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)


def crop(x, pads):
    """The inverse of ``pad``: the interior of x."""
    return x[(slice(None),) + tuple(slice(lo, n - hi) for (lo, hi), n in zip(pads, x.shape[1:-1]))]


def windows(x, w: Window):
    """A strided view (N, *out, *k, C) of padded x: [n, p, a, c] = x[n, p*s + a*d, c] per spatial axis.

    No copy: it re-reads x's memory with new strides. Never write to it (windows overlap).
    """
    n, c = x.shape[0], x.shape[-1]
    axis_strides = x.strides[1:-1]
    return backend.xp.lib.stride_tricks.as_strided(
        x, shape=(n, *w.out, *w.k, c),
        strides=(x.strides[0], *(st * s for st, s in zip(axis_strides, w.s)),
                 *(st * d for st, d in zip(axis_strides, w.d)), x.strides[-1]))


def tap(x, w: Window, offset):
    """What kernel offset ``offset`` sees at every output position: the view x[n, p*s + a*d, c]."""
    return x[(slice(None),) + tuple(slice(a * d, a * d + (o - 1) * s + 1, s)
                                    for a, d, o, s in zip(offset, w.d, w.out, w.s))]


def offsets(w: Window):
    """Every kernel offset (a1, ..., ar), in the kernel's row-major order."""
    return list(itertools.product(*(range(k) for k in w.k)))


def col2im(cols, w: Window, padded_shape):
    """The adjoint of ``windows``: add each window's values (N, *out, *k, C) back onto its positions."""
    g = backend.xp.zeros(padded_shape, cols.dtype)
    lead = (slice(None),) * (1 + len(w.k))
    for offset in offsets(w):
        tap(g, w, offset)[...] += cols[lead + offset]
    return g
