"""``tf.nn``: TensorFlow's neural-network functions over shendu (``tf.nn.relu``,
``tf.nn.sigmoid_cross_entropy_with_logits(labels=..., logits=...)``, ``tf.nn.l2_normalize``, ...), beside
every function of ``shendu.functional`` (which ``shendu.nn`` was before). Adapters only: the math is in
``shendu.ops`` and ``shendu.nn_api``."""
from __future__ import annotations

from shendu import backend, ops
from shendu import nn_api
from shendu import numpy_api as np_api
from shendu.functional import *  # noqa: F401,F403
from shendu.missing import missing_names as _missing_names
from shendu.nn_api import (elu, log_sigmoid, relu, relu6, selu, sigmoid, silu, softplus, softsign,  # noqa: F401
                           swish, tanh)
from shendu.numpy_api.creation import convert_to_tensor as _t
from shendu.random import dropout as _dropout
from shendu.tensor import Tensor
from shendu.tf_api.math import l2_normalize, log_softmax, softmax, top_k, zero_fraction  # noqa: F401
from shendu.tf_api.symbolic import accept_symbolic_all as _accept_symbolic_all


def leaky_relu(features, alpha=0.2, name=None) -> Tensor:
    return nn_api.leaky_relu(features, alpha)


def gelu(features, approximate=False, name=None) -> Tensor:
    """x Φ(x); TensorFlow's default is the exact (erf) form."""
    return nn_api.gelu(features, approximate)


def _labels_logits(fn, labels, logits):
    if labels is None or logits is None:
        raise ValueError(f"tf.nn.{fn} needs labels= and logits= (by name, as TensorFlow requires).")
    return labels, logits


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None) -> Tensor:
    """Elementwise max(z, 0) - z t + log(1 + e^-|z|): binary cross-entropy of sigmoid(z), stable."""
    labels, logits = _labels_logits("sigmoid_cross_entropy_with_logits", labels, logits)
    return nn_api.binary_crossentropy(labels, logits, from_logits=True)


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None) -> Tensor:
    """Per sample -Σ t log softmax(z) over ``axis`` (t a distribution)."""
    return nn_api.categorical_crossentropy(labels, logits, from_logits=True, axis=axis)


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None) -> Tensor:
    """Per sample -log softmax(z)[label] (integer labels), fused with its gradient."""
    labels, logits = _labels_logits("sparse_softmax_cross_entropy_with_logits", labels, logits)
    z = _t(logits)
    if z.dtype.kind != "f":
        z = ops.cast(z, backend.floatx)
    return ops.softmax_cross_entropy(z, _t(labels).data.astype("int64"), sparse=True)


def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None) -> Tensor:
    """(1 - t) z + (1 + (pos_weight - 1) t) log(1 + e^-z), stable for any z."""
    z = _t(logits)
    t = ops.cast(_t(labels), z.dtype)
    weight = ops.add(1.0, ops.mul(t, float(pos_weight) - 1))
    log_term = ops.add(np_api.log1p(ops.exp(ops.neg(ops.abs(z)))), ops.relu(ops.neg(z)))
    return ops.add(ops.mul(ops.sub(1.0, t), z), ops.mul(weight, log_term))


def moments(x, axes, shift=None, keepdims=False, name=None) -> tuple:
    return nn_api.moments(x, axes, keepdims)


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None) -> Tensor:
    """(x - mean) / √(variance + ε) · scale + offset (statistics broadcast against x)."""
    x = _t(x)
    y = ops.div(ops.sub(x, mean), ops.sqrt(ops.add(_t(variance), float(variance_epsilon))))
    if scale is not None:
        y = ops.mul(y, scale)
    return y if offset is None else ops.add(y, offset)


def dropout(x, rate, noise_shape=None, seed=None, name=None) -> Tensor:
    """Zero each entry with probability ``rate`` and scale the rest by 1 / (1 - rate)."""
    return _dropout(x, rate, noise_shape, seed)


def bias_add(value, bias, data_format=None, name=None) -> Tensor:
    v = _t(value)
    if data_format in ("NCHW", "NCW", "NCDHW"):
        return ops.add(v, ops.reshape(_t(bias), (-1,) + (1,) * (v.ndim - 2)))
    return ops.add(v, bias)


def embedding_lookup(params, ids, max_norm=None, name=None) -> Tensor:
    if max_norm is not None:
        raise ValueError("embedding_lookup: shendu does not clip by max_norm; use max_norm=None.")
    return ops.embedding(ids, params)


def _data_format(fmt):
    if fmt in (None, "NHWC", "NWC", "channels_last"):
        return "channels_last"
    if fmt in ("NCHW", "NCW", "channels_first"):
        return "channels_first"
    raise ValueError(f"data_format {fmt!r}: use 'NHWC'/'NWC' or 'NCHW'/'NCW'.")


def _spatial(v, x):
    """TensorFlow's strides/ksize may list the batch and channel axes too: keep the spatial ones."""
    if isinstance(v, (list, tuple)) and len(v) == x.ndim:
        return tuple(v[1:-1])
    return v


