"""``keras.ops.nn``'s functions over shendu Tensors, with Keras 3's signatures: activations, softmax,
convolution and pooling with ``data_format``, one-hot encodings, cross-entropies, moments and the
normalizations, attention.

Each is composed from the differentiable primitives in ``shendu.ops`` (fused ones where they exist:
conv, pooling, softmax, layer norm); encodings (one_hot, multi_hot) are constants.
"""
from __future__ import annotations

import math as _math
import numbers

from shendu import backend, ops
from shendu.numpy_api.creation import convert_to_tensor, standardize_dtype
from shendu.numpy_api.manipulation import repeat
from shendu.numpy_api.math import _float
from shendu.ops import math as mops
from shendu.tensor import Tensor

EPSILON = 1e-7     # Keras's backend.epsilon(): the clip of probabilities and the normalizers' default


# ---------------------------------------------------------------- activations
def relu(x) -> Tensor:
    return ops.relu(_float(x))


def relu6(x) -> Tensor:
    """min(max(x, 0), 6)."""
    return ops.clip(_float(x), 0.0, 6.0)


def sigmoid(x) -> Tensor:
    return ops.sigmoid(_float(x))


def log_sigmoid(x) -> Tensor:
    """log sigmoid(x) = -softplus(-x), stable for large |x|."""
    return ops.neg(ops.softplus(ops.neg(_float(x))))


def softplus(x) -> Tensor:
    return ops.softplus(_float(x))


def softsign(x) -> Tensor:
    return ops.softsign(_float(x))


def silu(x) -> Tensor:
    """x sigmoid(x)."""
    return ops.swish(_float(x))


swish = silu


def hard_sigmoid(x) -> Tensor:
    """clip(x / 6 + 0.5, 0, 1)."""
    return ops.hard_sigmoid(_float(x))


def hard_silu(x) -> Tensor:
    """x hard_sigmoid(x)."""
    x = _float(x)
    return ops.mul(x, ops.hard_sigmoid(x))


hard_swish = hard_silu


def hard_tanh(x) -> Tensor:
    """clip(x, -1, 1)."""
    return ops.clip(_float(x), -1.0, 1.0)


def tanh(x) -> Tensor:
    return ops.tanh(_float(x))


def tanh_shrink(x) -> Tensor:
    """x - tanh(x)."""
    x = _float(x)
    return ops.sub(x, ops.tanh(x))


def hard_shrink(x, threshold=0.5) -> Tensor:
    """x where |x| > threshold, else 0."""
    x = _float(x)
    return ops.where(backend.xp.abs(x.data) > threshold, x, 0.0)


def soft_shrink(x, threshold=0.5) -> Tensor:
    """x - threshold above it, x + threshold below -threshold, 0 between."""
    x = _float(x)
    return ops.where(x.data > threshold, ops.sub(x, threshold), ops.where(x.data < -threshold,
                                                                         ops.add(x, threshold), 0.0))


def threshold(x, threshold, default_value) -> Tensor:
    """x where x > threshold, else default_value."""
    x = _float(x)
    return ops.where(x.data > threshold, x, float(default_value))


def leaky_relu(x, negative_slope=0.2) -> Tensor:
    return ops.leaky_relu(_float(x), negative_slope)


def elu(x, alpha=1.0) -> Tensor:
    return ops.elu(_float(x), alpha)


def selu(x) -> Tensor:
    return ops.selu(_float(x))


def celu(x, alpha=1.0) -> Tensor:
    """x for x >= 0, alpha (e^(x/alpha) - 1) below: alpha elu(x / alpha)."""
    return ops.mul(ops.elu(ops.div(_float(x), float(alpha)), 1.0), float(alpha))


def gelu(x, approximate=True) -> Tensor:
    """x Φ(x); Keras's default is the tanh approximation."""
    return ops.gelu(_float(x), approximate)


def glu(x, axis=-1) -> Tensor:
    """a sigmoid(b), with x split in halves a, b along ``axis``."""
    a, b = ops.split(_float(x), 2, axis)
    return ops.mul(a, ops.sigmoid(b))


