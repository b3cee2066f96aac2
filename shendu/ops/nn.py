"""Neural-network building blocks that are more than one elementwise formula:
dropout, embedding lookup, and softmax cross-entropy fused with its gradient."""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor, as_tensor


class Dropout(Function):
    """y = x * m / (1 - rate), m ~ Bernoulli(1 - rate) (inverted dropout);   dx = dy * m / (1 - rate)"""
    def forward(self, x):
        keep = self.rng.random(x.shape, dtype=x.dtype if x.dtype.kind == "f" else None) >= self.rate
        keep = backend.asarray(keep)      # a host generator passed as rng= gives a host mask: move it once
        scale = x.dtype.type(1.0 / (1.0 - self.rate))
        mask = keep * scale               # the scaled mask is all backward needs
        self.save(mask)
        return x * mask

    def backward(self, gy):
        (mask,) = self.saved
        return gy * mask


def dropout(x, rate: float, rng=None, training: bool = True) -> Tensor:
    """Zero each value with probability ``rate`` and scale the rest by 1/(1-rate), so the
    expected activation is unchanged and inference needs no rescaling.

    ``rng`` is the random generator that draws the mask (``backend.rng`` when omitted).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}.")
    if not training or rate == 0:
        return as_tensor(x)
    return Dropout.apply(x, rate=rate, rng=rng if rng is not None else backend.rng)


class Embedding(Function):
    """y = W[ids] (row lookup);   dW = dy scatter-added into the looked-up rows (repeats add up)"""
    def forward(self, W):
        self.rows = W.shape
        return W[self.ids]

    def backward(self, gy):
        return _row_gradient(self.rows, self.ids.reshape(-1), gy.reshape(-1, self.rows[1]))


_compiled_scatter = []      # [the compiled kernel, or None where numba is missing or fails], made on first use


def _compile_scatter():
    import numba  # imported lazily: only this kernel needs it

    @numba.njit(cache=True, nogil=True)
    def scatter(out, rows, values):
        # out[r] = Σ values[i] over the i with rows[i] = r, in order of i (the rows never named stay 0)
        out[:] = 0
        for i in range(rows.shape[0]):
            r = rows[i]
            for j in range(out.shape[1]):
                out[r, j] += values[i, j]
    return scatter


def _row_gradient(shape, rows, values):
    """zeros(shape) with values[i] added to row rows[i] for every i, repeated rows adding up in order of i.

    ``xp.add.at`` is the readable form and runs everywhere; on NumPy it is slow (3 ms for a batch of 64
    sentences of 100 words into a 10000 x 64 table), so when numba is installed one compiled pass zeroes the
    table and adds the rows (0.16 ms; each row's sum in the same order, so equal bit for bit). Measured and
    slower: sort + ``add.reduceat`` (4.3 ms), ``bincount`` per column (6.3 ms), and the table's rows split
    over two threads (0.25 ms: each thread reads all of ``rows``).
    """
    xp = backend.xp
    if xp.__name__ == "numpy" and not _compiled_scatter:
        try:
            _compiled_scatter.append(_compile_scatter())
        except ImportError:
            _compiled_scatter.append(None)
    scatter = _compiled_scatter[0] if xp.__name__ == "numpy" else None
    if scatter is not None and values.dtype.char in "fd":
        out = xp.empty(shape, values.dtype)
        try:
            scatter(out, xp.ascontiguousarray(rows), xp.ascontiguousarray(values))
            return out
        except Exception:  # numba could not compile for these types: add.at below still works
            _compiled_scatter[0] = None
    out = xp.zeros(shape, values.dtype)
    xp.add.at(out, rows, values)
    return out


def embedding(ids, table) -> Tensor:
    """Look up the row of ``table`` (vocab, dim) for each integer id in ``ids``."""
    ids = ids.data if isinstance(ids, Tensor) else backend.asarray(ids)
    table = as_tensor(table)
    if ids.dtype.kind not in "iu":
        if ids.dtype.kind == "f" and (ids == backend.xp.round(ids)).all():
            ids = ids.astype("int64")      # integral floats (a common Keras input) are accepted
        else:
            raise TypeError(f"embedding ids must be integers, got dtype {ids.dtype}.")
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        bad = ids[(ids < 0) | (ids >= table.shape[0])].reshape(-1)[0]
        raise IndexError(f"embedding: id {int(bad)} is outside the table's range [0, {table.shape[0]}); "
                         f"input_dim must be larger than the largest id.")
    return Embedding.apply(table, ids=ids)


class SoftmaxCrossEntropy(Function):
    """L = -Σ_k t_k log softmax(z)_k per sample;   dz = (softmax(z) - t) * dL

    Fused because the joint gradient is simpler and stabler than the composed one. ``t`` is a
    distribution over the last axis (one-hot or smoothed), or integer labels when ``sparse``.

    With ``clip`` (eps) each log-probability is held in [log eps, log(1 - eps)], as Keras's cross-entropy of
    probabilities clips them: L = -Σ_k t_k clip(log p_k) and dz = p Σ_k t_k m_k - t ⊙ m, where m_k = 1 inside
    the range and 0 where the clip binds (p - t when nothing is clipped).
    """
    clip = None

    def forward(self, z):
        xp = backend.xp
        z = xp.ascontiguousarray(z)         # so log_p and e^log_p are too: backward writes through a flat view
        shifted = z - z.max(axis=-1, keepdims=True)       # the max shift keeps e^z finite
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        if self.sparse:
            picked = log_p.reshape(-1, log_p.shape[-1])[self._picked(xp)].reshape(self.target.shape)
            if self.clip is None:
                self.save(log_p)
                return -picked
            low, high = self._bounds(xp, z.dtype)
            self.save(log_p, (picked >= low) & (picked <= high))
            return -xp.clip(picked, low, high)
        if self.clip is None:
            self.save(log_p)
            return -(self.target * log_p).sum(axis=-1)
        low, high = self._bounds(xp, z.dtype)
        self.save(log_p, self.target * ((log_p >= low) & (log_p <= high)))
        return -(self.target * xp.clip(log_p, low, high)).sum(axis=-1)

    def backward(self, gL):
        xp = backend.xp
        log_p = self.saved[0]
        g = xp.exp(log_p)
        if self.sparse:
            g.reshape(-1, g.shape[-1])[self._picked(xp)] -= 1     # g is a fresh array: ours to write
            if self.clip is not None:
                g *= self.saved[1][..., None]                     # a clipped sample has no gradient
        elif self.clip is None:
            g -= self.target
        else:
            tm = self.saved[1]                                    # t ⊙ m
            g = g * tm.sum(axis=-1, keepdims=True) - tm
        return g * gL[..., None]

    def _picked(self, xp):
        """(row, label) index pairs: each sample's entry of its label, with the leading axes as rows."""
        labels = self.target.reshape(-1)
        return xp.arange(labels.shape[0]), labels

    def _bounds(self, xp, dtype):
        """log eps and log(1 - eps), with eps and 1 - eps rounded to ``dtype`` first as Keras's clip rounds them."""
        return xp.log(xp.asarray(self.clip, dtype)), xp.log(xp.asarray(1 - self.clip, dtype))


def softmax_cross_entropy(logits, target, sparse: bool = False, clip: float | None = None) -> Tensor:
    """Per-sample cross-entropy of softmax(logits) against ``target`` (labels when ``sparse``); with ``clip``
    the log-probabilities are held in [log clip, log(1 - clip)] (Keras's clipped probabilities)."""
    target = target.data if isinstance(target, Tensor) else backend.asarray(target)
    logits = as_tensor(logits)
    if not sparse:
        target = target.astype(logits.dtype)
    return SoftmaxCrossEntropy.apply(logits, target=target, sparse=sparse, clip=clip)
