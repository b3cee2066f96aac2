"""Loss functions with tf.keras's names and semantics.

Each function takes ``(y_true, y_pred)`` and returns one loss per sample (the mean or sum over the
last axis), as ``tf.keras.losses.<name>`` does; reducing over the batch is the caller's job
(the ``Loss`` classes of the model API do it, with sample weights).
"""
from __future__ import annotations

import warnings

from shendu import backend, ops
from shendu.tensor import Tensor, as_tensor

EPSILON = 1e-7   # Keras's backend.epsilon(): probabilities are clipped to [eps, 1 - eps] before log


def _prepare(y_true, y_pred, name):
    y_pred = as_tensor(y_pred)
    y_true = y_true.data if isinstance(y_true, Tensor) else backend.asarray(y_true)
    if y_true.ndim and y_pred.ndim and y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"{name}: y_true and y_pred have different batch sizes: y_true {tuple(y_true.shape)}, "
                         f"y_pred {tuple(y_pred.shape)}. Pass one label per prediction.")
    return y_true, y_pred


def _logits_of(y_pred, activation, name):
    """tf.keras 2's forgiveness: from_logits=True on the output of a sigmoid/softmax means its input."""
    logits = getattr(y_pred, "_keras_logits", None)
    if logits is None:
        return y_pred
    warnings.warn(f"{name} received from_logits=True, but y_pred was produced by a {activation} activation, so it "
                  f"holds probabilities, not logits. As tf.keras 2 does, the loss uses the {activation}'s input (the "
                  f"logits) instead. Remove the activation from the last layer, or pass from_logits=False.",
                  stacklevel=4)
    return logits


def _softmax_logits(y_pred, axis):
    """The logits of a softmax output over the class axis ``axis``, or None. A cross-entropy of softmax
    probabilities is computed from the softmax's input with the fused log-softmax (tf.keras's rule in ``fit``),
    one op instead of six, with the log-probabilities clipped to [log eps, log(1 - eps)] so that values and
    gradients stay those of Keras's clipped probabilities."""
    logits = getattr(y_pred, "_keras_logits", None)
    if logits is None or axis not in (-1, y_pred.ndim - 1):
        return None
    return logits


