"""Connectionist Temporal Classification (Graves et al. 2006, https://www.cs.toronto.edu/~graves/icml_2006.pdf).

For logits u (batch, T, classes) and a label sequence l, the extended sequence l' puts a blank before,
between and after the labels (length S = 2|l| + 1). In log space, with y = log_softmax(u):
  forward   α_0(0) = y_0(blank), α_0(1) = y_0(l'_1);
            α_t(s) = y_t(l'_s) + logsumexp(α_{t-1}(s), α_{t-1}(s-1), α_{t-1}(s-2) [if s is a label position and l'_s ≠ l'_{s-2}])
  loss      L = -logsumexp(α_{T-1}(S-1), α_{T-1}(S-2))
  backward  β the same recursion run from the end; then
            dL/du_t(k) = softmax(u)_t(k) - Σ_{s: l'_s = k} exp(α_t(s) + β_t(s) - y_t(k) + L)
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor


def _lse(*xs):
    xp = backend.xp
    stacked = xp.stack(xs)
    m = stacked.max(axis=0)
    safe = xp.where(xp.isfinite(m), m, 0)
    with xp.errstate(divide="ignore"):
        return xp.log(xp.exp(stacked - safe).sum(axis=0)) + safe


def _alpha(y, ext, allow_skip):
    """α over time for one sample: y (T, classes) log-probabilities, ext the extended labels (S,)."""
    xp = backend.xp
    T, S = y.shape[0], len(ext)
    a = xp.full((T, S), -xp.inf, dtype=y.dtype)
    a[0, 0] = y[0, ext[0]]
    if S > 1:
        a[0, 1] = y[0, ext[1]]
    for t in range(1, T):
        prev = a[t - 1]
        shift1 = xp.concatenate([[-xp.inf], prev[:-1]])
        shift2 = xp.where(allow_skip, xp.concatenate([[-xp.inf, -xp.inf], prev[:-2]]), -xp.inf)
        a[t] = _lse(prev, shift1, shift2) + y[t, ext]
    return a


class CTC(Function):
    """L_b = -log p(labels_b | logits_b) summed over every alignment (see the module docstring)."""
    def forward(self, u):
        xp = backend.xp
        z = u - u.max(axis=-1, keepdims=True)
        y = z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))          # log_softmax over the classes
        losses = xp.zeros(u.shape[0], dtype=u.dtype)
        grad = xp.zeros_like(u)
        for b in range(u.shape[0]):
            T, L = int(self.input_length[b]), int(self.label_length[b])
            labels = self.labels[b, :L].astype("int64")
            ext = xp.full(2 * L + 1, self.blank, dtype="int64")
            ext[1::2] = labels
            allow_skip = xp.zeros(len(ext), dtype=bool)
            # a label (odd position) may be reached from the previous label unless the two are equal
            allow_skip[3::2] = ext[3::2] != ext[1:-2:2]
            yb = y[b, :T]
            a = _alpha(yb, ext, allow_skip)
            # β is α run on the time-reversed, label-reversed problem
            rb = _alpha(yb[::-1], ext[::-1], xp.concatenate([[False, False], allow_skip[2:][::-1]]))[::-1, ::-1]
            loss = -_lse(a[-1, -1], a[-1, -2]) if len(ext) > 1 else -a[-1, -1]
            losses[b] = loss
            if not xp.isfinite(loss):
                continue
            # α_t(s) + β_t(s) counts y_t(l'_s) twice: subtract it once
            ab = a + rb - yb[:, ext]
            occupancy = xp.zeros_like(yb)
            for k in xp.unique(ext):
                occupancy[:, k] = xp.exp(_lse(*ab[:, ext == k].T) + loss)
            grad[b, :T] = xp.exp(yb) - occupancy
        self.save(grad)
        return losses

    def backward(self, gy):
        (grad,) = self.saved
        return gy[:, None, None] * grad


def ctc_loss(labels, logits, label_length, logit_length, blank: int = 0) -> Tensor:
    """Per-sample CTC loss: labels (batch, max_label_len) integers, logits (batch, T, classes) unnormalised."""
    xp = backend.xp

    def arr(v):
        return xp.asarray(v.data if isinstance(v, Tensor) else v)
    return CTC.apply(logits, labels=arr(labels), label_length=arr(label_length), input_length=arr(logit_length),
                     blank=blank)
