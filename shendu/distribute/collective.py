"""Collectives for data-parallel training, usable in a custom loop (Horovod's style)::

    opt = shendu.distribute.DistributedOptimizer(keras.optimizers.Adam())
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x_shard))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))     # averaged over the workers

Gradient averaging is one fused allreduce per step: every gradient is flattened into one buffer, the
buffer is summed across the workers with a single ``MPI_Allreduce``, and the sums are cut back into
the gradients' shapes. One large message instead of one per variable pays the network's latency once.
"""
from __future__ import annotations

import numpy as np

from shendu import backend
from shendu import optimizers as optimizers_module
from shendu.distribute.comm import world
from shendu.tensor import Tensor


def _as_array(value):
    return value.data if isinstance(value, Tensor) else value


def allreduce(values, average: bool = True, weight: float | None = None, comm=None) -> list:
    """Σ_workers (or the mean) of each array in ``values``, with one fused allreduce.

    Args:
        values: a list of arrays or Tensors (``None`` entries stay ``None``), e.g. the gradients.
        average: divide the sums by the number of workers.
        weight: instead of averaging, scale this worker's values by ``weight`` before summing (the share
            of the global batch this worker computed, so uneven shards still give the global batch's mean).
    Returns:
        A list like ``values``, each entry of the same kind (array or Tensor), shape and dtype.
    """
    comm = comm or world()
    values = list(values)
    present = [i for i, v in enumerate(values) if v is not None]
    if comm.size == 1:         # alone, a weight is always 1 (the whole global batch)
        return values
    arrays = [backend.to_numpy(_as_array(values[i])) for i in present]
    if not arrays:
        return values
    dtype = np.result_type(*arrays)
    flat = np.concatenate([a.reshape(-1) for a in arrays]).astype(dtype, copy=False)
    if weight is not None:
        flat = flat * dtype.type(weight)
    flat = comm.allreduce_sum(flat)
    if weight is None and average:
        flat /= dtype.type(comm.size)
    out, offset = list(values), 0
    for i, a in zip(present, arrays):
        part = flat[offset:offset + a.size].reshape(a.shape).astype(a.dtype, copy=False)
        offset += a.size
        if isinstance(values[i], Tensor):
            out[i] = Tensor(backend.xp.asarray(part))
        else:                   # NumPy in, NumPy out; a device array comes back on the device
            out[i] = part if isinstance(values[i], np.ndarray) else backend.xp.asarray(part)
    return out


def broadcast_variables(variables, root: int = 0, comm=None) -> None:
    """Give every worker ``root``'s values of ``variables`` (Variables, or anything with ``.data`` and
    ``assign``), with one fused broadcast. Call it once after the variables exist and before training."""
    comm = comm or world()
    variables = list(variables)
    if comm.size == 1 or not variables:
        return
    arrays = [backend.to_numpy(_as_array(v)) for v in variables]
    by_dtype: dict = {}
    for i, a in enumerate(arrays):
        by_dtype.setdefault(a.dtype.str, []).append(i)
    for key in sorted(by_dtype):          # one buffer per dtype (ints and floats must not mix)
        indices = by_dtype[key]
        flat = comm.broadcast(np.concatenate([arrays[i].reshape(-1) for i in indices]), root=root)
        offset = 0
        for i in indices:
            size = arrays[i].size
            variables[i].assign(flat[offset:offset + size].reshape(arrays[i].shape))
            offset += size


class GradientReducer:
    """What a distributed optimizer does to its gradients before its update rule: on the first step, give
    every worker root's variables; then sum the gradients across workers, each weighted by its worker's share
    of the global batch (a strategy's ``fit`` sets it per step), or averaged (a custom loop)."""

    def __init__(self, comm, root: int = 0):
        self.comm, self.root = comm, root
        self.weight = None          # this worker's share of the current global batch, set by the strategy
        self._synced: set = set()

    def __call__(self, grads: list, variables: list) -> list:
        fresh = [v for v in variables if id(v) not in self._synced]
        if fresh:                   # variables that appear for the first time start from root's values
            broadcast_variables(fresh, root=self.root, comm=self.comm)
            self._synced.update(id(v) for v in fresh)
        return allreduce(grads, weight=self.weight, comm=self.comm)


def DistributedOptimizer(optimizer, root: int = 0):
    """Make ``optimizer`` average its gradients over all workers before each update (and start its variables
    from ``root``'s values on their first update). Returns the same optimizer object, so saving, ``get_config``
    and learning-rate schedules are unchanged; alone (no MPI launcher) it changes nothing."""
    optimizer = optimizers_module.get(optimizer)
    if getattr(optimizer, "_gradient_reducer", None) is None:
        optimizer._gradient_reducer = GradientReducer(world(), root)
    return optimizer