def convolution(input, filters, strides=None, padding="VALID", data_format=None, dilations=None, name=None):
    x = _t(input)
    return nn_api.conv(x, filters, _spatial(strides or 1, x), padding, _data_format(data_format),
                       _spatial(dilations or 1, x))


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, name=None) -> Tensor:
    return convolution(input, filters, strides, padding, data_format, dilations)


def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, name=None) -> Tensor:
    return convolution(input, filters, stride, padding, data_format, dilations)


def conv2d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NHWC", dilations=None,
                     name=None) -> Tensor:
    x = _t(input)
    y = nn_api.conv_transpose(x, filters, _spatial(strides, x), padding, None, _data_format(data_format),
                              _spatial(dilations or 1, x))
    want = tuple(int(n) for n in (output_shape.numpy() if isinstance(output_shape, Tensor) else output_shape))
    if tuple(y.shape) != want:
        raise ValueError(f"conv2d_transpose: these strides and padding give shape {tuple(y.shape)}, not the "
                         f"requested output_shape {want}.")
    return y


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None) -> Tensor:
    x = _t(input)
    return nn_api.max_pool(x, _spatial(ksize, x), _spatial(strides, x), padding, _data_format(data_format))


def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None) -> Tensor:
    x = _t(input)
    return nn_api.average_pool(x, _spatial(ksize, x), _spatial(strides, x), padding, _data_format(data_format))


max_pool1d = max_pool = max_pool2d
avg_pool1d = avg_pool = avg_pool2d


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None) -> Tensor:
    """Σ loss (· sample_weight) / global batch size (the batch's own size by default)."""
    loss = _t(per_example_loss)
    if sample_weight is not None:
        loss = ops.mul(loss, sample_weight)
    n = loss.shape[0] if global_batch_size is None else int(global_batch_size)
    return ops.div(ops.sum(loss), float(n))



def depthwise_conv2d(input, filter, strides, padding, data_format=None, dilations=None, name=None) -> Tensor:
    x = _t(input)
    return nn_api.depthwise_conv(x, filter, _spatial(strides, x), padding, _data_format(data_format),
                                 _spatial(dilations or 1, x))


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding, data_format=None, dilations=None,
                     name=None) -> Tensor:
    x = _t(input)
    return nn_api.separable_conv(x, depthwise_filter, pointwise_filter, _spatial(strides, x), padding,
                                 _data_format(data_format), _spatial(dilations or 1, x))


def conv1d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NWC", dilations=None,
                     name=None) -> Tensor:
    return conv2d_transpose(input, filters, output_shape, strides, padding, data_format, dilations)


conv_transpose = conv2d_transpose


def pool(input, window_shape, pooling_type, strides=None, padding="VALID", data_format=None, dilations=None,
         name=None) -> Tensor:
    """Max or average pooling ('MAX' / 'AVG') over each window."""
    if dilations not in (None, 1) and any(d != 1 for d in (dilations if isinstance(dilations, (list, tuple))
                                                           else [dilations])):
        raise ValueError("pool: shendu pools without dilation; use dilations=None.")
    fn = {"MAX": nn_api.max_pool, "AVG": nn_api.average_pool}.get(pooling_type)
    if fn is None:
        raise ValueError(f"pool: pooling_type must be 'MAX' or 'AVG', got {pooling_type!r}.")
    return fn(input, tuple(window_shape), strides, padding, _data_format(data_format))


def crelu(features, axis=-1, name=None) -> Tensor:
    """[relu(x), relu(-x)] joined along ``axis``."""
    x = _t(features)
    return ops.concatenate([ops.relu(x), ops.relu(ops.neg(x))], axis)


def depth_to_space(input, block_size, data_format="NHWC", name=None) -> Tensor:
    return nn_api.depth_to_space(input, block_size, _data_format(data_format))


def space_to_depth(input, block_size, data_format="NHWC", name=None) -> Tensor:
    return nn_api.space_to_depth(input, block_size, _data_format(data_format))


def in_top_k(targets, predictions, k, name=None) -> Tensor:
    return np_api.in_top_k(targets, predictions, k)


def l2_loss(t, name=None) -> Tensor:
    """Σ t² / 2."""
    x = _t(t)
    return ops.mul(ops.sum(ops.mul(x, x)), 0.5)


def log_poisson_loss(targets, log_input, compute_full_loss=False, name=None) -> Tensor:
    """e^c - t c (plus Stirling's t log t - t + ½ log(2πt) for t > 1 when compute_full_loss)."""
    c = _t(log_input)
    t = ops.cast(_t(targets), c.dtype)
    loss = ops.sub(ops.exp(c), ops.mul(t, c))
    if compute_full_loss:
        safe = np_api.where(t.data > 1, t, 1.0)
        two_pi_t = ops.mul(safe, 6.283185307179586)
        stirling = ops.add(ops.sub(ops.mul(safe, ops.log(safe)), safe), ops.mul(ops.log(two_pi_t), 0.5))
        loss = ops.add(loss, np_api.where(t.data > 1, stirling, 0.0))
    return loss


