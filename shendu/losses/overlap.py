"""Losses that compare directions or overlaps instead of values: cosine similarity, the Dice and
Tversky overlap losses of segmentation, and the Circle loss of metric learning
(Sun et al. 2020, https://arxiv.org/abs/2002.10857)."""
from __future__ import annotations

from shendu import backend, ops
from shendu.losses.classes import LossFunctionWrapper
from shendu.losses.functions import EPSILON, _targets
from shendu.tensor import Tensor, as_tensor

_DEFAULT = "sum_over_batch_size"


def l2_normalize(x, axis=-1) -> Tensor:
    """x / max(||x||, eps), written x · rsqrt(max(Σx², eps²)) so a zero vector keeps a finite gradient."""
    return x * ops.pow(ops.maximum(ops.sum(x * x, axis=axis, keepdims=True), EPSILON * EPSILON), -0.5)


def cosine_similarity(y_true, y_pred, axis: int = -1) -> Tensor:
    """L = -Σ_k t̂_k p̂_k, t̂ and p̂ L2-normalised along ``axis``: -1 for the same direction, 0 orthogonal."""
    t, y_pred = _targets(y_true, y_pred, "cosine_similarity")
    return -ops.sum(l2_normalize(t, axis) * l2_normalize(y_pred, axis), axis=axis)


def dice(y_true, y_pred, axis=None) -> Tensor:
    """L = 1 - 2 Σ t p / (Σ t + Σ p + eps), summed over ``axis`` (None: every axis, one value)."""
    t, y_pred = _targets(y_true, y_pred, "dice")
    intersection = ops.sum(t * y_pred, axis=axis)
    return 1.0 - 2.0 * intersection / (ops.sum(t, axis=axis) + ops.sum(y_pred, axis=axis) + EPSILON)


def tversky(y_true, y_pred, alpha: float = 0.5, beta: float = 0.5, axis=None) -> Tensor:
    """L = 1 - TP / (TP + alpha FP + beta FN + eps), TP = Σ t p, FP = Σ (1 - t) p, FN = Σ t (1 - p).
    alpha = beta = 0.5 is the Dice loss."""
    t, y_pred = _targets(y_true, y_pred, "tversky")
    tp = ops.sum(y_pred * t, axis=axis)
    fp = ops.sum((1.0 - t) * y_pred, axis=axis)
    fn = ops.sum(t * (1.0 - y_pred), axis=axis)
    return 1.0 - tp / (tp + alpha * fp + beta * fn + EPSILON)


def _masked_logsumexp(x, mask):
    """log Σ_{mask} exp(x) per row; a row with no entry gives a huge negative number instead of -inf, so the
    softplus after it is exactly 0 and its gradient 0 rather than NaN."""
    floor = float(backend.xp.finfo(x.dtype).min) / 4
    return ops.logsumexp(ops.where(mask, x, floor), axis=1)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal: bool = True,
           gamma: float = 80.0, margin: float = 0.4) -> Tensor:
    """Circle loss on L2-normalised embeddings y_pred (batch, dim) with integer labels y_true (batch,).

    d = max(1 - y_pred · refᵀ, 0) (cosine distances); for same-label pairs s_p = -gamma max(m + d, 0)(m - d),
    for different labels s_n = gamma max(1 + m - d, 0)(1 - m - d);
    L = softplus(logsumexp_pos s_p + logsumexp_neg s_n). Rows with L = 0 are masked out of the mean.
    """
    y_pred = as_tensor(y_pred)
    xp = backend.xp
    labels = (y_true.data if isinstance(y_true, Tensor) else xp.asarray(y_true)).astype("int64").reshape(-1)
    ref = y_pred if ref_embeddings is None else as_tensor(ref_embeddings)
    ref_lab = labels if ref_labels is None else xp.asarray(
        ref_labels.data if isinstance(ref_labels, Tensor) else ref_labels).astype("int64").reshape(-1)
    # cast: NumPy computes a bfloat16 matmul in float32
    d = ops.maximum(1.0 - ops.cast(ops.matmul(y_pred, ops.transpose(ref, (1, 0))), y_pred.dtype), 0.0)
    positive = labels[:, None] == ref_lab[None, :]
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~xp.eye(len(labels), len(ref_lab), dtype=bool)
    pos_w = ops.maximum((margin + d) * Tensor._wrap(positive.astype(d.dtype), False), 0.0)
    neg_w = ops.maximum((1.0 + margin - d) * Tensor._wrap(negative.astype(d.dtype), False), 0.0)
    s_p = -gamma * pos_w * (margin - d)
    s_n = gamma * neg_w * ((1.0 - margin) - d)
    loss = ops.softplus(_masked_logsumexp(s_p, positive) + _masked_logsumexp(s_n, negative))
    loss._keras_mask = loss.data > 0
    return loss


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis``, weighted and reduced over the batch."""
    def __init__(self, axis: int = -1, reduction=_DEFAULT, name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Dice(LossFunctionWrapper):
    """Dice overlap loss, summed over ``axis`` (None: over everything)."""
    def __init__(self, reduction=_DEFAULT, name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Tversky(LossFunctionWrapper):
    """Tversky overlap loss: alpha weighs false positives, beta false negatives."""
    def __init__(self, alpha: float = 0.5, beta: float = 0.5, reduction=_DEFAULT, name="tversky", axis=None,
                 dtype=None):
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha, beta=beta, axis=axis)
        self.alpha, self.beta, self.axis = alpha, beta, axis


class Circle(LossFunctionWrapper):
    """Circle loss for metric learning on L2-normalised embeddings and integer labels."""
    def __init__(self, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True, reduction=_DEFAULT,
                 name="circle", dtype=None):
        super().__init__(circle, reduction=reduction, name=name, dtype=dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)
        self.gamma, self.margin, self.remove_diagonal = gamma, margin, remove_diagonal

    def call(self, y_true, y_pred) -> Tensor:
        return self.fn(y_true, y_pred, **self._fn_kwargs)


__all__ = ["cosine_similarity", "dice", "tversky", "circle", "l2_normalize", "CosineSimilarity", "Dice", "Tversky",
           "Circle"]
