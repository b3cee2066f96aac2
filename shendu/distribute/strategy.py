"""``MPIStrategy``: synchronous data-parallel training, one model replica per MPI worker, with
tf.distribute's API (``tf.distribute.MultiWorkerMirroredStrategy`` and ``MirroredStrategy`` are this class).

Each step of ``fit(x, y, batch_size=B)`` reads the same global batch of B samples on every worker (the
shuffle's generator is synchronised from worker 0), worker r keeps its contiguous shard of about B/N
samples, computes the gradient of its shard's mean loss, and the optimizer sums the gradients weighted by
each shard's share of the batch — the gradient of the global batch's mean loss, so N workers take the
same steps as one process with batch B. Metric states (totals and counts) are summed across workers
before they are read, so logs and History are the global batch's.
"""
from __future__ import annotations

import contextlib

import numpy as np

from shendu import backend
from shendu.callbacks.base import Callback
from shendu.callbacks.checkpoint import BackupAndRestore, ModelCheckpoint
from shendu.callbacks.logger import CSVLogger
from shendu.callbacks.progbar import ProgbarLogger
from shendu.callbacks.tensorboard import TensorBoard
from shendu.distribute.collective import DistributedOptimizer, allreduce, broadcast_variables
from shendu.distribute.comm import world
from shendu.distribute.context import scopes as _scopes


class ReduceOp:
    """How ``strategy.reduce`` combines the workers' values."""
    SUM = "SUM"
    MEAN = "MEAN"


class MPIStrategy:
    """Synchronous data parallelism over the processes ``mpiexec -n N`` started (alone: one worker).

    Create the model and ``compile`` it inside ``with strategy.scope():``; then ``fit``, ``evaluate`` and
    ``predict`` split every global batch across the workers. Only worker 0 prints progress and writes
    checkpoints, CSV and TensorBoard logs.

    Args:
        communication_options: accepted for tf.distribute's signature; only ``None`` (MPI chooses its
            allreduce algorithm).
    """

    def __init__(self, devices=None, cross_device_ops=None, communication_options=None, cluster_resolver=None):
        for name, value in (("devices", devices), ("cross_device_ops", cross_device_ops),
                            ("communication_options", communication_options), ("cluster_resolver", cluster_resolver)):
            if value is not None:
                raise ValueError(f"{type(self).__name__}: {name}={value!r} is not supported: shendu runs one replica "
                                 f"per process and MPI connects them; drop {name} and start the workers with "
                                 "`mpiexec -n N python train.py` (or `shendu run -n N train.py`).")
        self.comm = world()
        self.rank, self.size = self.comm.rank, self.comm.size
        self._frozen = None         # this worker's metric states to report while its shard is a stand-in
        self._owned: list = []      # per predict batch: whether this worker's shard holds real samples

    @property
    def num_replicas_in_sync(self) -> int:
        return self.size

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @contextlib.contextmanager
    def scope(self):
        """Models compiled inside train data-parallel under this strategy."""
        _scopes.append(self)
        try:
            yield self
        finally:
            _scopes.pop()

    def run(self, fn, args=(), kwargs=None):
        """Call ``fn`` on this worker's replica (one replica per process)."""
        return fn(*args, **(kwargs or {}))

    def reduce(self, reduce_op, value, axis=None):
        """Combine a per-worker value across workers: ``"SUM"`` or ``"MEAN"`` (after summing over ``axis``
        when given, as tf.distribute does for a per-replica batch)."""
        op = str(getattr(reduce_op, "value", reduce_op)).upper().replace("REDUCEOP.", "")
        if op not in (ReduceOp.SUM, ReduceOp.MEAN):
            raise ValueError(f"reduce_op must be 'SUM' or 'MEAN' (tf.distribute.ReduceOp), got {reduce_op!r}.")
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype="float64")
        count = array.shape[axis] if axis is not None else 1
        if axis is not None:
            array = array.sum(axis=axis)
        total = allreduce([array], average=False, comm=self.comm)[0]
        if op == ReduceOp.MEAN:
            samples = allreduce([np.array(float(count))], average=False, comm=self.comm)[0]
            total = total / (samples if axis is not None else self.size)
        return total

    # ---------------------------------------------------------------- what fit/evaluate/predict call
    def prepare_optimizer(self, optimizer):
        return DistributedOptimizer(optimizer)

    def on_fit_begin(self, model) -> None:
        """Every worker starts from worker 0's weights and shuffles with worker 0's generator state."""
        backend.rng.bit_generator.state = self.comm.broadcast_object(backend.rng.bit_generator.state)
        if model.built:
            broadcast_variables(model.weights, comm=self.comm)
            reducer = getattr(model.optimizer, "_gradient_reducer", None)
            if reducer is not None:
                reducer._synced.update(id(v) for v in model.weights)

    def worker_callbacks(self, callbacks: list) -> list:
        """Worker 0 keeps every callback; the others drop those that print or write files."""
        if self.rank == 0:
            return callbacks
        writers = (ModelCheckpoint, CSVLogger, ProgbarLogger, TensorBoard)
        kept = [cb for cb in callbacks if not isinstance(cb, writers)]
        return [_restore_only(cb) if isinstance(cb, BackupAndRestore) else cb for cb in kept]

    def shard_batches(self, model, batches):
        """This worker's contiguous part of every global batch. A global batch smaller than the number of
        workers (a short last batch) gives the workers beyond it a stand-in sample that counts for nothing:
        its gradient weight is 0 and its metric updates are not reported."""
        reducer = getattr(model.optimizer, "_gradient_reducer", None)
        self._owned = []
        metrics = list(model.metrics)
        try:
            for bx, by, bw in batches:
                n = _batch_length(bx)
                if n >= self.size:
                    lo, hi = self.rank * n // self.size, (self.rank + 1) * n // self.size
                    weight, stand_in = (hi - lo) / n, False
                elif self.rank < n:
                    lo, hi, weight, stand_in = self.rank, self.rank + 1, 1.0 / n, False
                else:
                    lo, hi, weight, stand_in = 0, 1, 0.0, True
                if reducer is not None:
                    reducer.weight = weight
                self._frozen = [v.copy() for v in _state_values(metrics)] if stand_in else None
                self._owned.append(not stand_in)
                yield _slice(bx, lo, hi), _slice(by, lo, hi), _slice(bw, lo, hi)
                if stand_in:            # take back the stand-in sample's metric updates
                    for var, value in zip(_state_variables(metrics), self._frozen):
                        var.assign(value)
                    self._frozen = None
        finally:
            if reducer is not None:
                reducer.weight = None

    @contextlib.contextmanager
    def summed_metrics(self, metrics):
        """Inside, every metric's state is the sum of the workers' states (so ``result()`` is the global one);
        each worker's own state comes back on exit."""
        variables = _state_variables(metrics)
        if self.size == 1 or not variables:
            yield
            return
        own = [np.array(v.value, copy=True) for v in variables]
        local = self._frozen if self._frozen is not None and len(self._frozen) == len(own) else own
        flat = np.concatenate([np.asarray(a, dtype="float64").reshape(-1) for a in local])
        flat = self.comm.allreduce_sum(flat)
        offset = 0
        for var, a in zip(variables, own):
            var.assign(flat[offset:offset + a.size].reshape(a.shape))
            offset += a.size
        try:
            yield
        finally:
            for var, a in zip(variables, own):
                var.assign(a)

    def gather_predictions(self, parts: list) -> list:
        """Every worker's per-batch outputs (lists of arrays), joined back in sample order."""
        if self.size == 1:
            return parts
        everyone = self.comm.allgather_object([(owned, part) for owned, part in zip(self._owned, parts)])
        joined = []
        for batch in zip(*everyone):
            owned = [part for ok, part in batch if ok]
            joined.append([np.concatenate(columns) for columns in zip(*owned)])
        return joined

    def __repr__(self):
        return f"<{type(self).__name__} worker {self.rank} of {self.size}>"