def normalize_moments(counts, mean_ss, variance_ss, shift, name=None) -> tuple:
    """(mean, variance) from the sufficient statistics Σx and Σx² over ``counts`` values."""
    mean = ops.div(mean_ss, counts)
    if shift is not None:
        mean = ops.add(mean, shift)
    shifted = ops.div(mean_ss, counts)
    return mean, ops.sub(ops.div(variance_ss, counts), ops.mul(shifted, shifted))


def sufficient_statistics(x, axes, shift=None, keepdims=False, name=None) -> tuple:
    """(count, Σ(x - shift), Σ(x - shift)², shift) over ``axes``."""
    x = _t(x)
    axes = tuple(a % x.ndim for a in ((axes,) if isinstance(axes, int) else axes))
    count = 1
    for a in axes:
        count *= x.shape[a]
    y = x if shift is None else ops.sub(x, shift)
    return (Tensor._wrap(backend.xp.asarray(count, x.dtype), False), ops.sum(y, axes, keepdims),
            ops.sum(ops.mul(y, y), axes, keepdims), shift)


def weighted_moments(x, axes, frequency_weights, keepdims=False, name=None) -> tuple:
    """The mean and variance of x over ``axes``, each value counted with its weight."""
    x = _t(x)
    w = ops.cast(_t(frequency_weights), x.dtype)
    axes = tuple((axes,) if isinstance(axes, int) else axes)
    ones = Tensor._wrap(backend.xp.ones(x.shape, x.dtype), False)
    total = ops.sum(ops.mul(w, ones), axes, True)          # Σ w over the axes, w broadcast to x's shape
    mean = ops.div(ops.sum(ops.mul(w, x), axes, True), total)
    var = ops.div(ops.sum(ops.mul(w, ops.square(ops.sub(x, mean))), axes, True), total)
    if not keepdims:
        mean, var = np_api.squeeze(mean, axes), np_api.squeeze(var, axes)
    return mean, var


def scale_regularization_loss(regularization_loss) -> Tensor:
    """The loss itself: shendu trains on one device, so there are no replicas to divide by."""
    return _t(regularization_loss)


_UNSUPPORTED = {
    "ctc_loss": "shendu has no CTC loss; it is not implemented.",
    "ctc_greedy_decoder": "shendu has no CTC decoder; it is not implemented.",
    "conv3d": "shendu.ops has no 3-D convolution here; use keras.layers.Conv3D where available.",
    **{name: "shendu has no 3-D pooling or convolution ops; reshape to 2-D or use keras layers where available."
       for name in ("avg_pool3d", "max_pool3d", "conv3d_transpose")},
    **{name: "shendu has no candidate samplers; use the full softmax (sparse_softmax_cross_entropy_with_logits)."
       for name in ("all_candidate_sampler", "fixed_unigram_candidate_sampler", "learned_unigram_candidate_sampler",
                    "log_uniform_candidate_sampler", "uniform_candidate_sampler", "compute_accidental_hits")},
    **{name: "use tf.nn.convolution with dilations= (atrous means dilated)." for name in
       ("atrous_conv2d", "atrous_conv2d_transpose")},
    **{name: "shendu has no sparse tensors; use tf.nn.embedding_lookup on dense ids." for name in
       ("embedding_lookup_sparse", "safe_embedding_lookup_sparse")},
    **{name: "gradients come from shendu's autograd; call tape.gradient instead." for name in
       ("depthwise_conv2d_backprop_filter", "depthwise_conv2d_backprop_input")},
    "batch_norm_with_global_normalization": "use tf.nn.batch_normalization.",
    "collapse_repeated": "shendu has no CTC helpers; it is not implemented.",
    "ctc_beam_search_decoder": "shendu has no CTC decoder; it is not implemented.",
    "ctc_unique_labels": "shendu has no CTC helpers; it is not implemented.",
    "dilation2d": "shendu has no morphological ops; it is not implemented.",
    "erosion2d": "shendu has no morphological ops; it is not implemented.",
    "experimental": "use the stable tf.nn names.",
    "fractional_avg_pool": "use tf.nn.avg_pool2d with integer strides.",
    "isotonic_regression": "use sklearn.isotonic.IsotonicRegression on tensor.numpy() (no gradient).",
    "max_pool_with_argmax": "use tf.nn.max_pool2d; shendu's pooling gradient routes to the maxima itself.",
    "space_to_batch": "use tf.reshape and tf.transpose.",
    "with_space_to_batch": "use tf.nn.convolution with dilations=.",
    "local_response_normalization": "shendu has no LRN; use keras.layers.BatchNormalization or "
                                    "LayerNormalization.",
    "lrn": "shendu has no LRN; use keras.layers.BatchNormalization or LayerNormalization.",
    "nce_loss": "shendu has no sampled losses; use sparse_softmax_cross_entropy_with_logits over all classes.",
    "sampled_softmax_loss": "shendu has no sampled losses; use sparse_softmax_cross_entropy_with_logits.",
    "fractional_max_pool": "use tf.nn.max_pool2d with integer strides.",
}
__getattr__ = _missing_names("tf.nn", _UNSUPPORTED, globals())
_accept_symbolic_all(globals(), [name for name in list(globals()) if not name.startswith("_")])
