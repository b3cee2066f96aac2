"""The CTC loss for sequence labelling without alignments (speech, handwriting): the math is the
``ctc_loss`` op; here are Keras's function and class around it."""
from __future__ import annotations

from shendu import backend
from shendu.losses.classes import LossFunctionWrapper
from shendu.ops.ctc import ctc_loss
from shendu.tensor import Tensor, as_tensor


def ctc(y_true, y_pred) -> Tensor:
    """L = -log p(y_true | y_pred): y_true (batch, max_length) integer labels padded with 0 (0 is the blank,
    never a class), y_pred (batch, T, num_classes) logits, not softmax-normalised."""
    y_pred = as_tensor(y_pred)
    labels = backend.xp.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if labels.ndim != 2:
        raise ValueError("ctc: targets y_true are expected to be a tensor of shape (batch_size, max_length) in "
                         f"integer format. Received: y_true.shape={tuple(labels.shape)}")
    if y_pred.ndim != 3:
        raise ValueError("ctc: logits y_pred are expected to be a tensor of shape (batch_size, max_length, "
                         f"num_classes). Received: y_pred.shape={tuple(y_pred.shape)}")
    batch, steps = y_pred.shape[:2]
    label_length = (labels != 0).sum(axis=-1)
    return ctc_loss(labels, y_pred, label_length, backend.xp.full(batch, steps), blank=0)


class CTC(LossFunctionWrapper):
    """Connectionist Temporal Classification loss over (batch, T, classes) logits."""
    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true, y_pred) -> Tensor:
        return self.fn(y_true, y_pred)


__all__ = ["ctc", "CTC"]
