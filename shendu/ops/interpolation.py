"""Image resizing as TensorFlow and JAX define it: one linear map per spatial axis.

Output pixel o of an axis resized from n to m samples the input at u = (o + 0.5) * n / m - 0.5
(half-pixel centres) and mixes input pixels j with weights w[o, j] = kernel(u - j), normalised to
sum to 1 over the pixels that exist (so the edges are not darkened). The kernels:

  nearest    x[floor((o + 0.5) * n / m)]         (for an integer upscale, each pixel repeated)
  bilinear   triangle     max(0, 1 - |t|)
  bicubic    Keys cubic   a = -0.5 (TensorFlow's and JAX's, not PyTorch's -0.75)
  lanczos3   sinc(t) sinc(t/3),  |t| < 3
  lanczos5   sinc(t) sinc(t/5),  |t| < 5

Without antialiasing (tf.image.resize's default, and UpSampling2D's) the kernel is not widened
when shrinking. As each axis is a matrix W (m, n), y = W x along that axis and dx = Wᵀ dy.
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor, as_tensor

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


def _kernel(name: str, t):
    xp = backend.xp
    t = xp.abs(t)
    if name == "bilinear":
        return xp.maximum(0.0, 1.0 - t)
    if name == "bicubic":                      # Keys (1981) with a = -0.5
        near = (1.5 * t - 2.5) * t * t + 1.0
        far = ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0
        return xp.where(t < 1.0, near, xp.where(t < 2.0, far, 0.0))
    radius = 3.0 if name == "lanczos3" else 5.0
    return xp.where(t < radius, xp.sinc(t) * xp.sinc(t / radius), 0.0)


def resize_matrix(n: int, m: int, interpolation: str, dtype="float64"):
    """W (m, n): row o holds the weights output pixel o gives the n input pixels (module docstring)."""
    xp = backend.xp
    o = xp.arange(m, dtype="float64")
    if interpolation == "nearest":
        source = xp.minimum(xp.floor((o + 0.5) * n / m).astype(int), n - 1)
        W = xp.zeros((m, n))
        W[xp.arange(m), source] = 1.0
        return W.astype(dtype)
    u = (o + 0.5) * n / m - 0.5                              # where each output pixel samples the input
    W = _kernel(interpolation, u[:, None] - xp.arange(n, dtype="float64")[None, :])
    total = W.sum(axis=1, keepdims=True)
    W = xp.where(xp.abs(total) > 1000 * xp.finfo(xp.float32).eps, W / xp.where(total != 0, total, 1.0), 0.0)
    return W.astype(dtype)


class AxisMap(Function):
    """y = W x along one axis (y[..., o, ...] = Σ_j W[o, j] x[..., j, ...]);   dx = Wᵀ dy along that axis"""
    def forward(self, x):
        xp = backend.xp
        W = self.W.astype(x.dtype)
        return xp.moveaxis(xp.tensordot(x, W, axes=(self.axis, 1)), -1, self.axis)

    def backward(self, gy):
        xp = backend.xp
        W = self.W.astype(gy.dtype)
        return xp.moveaxis(xp.tensordot(gy, W, axes=(self.axis, 0)), -1, self.axis)


def resize(x, size, interpolation: str = "bilinear", data_format: str = "channels_last") -> Tensor:
    """Resize images x (batch, height, width, channels) (or channels_first) to ``size`` = (height, width).

    Args:
        x: a 4-D batch of images, or one 3-D image.
        size: (new_height, new_width).
        interpolation: one of 'nearest', 'bilinear', 'bicubic', 'lanczos3', 'lanczos5' (module docstring).
        data_format: 'channels_last' or 'channels_first'.
    Returns the resized images, same layout and dtype (integer images are rounded back to their dtype).
    """
    x = as_tensor(x)
    interpolation = str(interpolation).lower()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"resize: unknown interpolation {interpolation!r}; expected one of "
                         f"{', '.join(repr(i) for i in INTERPOLATIONS)}.")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"resize: data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
    if x.ndim not in (3, 4):
        raise ValueError(f"resize expects images of rank 4 (batch, height, width, channels) or rank 3 (one "
                         f"image), got shape {x.shape}.")
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ValueError(f"resize: size must be (height, width), two positive ints, got {size!r}.")
    if x.dtype.kind not in "fiub":
        raise ValueError(f"resize works on real-valued images, got dtype {x.dtype}; cast first, e.g. "
                         f"x.astype('float32').")
    rows = x.ndim - 3 + (1 if data_format == "channels_first" else 0)   # the height axis
    if x.dtype.kind != "f":
        # integer images (no gradient): resized in float32, rounded, clipped to the dtype's range, cast back
        xp = backend.xp
        y = resize(x.data.astype("float32"), size, interpolation, data_format).data
        info = xp.iinfo(x.dtype) if x.dtype.kind in "iu" else None
        y = xp.round(y) if info is None else xp.clip(xp.round(y), info.min, info.max)
        return Tensor(y.astype(x.dtype))
    y = x
    for axis, m in zip((rows, rows + 1), size):
        n = x.shape[axis]
        if n != m:
            y = AxisMap.apply(y, W=resize_matrix(n, m, interpolation), axis=axis)
    return y