def squareplus(x, b=4) -> Tensor:
    """(x + √(x² + b)) / 2."""
    x = _float(x)
    return ops.mul(ops.add(x, ops.sqrt(ops.add(ops.mul(x, x), float(b)))), 0.5)


def sparse_plus(x) -> Tensor:
    """0 for x <= -1, (x + 1)² / 4 between, x for x >= 1."""
    x = _float(x)
    middle = ops.mul(ops.square(ops.add(x, 1.0)), 0.25)
    return ops.where(x.data <= -1, 0.0, ops.where(x.data >= 1, x, middle))


def sparse_sigmoid(x) -> Tensor:
    """0 for x <= -1, (x + 1) / 2 between, 1 for x >= 1."""
    return ops.clip(ops.mul(ops.add(_float(x), 1.0), 0.5), 0.0, 1.0)


def softmax(x, axis=-1) -> Tensor:
    x = _float(x)
    if axis is None or isinstance(axis, (tuple, list)):
        axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
        return ops.exp(ops.sub(x, ops.logsumexp(x, axes, True)))
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1) -> Tensor:
    x = _float(x)
    if axis is None or isinstance(axis, (tuple, list)):
        axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
        return ops.sub(x, ops.logsumexp(x, axes, True))
    return ops.log_softmax(x, axis)


# ---------------------------------------------------------------- convolution and pooling
def _channels_last(x, data_format):
    if data_format in (None, "channels_last"):
        return x, False
    if data_format != "channels_first":
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
    return ops.transpose(x, [0] + list(range(2, x.ndim)) + [1]), True


def _restore(y, moved):
    return ops.transpose(y, [0, y.ndim - 1] + list(range(1, y.ndim - 1))) if moved else y


def _rank(op, x, supported):
    rank = x.ndim - 2
    if rank not in supported:
        raise ValueError(f"{op}: shendu supports {', '.join(f'{r}-D' for r in supported)} inputs "
                         f"(batch, spatial..., channels); got shape {x.shape} ({rank} spatial axes).")
    return rank


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1) -> Tensor:
    """N-D convolution (1-D and 2-D): kernel (spatial..., in_channels, out_channels), Keras's layout."""
    x, moved = _channels_last(_float(inputs), data_format)
    k = ops.cast(convert_to_tensor(kernel), x.dtype)
    rank = _rank("conv", x, (1, 2))
    fn = ops.conv1d if rank == 1 else ops.conv2d
    return _restore(fn(x, k, None, strides, padding.lower(), dilation_rate), moved)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1) -> Tensor:
    """Transposed convolution (1-D and 2-D): kernel (spatial..., out_channels, in_channels), Keras's layout."""
    x, moved = _channels_last(_float(inputs), data_format)
    k = ops.cast(convert_to_tensor(kernel), x.dtype)
    rank = _rank("conv_transpose", x, (1, 2))
    if rank == 2:
        return _restore(ops.conv2d_transpose(x, k, None, strides, padding.lower(), dilation_rate,
                                             output_padding), moved)
    one = (lambda v: None if v is None else (1, v if isinstance(v, numbers.Integral) else v[0]))
    y = ops.conv2d_transpose(ops.expand_dims(x, 1), ops.expand_dims(k, 0), None, one(strides), padding.lower(),
                             one(dilation_rate), None if output_padding is None else (0, one(output_padding)[1]))
    return _restore(ops.squeeze(y, 1), moved)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1) -> Tensor:
    """Each input channel convolved with its own filters: kernel (spatial..., in_channels, multiplier);
    composed as one conv per channel."""
    x, moved = _channels_last(_float(inputs), data_format)
    k = ops.cast(convert_to_tensor(kernel), x.dtype)
    rank = _rank("depthwise_conv", x, (1, 2))
    fn = ops.conv1d if rank == 1 else ops.conv2d
    pieces = [fn(x[..., c:c + 1], k[..., c:c + 1, :], None, strides, padding.lower(), dilation_rate)
              for c in range(x.shape[-1])]
    return _restore(ops.concatenate(pieces, -1), moved)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1) -> Tensor:
    """A depthwise conv, then a 1x1 conv mixing the channels."""
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    moved = data_format == "channels_first"
    y, _ = _channels_last(y, data_format)
    pw = ops.cast(convert_to_tensor(pointwise_kernel), y.dtype)
    out = ops.linear(y, ops.reshape(pw, pw.shape[-2:]))
    return _restore(out, moved)