def _same_shape(y_true, y_pred, name):
    """Match ranks as Keras does (squeeze_or_expand_to_same_rank), then require broadcastable shapes:
    labels (batch,) against predictions (batch, 1) pair up row by row instead of broadcasting to a
    (batch, batch) matrix, which would give a plausible-looking but wrong loss."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = ops.expand_dims(y_pred, -1)
        else:
            y_true = y_true.reshape(y_true.shape[:-1])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true.reshape(y_true.shape + (1,))
        else:
            y_pred = ops.squeeze(y_pred, -1)
    if y_true.shape != y_pred.shape:
        try:
            backend.xp.broadcast_shapes(y_true.shape, y_pred.shape)
        except ValueError:
            raise ValueError(f"{name}: y_true of shape {tuple(y_true.shape)} does not match y_pred of shape "
                             f"{tuple(y_pred.shape)}.") from None
    return y_true, y_pred


def mean_squared_error(y_true, y_pred) -> Tensor:
    """L = mean_k (y_pred_k - y_true_k)²"""
    y_true, y_pred = _prepare(y_true, y_pred, "mean_squared_error")
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_squared_error")
    d = y_pred - Tensor._wrap(y_true.astype(y_pred.dtype), False)
    return ops.mean(d * d, axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """L = mean_k |y_pred_k - y_true_k|"""
    y_true, y_pred = _prepare(y_true, y_pred, "mean_absolute_error")
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_absolute_error")
    return ops.mean(ops.abs(y_pred - Tensor._wrap(y_true.astype(y_pred.dtype), False)), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> Tensor:
    """L = -mean_k [t log p + (1 - t) log(1 - p)], p = sigmoid(logits) or the clipped probability.

    With logits the stable form softplus(z) - z t = max(z, 0) - z t + log(1 + e^-|z|) is used, so
    |z| = 1e4 is fine; softplus's gradient sigmoid(z) stays right at z = 0, where relu and abs have kinks.
    """
    if from_logits:
        y_pred = _logits_of(y_pred, "sigmoid", "binary_crossentropy")
    y_true, y_pred = _prepare(y_true, y_pred, "binary_crossentropy")
    y_true, y_pred = _same_shape(y_true, y_pred, "binary_crossentropy")
    if y_true.ndim == y_pred.ndim and y_true.shape != y_pred.shape:
        # Keras refuses to broadcast (batch, 1) labels against (batch, k) probabilities: one label per output
        raise ValueError(f"binary_crossentropy: y_true and y_pred must have the same shape, got y_true "
                         f"{tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}.")
    t = y_true.astype(y_pred.dtype)
    if label_smoothing:
        t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    t = Tensor._wrap(t, False)
    if from_logits:
        z = y_pred
        per_element = ops.softplus(z) - z * t
    else:
        p = ops.clip(y_pred, EPSILON, 1 - EPSILON)
        per_element = -(t * ops.log(p) + (1 - t) * ops.log(1 - p))
    return ops.mean(per_element, axis=axis)


def warn_single_class(y_pred, axis, name):
    """A categorical loss over one class is always 0: warn as Keras does (SyntaxWarning)."""
    if y_pred.ndim and y_pred.shape[axis] == 1:
        warnings.warn(f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
                      f"Received: y_pred.shape={tuple(y_pred.shape)}. Consider using 'binary_crossentropy' if you "
                      "only have 2 classes.", SyntaxWarning, stacklevel=3)


def _class_axis_last(y_pred, axis):
    if axis in (-1, y_pred.ndim - 1):
        return y_pred
    order = [i for i in range(y_pred.ndim) if i != axis % y_pred.ndim] + [axis % y_pred.ndim]
    return ops.transpose(y_pred, order)


def class_axis_last_targets(y_true, y_pred, axis, label_smoothing):
    """y_pred and the one-hot targets with the class axis last, the targets smoothed: t (1 - ε) + ε / K."""
    y_pred = _class_axis_last(y_pred, axis)
    if axis not in (-1, y_true.ndim - 1):
        y_true = backend.xp.moveaxis(y_true, axis, -1)
    t = y_true.astype(y_pred.dtype)
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    return y_pred, t


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> Tensor:
    """L = -Σ_k t_k log p_k with one-hot (or smoothed) targets t."""
    clip = None
    if from_logits:
        y_pred = _logits_of(y_pred, "softmax", "categorical_crossentropy")
    elif _softmax_logits(y_pred, axis) is not None:
        y_pred, from_logits, clip = _softmax_logits(y_pred, axis), True, EPSILON
    y_true, y_pred = _prepare(y_true, y_pred, "categorical_crossentropy")
    if y_true.shape != y_pred.shape:
        hint = ""
        if y_true.ndim == y_pred.ndim - 1 or (y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1):
            hint = (" It looks like y_true holds integer class labels: use "
                    "sparse_categorical_crossentropy for labels, or one-hot encode them with "
                    "to_categorical(y, num_classes).")
        raise ValueError(f"categorical_crossentropy: y_true and y_pred must have the same shape (one-hot targets "
                         f"for y_pred {tuple(y_pred.shape)}), got y_true of shape {tuple(y_true.shape)}.{hint}")
    warn_single_class(y_pred, axis, "categorical_crossentropy")
    y_pred, t = class_axis_last_targets(y_true, y_pred, axis, label_smoothing)
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, t, clip=clip)
    p = ops.clip(y_pred / ops.sum(y_pred, axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
    return -ops.sum(Tensor._wrap(t, False) * ops.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None,
                                    axis: int = -1) -> Tensor:
    """L = -log p[label]: categorical cross-entropy with integer class labels instead of one-hot rows."""
    clip = None
    if from_logits:
        y_pred = _logits_of(y_pred, "softmax", "sparse_categorical_crossentropy")
    elif _softmax_logits(y_pred, axis) is not None:
        y_pred, from_logits, clip = _softmax_logits(y_pred, axis), True, EPSILON
    y_true, y_pred = _prepare(y_true, y_pred, "sparse_categorical_crossentropy")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    y_pred = _class_axis_last(y_pred, axis)
    if y_true.shape != y_pred.shape[:-1]:
        hint = (" y_true looks one-hot encoded: use categorical_crossentropy for one-hot targets."
                if y_true.shape == y_pred.shape else "")
        raise ValueError(f"sparse_categorical_crossentropy expects integer labels of shape "
                         f"{tuple(y_pred.shape[:-1])} for y_pred of shape {tuple(y_pred.shape)}, got y_true of "
                         f"shape {tuple(y_true.shape)}.{hint}")
    xp = backend.xp
    if y_true.dtype.kind in "USO":
        sample, kind = y_true.reshape(-1)[:3].tolist(), "objects" if y_true.dtype.kind == "O" else "strings"
        raise ValueError(f"sparse_categorical_crossentropy expects integer class ids 0..{y_pred.shape[-1] - 1} as "
                         f"labels, got {kind} such as {sample}. Map "
                         "each label to its id first, e.g. classes, y = np.unique(y, return_inverse=True).")
    if y_true.dtype.kind == "f":
        if not (y_true == xp.round(y_true)).all():
            raise ValueError("sparse_categorical_crossentropy expects integer class labels, got non-integral "
                             "values; for probability targets use categorical_crossentropy.")
    labels = y_true.astype("int64")
    keep = None
    if ignore_class is not None:
        keep = labels != ignore_class
        labels = xp.where(keep, labels, 0)
    n_classes = y_pred.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)].reshape(-1)[0]
        raise ValueError(f"sparse_categorical_crossentropy: label {int(bad)} is out of range for y_pred with "
                         f"{n_classes} classes (valid labels are 0..{n_classes - 1}). Check the number of "
                         f"units in the last layer.")
    if from_logits:
        loss = ops.softmax_cross_entropy(y_pred, labels, sparse=True, clip=clip)
    else:
        p = ops.clip(y_pred / ops.sum(y_pred, axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
        picked = ops.getitem(p, tuple(xp.indices(labels.shape)) + (labels,))
        loss = -ops.log(picked)
    if keep is not None:
        loss = loss * Tensor._wrap(keep.astype(loss.dtype), False)
    return loss


# tf.keras's short aliases
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


# ====================================================================================================
# More per-sample functions (same contract as above: one value per sample, the mean over the last axis)
# ====================================================================================================

def _squeeze_or_expand(x1, x2):
    """Keras's squeeze_or_expand_to_same_rank for arrays or Tensors: when the ranks differ by one
    and the longer one ends in a size-1 axis, squeeze it (or expand a rank-1 partner instead)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            x2 = x2.reshape(tuple(x2.shape) + (1,))
        else:
            x1 = x1.reshape(tuple(x1.shape[:-1]))
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1:
            x1 = x1.reshape(tuple(x1.shape) + (1,))
        else:
            x2 = x2.reshape(tuple(x2.shape[:-1]))
    return x1, x2


