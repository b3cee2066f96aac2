"""Data-parallel training across processes with MPI, with tf.distribute's API.

    strategy = shendu.distribute.MPIStrategy()        # tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = make_model()
        model.compile(...)
    model.fit(x, y, batch_size=64 * strategy.num_replicas_in_sync)

Run it with ``mpiexec -n 4 python train.py`` (or ``shendu run -n 4 train.py``); run alone, it is one worker.
mpi4py (the ``distributed`` extra) is imported only in a process an MPI launcher started.
See docs/distributed.md.
"""
import importlib

# loaded on first use, so that `import shendu` (whose training loop imports shendu.distribute.hooks) does not
# load the strategies and collectives of a package most scripts never touch
_LAZY = {"DistributedOptimizer": "collective", "allreduce": "collective", "broadcast_variables": "collective",
         "launched_by_mpi": "comm", "world": "comm", "MPIStrategy": "strategy", "ReduceOp": "strategy",
         "get_strategy": "strategy", "has_strategy": "strategy", "in_cross_replica_context": "strategy",
         # tf.distribute's names for synchronous data parallelism: here one replica per MPI process
         "MultiWorkerMirroredStrategy": "strategy", "MirroredStrategy": "strategy"}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"shendu.distribute.{_LAZY[name]}")
        return getattr(module, "MPIStrategy" if name.endswith("MirroredStrategy") else name)
    raise AttributeError(f"module 'shendu.distribute' has no attribute {name!r}")


def rank() -> int:
    """This worker's index, 0 ... size() - 1 (0 when alone)."""
    from shendu.distribute.comm import world
    return world().rank


def size() -> int:
    """The number of workers (1 when alone)."""
    from shendu.distribute.comm import world
    return world().size


__all__ = ["MPIStrategy", "MultiWorkerMirroredStrategy", "MirroredStrategy", "ReduceOp", "DistributedOptimizer",
           "allreduce", "broadcast_variables", "get_strategy", "has_strategy", "in_cross_replica_context",
           "launched_by_mpi", "rank", "size"]
