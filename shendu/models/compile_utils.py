"""What ``compile()`` turns its arguments into: the loss container, the metrics container, and the
helpers that unpack a batch.

A step receives one batch, ``data``, in the form the user's data gave it: ``x``, ``(x,)``,
``(x, y)`` or ``(x, y, sample_weight)``; ``unpack_x_y_sample_weight`` reads any of them.
``CompiledLoss`` is ``model.compiled_loss`` (tf.keras 2's spelling): Σ_outputs weight · loss(y, ŷ).
``CompiledMetrics`` is ``model.compiled_metrics``: every metric given to ``compile`` behind one
``update_state`` / ``result`` / ``reset_state``, listed in ``model.metrics`` as Keras 3's
'compile_metrics' whose result is a dict of the metrics it holds.
"""
from __future__ import annotations

import numpy as np

from shendu import backend
from shendu import losses as losses_module
from shendu import metrics as metrics_module
from shendu.data.adapter import unpack_x_y_sample_weight  # noqa: F401  (keras.utils re-exports it from here)
from shendu.layers.symbolic import flatten
from shendu.tensor import Tensor


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The inverse of ``unpack_x_y_sample_weight``: ``x`` alone (or ``(x,)`` when x is a tuple), ``(x, y)``
    or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return x, y
    return x, y, sample_weight


def to_tensors(structure):
    """Batch arrays as Tensors, as Keras hands backend tensors to the step; float arrays become the
    float type (floatx), strings and other non-numeric arrays stay NumPy arrays."""
    if structure is None:
        return None
    if isinstance(structure, (list, tuple)):
        return type(structure)(to_tensors(v) for v in structure)
    if isinstance(structure, dict):
        return {k: to_tensors(v) for k, v in structure.items()}
    if isinstance(structure, Tensor):
        return structure
    array = np.asarray(structure)
    if array.dtype.kind not in "fiub":
        return array
    if array.dtype.kind == "f" and array.dtype != np.dtype(backend.floatx):
        array = array.astype(backend.floatx)
    return Tensor._wrap(backend.asarray(array), False)


def per_output(spec, names, what):
    """A loss/metric spec for each output: one shared value, a list in output order, or a dict by name."""
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} names {sorted(unknown)} that are not outputs of the model; the "
                             f"outputs are {names}.")
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)) and len(names) > 1 and (what == "loss" or all(
            isinstance(s, (list, tuple)) or s is None for s in spec)):
        if len(spec) != len(names):
            raise ValueError(f"compile: the model has {len(names)} outputs {names} but {len(spec)} {what} "
                             f"entries were given.")
        return list(spec)
    return [spec] * len(names)


_CROSSENTROPY_NAMES = ("crossentropy", "ce")


def crossentropy_for(name: str, y_true_shape, y_pred_shape):
    """The loss 'crossentropy' (or 'ce') stands for, chosen from the first batch's shapes as Keras 3 does:
    y_pred ending in 1 → binary; y_true with fewer axes than y_pred, or ending in 1 while y_pred does not
    → sparse categorical; else categorical. The loss keeps the name the user wrote."""
    if y_pred_shape[-1] == 1:
        fn = losses_module.binary_crossentropy
    elif len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        fn = losses_module.sparse_categorical_crossentropy
    else:
        fn = losses_module.categorical_crossentropy
    return losses_module.LossFunctionWrapper(fn, name=name)


