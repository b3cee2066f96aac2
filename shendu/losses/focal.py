"""Cross-entropies that re-weight the samples: focal losses (down-weight the easy, well-classified
examples, Lin et al. 2017, https://arxiv.org/abs/1708.02002) and the generalized cross-entropy
(robust to noisy labels, Zhang & Sabuncu 2018, https://arxiv.org/abs/1805.07836)."""
from __future__ import annotations

from shendu import backend, ops
from shendu.losses.classes import LossFunctionWrapper
from shendu.losses.functions import (EPSILON, class_axis_last_targets, _prepare, _same_shape, align_ranks,
                                     warn_single_class)
from shendu.tensor import Tensor

_DEFAULT = "sum_over_batch_size"


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1) -> Tensor:
    """L = mean_k w_k (1 - p_t)^gamma · bce(t, p),  p_t = t p + (1 - t)(1 - p);
    w = alpha t + (1 - alpha)(1 - t) with ``apply_class_balancing``, else 1. gamma = 0 gives plain BCE."""
    y_true, y_pred = align_ranks(y_true, y_pred)
    y_true, y_pred = _prepare(y_true, y_pred, "binary_focal_crossentropy")
    y_true, y_pred = _same_shape(y_true, y_pred, "binary_focal_crossentropy")
    t = y_true.astype(y_pred.dtype)
    if label_smoothing:
        t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    t = Tensor._wrap(t, False)
    p = ops.sigmoid(y_pred) if from_logits else y_pred
    pc = ops.clip(p, EPSILON, 1 - EPSILON)          # the log sees a clipped probability, as in Keras
    bce = -(t * ops.log(pc) + (1 - t) * ops.log(1 - pc))
    p_t = t * p + (1 - t) * (1 - p)
    loss = ops.pow(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        loss = (t * alpha + (1 - t) * (1 - alpha)) * loss
    return ops.mean(loss, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha: float = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0,
                                   axis: int = -1) -> Tensor:
    """L = -Σ_k alpha (1 - p_k)^gamma t_k log p_k, p = y_pred normalised to sum to 1 (softmax of logits)."""
    y_true, y_pred = _prepare(y_true, y_pred, "categorical_focal_crossentropy")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_focal_crossentropy expects one-hot targets of the same shape as y_pred "
                         f"{tuple(y_pred.shape)}, got y_true of shape {tuple(y_true.shape)}.")
    warn_single_class(y_pred, axis, "categorical_focal_crossentropy")
    y_pred, t = class_axis_last_targets(y_true, y_pred, axis, label_smoothing)
    t = Tensor._wrap(t, False)
    p = ops.softmax(y_pred, axis=-1) if from_logits else y_pred
    p = ops.clip(p / ops.sum(p, axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
    return ops.sum(alpha * ops.pow(1.0 - p, gamma) * (-t * ops.log(p)), axis=-1)


def categorical_generalized_cross_entropy(y_true, y_pred, q: float) -> Tensor:
    """L = (1 - p_y^q) / q, p_y the predicted probability of the labelled class; q → 0 is cross-entropy,
    q = 1 mean absolute error. y_true holds integer labels (batch,) or (batch, 1)."""
    y_true, y_pred = _prepare(y_true, y_pred, "categorical_generalized_cross_entropy")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    one_hot = backend.xp.eye(y_pred.shape[-1], dtype=y_pred.dtype)[y_true.astype("int64")]
    p = ops.sum(y_pred * Tensor._wrap(one_hot, False), axis=-1)
    return (1.0 - ops.pow(p, q)) / q


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Focal binary cross-entropy: (1 - p_t)^gamma scales each element's BCE (see the function)."""
    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, reduction=_DEFAULT,
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Focal categorical cross-entropy on one-hot targets: alpha (1 - p)^gamma scales each class term."""
    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1, reduction=_DEFAULT,
                 name="categorical_focal_crossentropy", dtype=None):
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.alpha, self.gamma = alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def call(self, y_true, y_pred) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)   # one-hot targets: no rank alignment


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Generalized cross-entropy (1 - p_y^q) / q on integer labels; q must lie in (0, 1)."""
    def __init__(self, q: float = 0.5, reduction=_DEFAULT, name="categorical_generalized_cross_entropy",
                 dtype=None):
        if not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: q must be in the interval (0, 1), got q={q}.")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, q=q)
        self.q = q

    def call(self, y_true, y_pred) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)


__all__ = ["binary_focal_crossentropy", "categorical_focal_crossentropy", "categorical_generalized_cross_entropy",
           "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy"]