def align_ranks(y_true, y_pred):
    """Labels and predictions lined up sample by sample, as Keras does before every loss:
    labels (batch,) against predictions (batch, 1) become (batch, 1) instead of broadcasting to
    (batch, batch). Returns y_true as a backend array and y_pred as a Tensor.
    """
    y_pred = as_tensor(y_pred)
    y_true = y_true.data if isinstance(y_true, Tensor) else backend.asarray(y_true)
    return _squeeze_or_expand(y_true, y_pred)


def _targets(y_true, y_pred, name):
    """y_true as a constant Tensor of y_pred's dtype, after the rank alignment and the shape check."""
    y_true, y_pred = align_ranks(y_true, y_pred)
    y_true, y_pred = _prepare(y_true, y_pred, name)
    _same_shape(y_true, y_pred, name)
    return Tensor._wrap(y_true.astype(y_pred.dtype), False), y_pred


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """L = mean_k h(e_k), e = y_pred - y_true;  h(e) = e²/2 for |e| <= delta, delta (|e| - delta/2) beyond.

    Quadratic near zero like MSE, linear in the tails like MAE, so outliers pull less.
    """
    t, y_pred = _targets(y_true, y_pred, "huber")
    e = y_pred - t
    a = ops.abs(e)
    return ops.mean(ops.where(a.data <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred) -> Tensor:
    """L = 100 · mean_k |(y_true_k - y_pred_k) / max(|y_true_k|, eps)|"""
    t, y_pred = _targets(y_true, y_pred, "mean_absolute_percentage_error")
    scale = backend.xp.maximum(backend.xp.abs(t.data), EPSILON)   # no division by a zero target
    return 100.0 * ops.mean(ops.abs((t - y_pred) / Tensor._wrap(scale, False)), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred) -> Tensor:
    """L = mean_k (log(1 + max(y_pred_k, eps)) - log(1 + max(y_true_k, eps)))²"""
    t, y_pred = _targets(y_true, y_pred, "mean_squared_logarithmic_error")
    log_t = Tensor._wrap(backend.xp.log(backend.xp.maximum(t.data, EPSILON) + 1.0), False)
    d = ops.log(ops.maximum(y_pred, EPSILON) + 1.0) - log_t
    return ops.mean(d * d, axis=-1)


def kl_divergence(y_true, y_pred) -> Tensor:
    """L = Σ_k t_k log(t_k / p_k), with t and p clipped to [eps, 1]."""
    t, y_pred = _targets(y_true, y_pred, "kl_divergence")
    t = Tensor._wrap(backend.xp.clip(t.data, EPSILON, 1.0).astype(t.dtype), False)
    return ops.sum(t * ops.log(t / ops.clip(y_pred, EPSILON, 1.0)), axis=-1)


def poisson(y_true, y_pred) -> Tensor:
    """L = mean_k (y_pred_k - y_true_k log(y_pred_k + eps))"""
    t, y_pred = _targets(y_true, y_pred, "poisson")
    return ops.mean(y_pred - t * ops.log(y_pred + EPSILON), axis=-1)


def _signed_labels(t):
    """Hinge losses want labels in {-1, 1}; labels given as {0, 1} are mapped there, others kept."""
    xp = backend.xp
    if bool(xp.all((t.data == 0) | (t.data == 1))):
        return Tensor._wrap(2.0 * t.data - 1.0, False)
    return t


def hinge(y_true, y_pred) -> Tensor:
    """L = mean_k max(1 - t_k y_pred_k, 0), t in {-1, 1} ({0, 1} labels are converted)."""
    t, y_pred = _targets(y_true, y_pred, "hinge")
    return ops.mean(ops.maximum(1.0 - _signed_labels(t) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred) -> Tensor:
    """L = mean_k max(1 - t_k y_pred_k, 0)², t in {-1, 1} ({0, 1} labels are converted)."""
    t, y_pred = _targets(y_true, y_pred, "squared_hinge")
    m = ops.maximum(1.0 - _signed_labels(t) * y_pred, 0.0)
    return ops.mean(m * m, axis=-1)


def categorical_hinge(y_true, y_pred) -> Tensor:
    """L = max(neg - pos + 1, 0), pos = Σ_k t_k y_pred_k, neg = max_k (1 - t_k) y_pred_k (one-hot t)."""
    t, y_pred = _targets(y_true, y_pred, "categorical_hinge")
    pos = ops.sum(t * y_pred, axis=-1)
    neg = ops.max((1.0 - t) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


def log_cosh(y_true, y_pred) -> Tensor:
    """L = mean_k log(cosh(e_k)), e = y_pred - y_true, computed as e + softplus(-2e) - log 2.

    The rewrite cannot overflow: cosh(100) is 1e43, but softplus(-200) is just tiny.
    """
    t, y_pred = _targets(y_true, y_pred, "log_cosh")
    e = y_pred - t
    return ops.mean(e + ops.softplus(-2.0 * e) - 0.6931471805599453, axis=-1)