def as_loss(identifier):
    """A Loss object for one output: names and plain functions fn(y_true, y_pred) are wrapped so that
    sample weights and the batch reduction are applied once, the same way for every loss.
    'crossentropy'/'ce' stay a name until the first batch shows which crossentropy is meant."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in _CROSSENTROPY_NAMES:
        return identifier
    loss = losses_module.get(identifier)
    if isinstance(loss, losses_module.Loss):
        return loss
    return losses_module.LossFunctionWrapper(loss, name=getattr(loss, "__name__", None))


def targets_per_output(y, names):
    """The targets as a list in output order: one array, a list/tuple, or a dict keyed by output name."""
    if isinstance(y, dict):
        missing = [n for n in names if n not in y]
        if missing:
            raise ValueError(f"The targets are a dict with keys {sorted(y)} but the model's outputs are {names}; "
                             f"give a target for {missing}.")
        return [y[n] for n in names]
    if isinstance(y, (list, tuple)):
        return flatten(y)
    return [y]


def batch_size_of(x) -> int:
    """The number of samples in a batch: the first axis of its first array."""
    while isinstance(x, (list, tuple, dict)):
        x = next(iter(x.values() if isinstance(x, dict) else x), None)
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else 1


class CompiledLoss:
    """``model.compiled_loss``: the losses given to ``compile``, one per output, weighted and summed.

    Calling it (tf.keras 2's ``compiled_loss(y, y_pred, sample_weight, regularization_losses=self.losses)``)
    returns the total and updates the model's 'loss' tracker, as tf.keras 2 does; ``compute`` is what
    ``Model.compute_loss`` uses (Keras 3), which leaves the 'loss' tracker to the step.
    """

    def __init__(self, loss, loss_weights, output_names, loss_tracker):
        self.output_names = output_names
        self.loss_fns = [as_loss(spec) for spec in per_output(loss, output_names, "loss")]
        if loss_weights is None:
            self.loss_weights = [1.0] * len(output_names)
        elif isinstance(loss_weights, dict):
            self.loss_weights = [float(loss_weights.get(n, 1.0)) for n in output_names]
        else:
            weights = loss_weights if isinstance(loss_weights, (list, tuple)) else [loss_weights]
            self.loss_weights = [float(w) for w in weights]
        self._loss_tracker = loss_tracker
        multi = len(output_names) > 1
        self.metrics = [metrics_module.Mean(name=f"{n}_loss") for n in output_names] if multi else []

    @property
    def has_loss(self) -> bool:
        return any(fn is not None for fn in self.loss_fns)

    def compute(self, y_true, y_pred, sample_weight=None):
        """Σ_outputs weight · loss(y, ŷ), or None when compile() had no loss; updates the per-output trackers."""
        if not self.has_loss:
            return None
        preds = flatten(y_pred)
        ys = targets_per_output(y_true, self.output_names) if len(preds) > 1 else [y_true]
        if len(ys) != len(preds):
            raise ValueError(f"The model has {len(preds)} outputs but {len(ys)} targets were given.")
        total = None
        for i, (fn, weight, yt, yp) in enumerate(zip(self.loss_fns, self.loss_weights, ys, preds)):
            if fn is None:
                continue
            if yt is None:
                raise ValueError("compile() was given a loss but the data has no targets y; pass fit(x, y), or "
                                 "compile() without a loss when the model adds its own with add_loss().")
            if isinstance(fn, str):
                fn = self.loss_fns[i] = crossentropy_for(fn, tuple(yt.shape), tuple(yp.shape))
            value = fn(yt, yp, sample_weight=sample_weight)
            if self.metrics:
                self.metrics[i].update_state(float(value.data), sample_weight=int(yp.shape[0]))
            term = value * weight if weight != 1.0 else value
            total = term if total is None else total + term
        return total

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        total = self.compute(y_true, y_pred, sample_weight)
        for penalty in regularization_losses or []:
            penalty = penalty if isinstance(penalty, Tensor) else Tensor._wrap(backend.asarray(penalty), False)
            total = penalty.sum() if total is None else total + penalty.sum()
        if total is None:
            raise ValueError("compiled_loss: compile() was called without a loss and no regularization losses were "
                             "given; pass loss='...' to compile().")
        self._loss_tracker.update_state(float(total.data), sample_weight=batch_size_of(flatten(y_pred)))
        return total


class CompiledMetrics:
    """``model.compiled_metrics``: the metrics and weighted metrics given to ``compile``.

    They are resolved at the first ``update_state``, once the shapes of targets and predictions are
    known ('accuracy' depends on them); ``result()`` is a dict of each metric's value.
    """

    name = "compile_metrics"

    def __init__(self, metrics, weighted_metrics, output_names):
        self.output_names = output_names
        self._specs = per_output(metrics, output_names, "metrics")
        self._weighted_specs = per_output(weighted_metrics, output_names, "weighted_metrics")
        self._entries = []          # (output index, metric, weighted)
        self.built = False

    @property
    def metrics(self):
        return [m for _, m, _ in self._entries]

    @property
    def has_metrics(self) -> bool:
        return any(s is not None for spec in self._specs + self._weighted_specs for s in flatten(spec))

    def build(self, ys, preds):
        """Resolve every metric; names as Keras 3 gives them: '<output>_<metric>' for several outputs, a
        repeated name numbered ('mae_1'), a weighted metric prefixed 'weighted_' only when its name is taken."""
        multi = len(self.output_names) > 1
        used: dict[str, int] = {}
        for weighted, specs in ((False, self._specs), (True, self._weighted_specs)):
            for i, group in enumerate(specs):
                for m in flatten(group) if group is not None else []:
                    if m is None:
                        continue
                    obj = metrics_module.resolve(m, ys[i].shape, preds[i].shape)
                    prefix = f"{self.output_names[i]}_" if multi else ""
                    name = prefix + obj.name
                    if name in used and weighted:
                        name = f"{prefix}weighted_{obj.name}"
                    if name in used:
                        used[name] += 1
                        name = f"{name}_{used[name] - 1}"
                    else:
                        used[name] = 1
                    obj.name = name
                    self._entries.append((i, obj, weighted))
        self.built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        preds = flatten(y_pred)
        if y_true is None:
            if self.has_metrics:
                raise ValueError("compile() was given metrics but the data has no targets y; pass fit(x, y).")
            return
        ys = targets_per_output(y_true, self.output_names) if len(preds) > 1 else [y_true]
        if not self.built:
            self.build(ys, preds)
        for i, metric, weighted in self._entries:
            metric.update_state(ys[i], preds[i], sample_weight=sample_weight if weighted else None)

    def result(self) -> dict:
        return {m.name: m.result() for m in self.metrics}

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    reset_states = reset_state
