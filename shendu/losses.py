"""Loss functions with tf.keras's names and semantics.

Each function takes ``(y_true, y_pred)`` and returns one loss per sample (the mean or sum over the
last axis), as ``tf.keras.losses.<name>`` does; reducing over the batch is the caller's job
(the ``Loss`` classes of the model API do it, with sample weights).
"""
from __future__ import annotations

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


def _same_shape(y_true, y_pred, name):
    if y_true.shape != y_pred.shape:
        try:
            backend.xp.broadcast_shapes(y_true.shape, y_pred.shape)
        except ValueError:
            raise ValueError(f"{name}: y_true of shape {tuple(y_true.shape)} does not match y_pred of shape "
                             f"{tuple(y_pred.shape)}.") from None


def mean_squared_error(y_true, y_pred) -> Tensor:
    """L = mean_k (y_pred_k - y_true_k)²"""
    y_true, y_pred = _prepare(y_true, y_pred, "mean_squared_error")
    _same_shape(y_true, y_pred, "mean_squared_error")
    d = y_pred - Tensor._wrap(y_true.astype(y_pred.dtype), False)
    return ops.mean(d * d, axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """L = mean_k |y_pred_k - y_true_k|"""
    y_true, y_pred = _prepare(y_true, y_pred, "mean_absolute_error")
    _same_shape(y_true, y_pred, "mean_absolute_error")
    return ops.mean(ops.abs(y_pred - Tensor._wrap(y_true.astype(y_pred.dtype), False)), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> Tensor:
    """L = -mean_k [t log p + (1 - t) log(1 - p)], p = sigmoid(logits) or the clipped probability.

    With logits the stable form max(z, 0) - z t + log(1 + e^-|z|) is used, so |z| = 1e4 is fine.
    """
    y_true, y_pred = _prepare(y_true, y_pred, "binary_crossentropy")
    _same_shape(y_true, y_pred, "binary_crossentropy")
    t = y_true.astype(y_pred.dtype)
    if label_smoothing:
        t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    t = Tensor._wrap(t, False)
    if from_logits:
        z = y_pred
        per_element = ops.relu(z) - z * t + ops.softplus(-ops.abs(z))
    else:
        p = ops.clip(y_pred, EPSILON, 1 - EPSILON)
        per_element = -(t * ops.log(p) + (1 - t) * ops.log(1 - p))
    return ops.mean(per_element, axis=axis)


def _class_axis_last(y_pred, axis):
    if axis in (-1, y_pred.ndim - 1):
        return y_pred
    order = [i for i in range(y_pred.ndim) if i != axis % y_pred.ndim] + [axis % y_pred.ndim]
    return ops.transpose(y_pred, order)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> Tensor:
    """L = -Σ_k t_k log p_k with one-hot (or smoothed) targets t."""
    y_true, y_pred = _prepare(y_true, y_pred, "categorical_crossentropy")
    if y_true.shape != y_pred.shape:
        hint = ""
        if y_true.ndim == y_pred.ndim - 1 or (y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1):
            hint = (" It looks like y_true holds integer class labels: use "
                    "sparse_categorical_crossentropy for labels, or one-hot encode them with "
                    "to_categorical(y, num_classes).")
        raise ValueError(f"categorical_crossentropy expects one-hot targets of the same shape as y_pred "
                         f"{tuple(y_pred.shape)}, got y_true of shape {tuple(y_true.shape)}.{hint}")
    y_pred = _class_axis_last(y_pred, axis)
    if axis not in (-1, y_true.ndim - 1):
        y_true = backend.xp.moveaxis(y_true, axis, -1)
    t = y_true.astype(y_pred.dtype)
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, t)
    p = ops.clip(y_pred / ops.sum(y_pred, axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
    return -ops.sum(Tensor._wrap(t, False) * ops.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None,
                                    axis: int = -1) -> Tensor:
    """L = -log p[label]: categorical cross-entropy with integer class labels instead of one-hot rows."""
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
        loss = ops.softmax_cross_entropy(y_pred, labels, sparse=True)
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