def _pool(op, fn1, fn2, inputs, pool_size, strides, padding, data_format):
    x, moved = _channels_last(_float(inputs), data_format)
    rank = _rank(op, x, (1, 2))
    fn = fn1 if rank == 1 else fn2
    return _restore(fn(x, pool_size, strides, padding.lower()), moved)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    return _pool("max_pool", ops.max_pool1d, ops.max_pool2d, inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None) -> Tensor:
    return _pool("average_pool", ops.avg_pool1d, ops.avg_pool2d, inputs, pool_size, strides, padding,
                 data_format)


def depth_to_space(x, block_size, data_format="channels_last") -> Tensor:
    """(n, h, w, c·b²) -> (n, h·b, w·b, c): channels moved into b x b spatial blocks."""
    x, moved = _channels_last(convert_to_tensor(x), data_format)
    n, h, w, c = x.shape
    b = int(block_size)
    y = ops.reshape(x, (n, h, w, b, b, c // (b * b)))
    y = ops.reshape(ops.transpose(y, (0, 1, 3, 2, 4, 5)), (n, h * b, w * b, c // (b * b)))
    return _restore(y, moved)


def space_to_depth(x, block_size, data_format="channels_last") -> Tensor:
    """(n, h·b, w·b, c) -> (n, h, w, c·b²): each b x b spatial block moved into the channels."""
    x, moved = _channels_last(convert_to_tensor(x), data_format)
    n, hb, wb, c = x.shape
    b = int(block_size)
    y = ops.reshape(x, (n, hb // b, b, wb // b, b, c))
    y = ops.reshape(ops.transpose(y, (0, 1, 3, 2, 4, 5)), (n, hb // b, wb // b, b * b * c))
    return _restore(y, moved)


# ---------------------------------------------------------------- encodings
def _labels(x):
    labels = convert_to_tensor(x).data
    if labels.dtype.kind == "f":
        labels = labels.astype("int64")
    return labels


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False) -> Tensor:
    """Integer labels to one-hot vectors on a new ``axis`` (out-of-range labels give all zeros). A constant."""
    if sparse:
        raise ValueError("one_hot: shendu has no sparse tensors; use sparse=False.")
    labels = _labels(x)
    y = (labels[..., None] == backend.xp.arange(int(num_classes))).astype(standardize_dtype(dtype))
    if axis != -1:
        y = backend.xp.moveaxis(y, -1, axis)
    return Tensor._wrap(y, False)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs) -> Tensor:
    """1 at every label present in each row (the last axis of ``inputs`` holds a row's labels). A constant."""
    num_classes = kwargs.pop("num_tokens", num_classes)
    if kwargs:
        raise TypeError(f"multi_hot got unexpected arguments {sorted(kwargs)}.")
    if num_classes is None:
        raise ValueError("multi_hot needs num_classes.")
    labels = _labels(inputs)
    hot = one_hot(labels, num_classes, -1, dtype).data
    y = hot.max(axis=-2) if labels.ndim > 1 else hot.max(axis=0)
    if axis != -1:
        y = backend.xp.moveaxis(y, -1, axis)
    return Tensor._wrap(y, False)


# ---------------------------------------------------------------- cross-entropies (Keras's ops: no reduction)
def binary_crossentropy(target, output, from_logits=False) -> Tensor:
    """Elementwise -(t log p + (1 - t) log(1 - p)); p clipped to [ε, 1 - ε], or from logits z as
    max(z, 0) - z t + log(1 + e^-|z|) (stable)."""
    z = _float(output)
    t = ops.cast(convert_to_tensor(target), z.dtype)
    if from_logits:
        return ops.add(ops.sub(ops.relu(z), ops.mul(z, t)), mops.log1p(ops.exp(ops.neg(ops.abs(z)))))
    p = ops.clip(z, EPSILON, 1 - EPSILON)
    return ops.neg(ops.add(ops.mul(t, ops.log(p)), ops.mul(ops.sub(1.0, t), ops.log(ops.sub(1.0, p)))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """-Σ t log p over ``axis``; p = output / Σ output clipped to [ε, 1 - ε], or log_softmax(logits)."""
    z = _float(output)
    t = ops.cast(convert_to_tensor(target), z.dtype)
    if t.shape != z.shape:
        raise ValueError(f"categorical_crossentropy: target {t.shape} and output {z.shape} must have the same "
                         "shape; for integer labels use sparse_categorical_crossentropy.")
    if from_logits:
        log_p = ops.log_softmax(z, axis)
    else:
        p = ops.div(z, ops.sum(z, axis, True))
        log_p = ops.log(ops.clip(p, EPSILON, 1 - EPSILON))
    return ops.neg(ops.sum(ops.mul(t, log_p), axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1) -> Tensor:
    """-log p[label] with integer labels; p as in categorical_crossentropy."""
    z = _float(output)
    labels = _labels(target)
    if labels.ndim == z.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    hot = one_hot(labels, z.shape[axis], axis, z.dtype)
    return categorical_crossentropy(hot, z, from_logits, axis)


# ---------------------------------------------------------------- statistics and normalization
def moments(x, axes, keepdims=False, synchronized=False) -> tuple:
    """(mean, variance) over ``axes`` (biased variance, as Keras); ``synchronized`` needs several devices."""
    if synchronized:
        raise ValueError("moments: synchronized=True averages across devices; shendu runs on one device, "
                         "use synchronized=False.")
    x = _float(x)
    axes = (axes,) if isinstance(axes, numbers.Integral) else tuple(axes)
    mean = ops.mean(x, axes, True)
    centered = ops.sub(x, mean)
    var = ops.mean(ops.mul(centered, centered), axes, keepdims)
    return (mean if keepdims else ops.reshape(mean, var.shape)), var


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001) -> Tensor:
    """(x - mean) / √(variance + ε) · scale + offset, the statistics given (shaped along ``axis``)."""
    x = _float(x)
    axis = axis % x.ndim
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def along(v):
        v = ops.cast(convert_to_tensor(v), x.dtype)
        return v if v.ndim == 0 else ops.reshape(v, shape)         # a scalar broadcasts as it is

    y = ops.div(ops.sub(x, along(mean)), ops.sqrt(ops.add(along(variance), float(epsilon))))
    if scale is not None:
        y = ops.mul(y, along(scale))
    if offset is not None:
        y = ops.add(y, along(offset))
    return y


def normalize(x, axis=-1, order=2, epsilon=None) -> Tensor:
    """x / max(‖x‖_order, ε) along ``axis`` (for order 2: x · min(1/√Σx², 1/ε))."""
    if not isinstance(order, numbers.Integral) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1, got {order!r}.")
    x = _float(x)
    if x.ndim == 0:
        x = ops.reshape(x, (1,))
    eps = EPSILON if epsilon is None else float(epsilon)
    if order == 2:
        inv_norm = ops.div(1.0, ops.sqrt(ops.sum(ops.mul(x, x), axis, True)))
        return ops.mul(x, ops.minimum(inv_norm, 1.0 / eps))
    norm = ops.pow(ops.sum(ops.pow(ops.abs(x), float(order)), axis, True), 1.0 / order)
    return ops.div(x, ops.maximum(norm, eps))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs) -> Tensor:
    """γ (x - μ) / √(σ² + ε) + β over ``axis`` (ε defaults to 1e-7, Keras's epsilon); ``rms_scaling=True``
    divides by √(σ² + ε) only."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization got unexpected arguments {sorted(kwargs)}.")
    x = _float(x)
    axes = sorted(a % x.ndim for a in ((axis,) if isinstance(axis, numbers.Integral) else axis))
    shape = [n if i in axes else 1 for i, n in enumerate(x.shape)]
    eps = EPSILON if epsilon is None else float(epsilon)

    def param(v, fill):
        if v is None:
            return Tensor._wrap(backend.xp.full(shape, fill, x.dtype), False)
        return ops.reshape(ops.cast(convert_to_tensor(v), x.dtype), shape)

    if rms_scaling:
        _, var = moments(x, axes, keepdims=True)
        y = ops.div(x, ops.sqrt(ops.add(var, eps)))
        return y if gamma is None else ops.mul(y, param(gamma, 1.0))
    return ops.layer_norm(x, param(gamma, 1.0), param(beta, 0.0), tuple(axes), eps)


def rms_normalization(x, scale=None, axis=-1, epsilon=None) -> Tensor:
    """x / √(mean(x²) + ε) · scale over ``axis``."""
    x = _float(x)
    eps = EPSILON if epsilon is None else float(epsilon)
    y = ops.div(x, ops.sqrt(ops.add(ops.mean(ops.mul(x, x), axis, True), eps)))
    return y if scale is None else ops.mul(y, ops.cast(convert_to_tensor(scale), x.dtype))


def psnr(x1, x2, max_val) -> Tensor:
    """Peak signal-to-noise ratio 20 log10(max_val) - 10 log10(mean((x1 - x2)²))."""
    a, b = _float(x1), _float(x2)
    mse = ops.mean(ops.square(ops.sub(a, b)))
    return ops.sub(20 * _math.log10(float(max_val)), ops.mul(ops.log(mse), 10 / _math.log(10.0)))


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None) -> Tensor:
    """softmax(q kᵀ · scale + bias, masked) v, with q, k, v shaped (batch, time, heads, head_dim) as in
    Keras; scale defaults to 1/√head_dim; key/value heads may be fewer (grouped-query attention)."""
    if flash_attention:
        raise ValueError("dot_product_attention: shendu has no flash attention kernel; use flash_attention=None.")
    q = _float(query)
    k = ops.cast(convert_to_tensor(key), q.dtype)
    v = ops.cast(convert_to_tensor(value), q.dtype)
    heads, kv_heads = q.shape[2], k.shape[2]
    if heads != kv_heads:
        if heads % kv_heads:
            raise ValueError(f"dot_product_attention: {heads} query heads cannot share {kv_heads} key heads.")
        k, v = repeat(k, heads // kv_heads, 2), repeat(v, heads // kv_heads, 2)
    scale = 1 / _math.sqrt(q.shape[-1]) if scale is None else float(scale)
    logits = ops.mul(ops.matmul(ops.transpose(q, (0, 2, 1, 3)), ops.transpose(k, (0, 2, 3, 1))), scale)
    if attn_logits_soft_cap is not None:
        cap = float(attn_logits_soft_cap)
        logits = ops.mul(ops.tanh(ops.div(logits, cap)), cap)
    if bias is not None:
        logits = ops.add(logits, ops.cast(convert_to_tensor(bias), q.dtype))
    keep = None
    if mask is not None:
        keep = convert_to_tensor(mask).data.astype(bool)
    if is_causal:
        causal = backend.xp.tril(backend.xp.ones((q.shape[1], k.shape[1]), bool))
        keep = causal if keep is None else keep & causal
    if keep is not None:
        logits = ops.where(keep, logits, float(backend.xp.finfo(q.dtype).min))
    weights = ops.softmax(logits, -1)
    return ops.transpose(ops.matmul(weights, ops.transpose(v, (0, 2, 1, 3))), (0, 2, 1, 3))


# the functions defined here (aliases such as ``swish = silu`` included), not the names imported above
__all__ = sorted(name for name, value in list(globals().items()) if not name.startswith("_") and callable(value)
                 and getattr(value, "__module__", None) == __name__)