def _restore_only(backup):
    """A BackupAndRestore that only restores: every worker resumes from the backup worker 0 wrote, and
    only worker 0 writes (and finally deletes) it."""
    class RestoreOnly(Callback):
        def set_model(self, model):
            super().set_model(model)
            backup.set_model(model)

        def on_train_begin(self, logs=None):
            backup.on_train_begin(logs)

    return RestoreOnly()


def get_strategy():
    """The strategy whose ``scope()`` is open, else a one-worker strategy (tf.distribute's default)."""
    return _scopes[-1] if _scopes else _default()


def has_strategy() -> bool:
    return bool(_scopes)


def in_cross_replica_context() -> bool:
    return True


_default_strategy = None


def _default():
    global _default_strategy
    if _default_strategy is None:
        _default_strategy = MPIStrategy()
    return _default_strategy


def _batch_length(x) -> int:
    while isinstance(x, (list, tuple, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return len(x)


def _slice(x, lo, hi):
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: _slice(v, lo, hi) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_slice(v, lo, hi) for v in x)
    return x[lo:hi]


def _state_variables(metrics) -> list:
    """The state (add_variable) of each metric, looking inside compile's metric container and
    accuracies resolved on first use."""
    out = []
    for m in metrics:
        inner = getattr(m, "resolved", None)
        if isinstance(getattr(m, "metrics", None), list):
            out += _state_variables(m.metrics)
        elif inner is not None:
            out += _state_variables([inner])
        else:
            out += list(getattr(m, "variables", []))
    return out


def _state_values(metrics) -> list:
    return [np.asarray(v.value) for v in _state_variables(metrics)]
