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
from shendu.distribute.collective import DistributedOptimizer, allreduce, broadcast_variables
from shendu.distribute.comm import launched_by_mpi, world
from shendu.distribute.strategy import (MPIStrategy, ReduceOp, get_strategy, has_strategy,
                                        in_cross_replica_context)

# tf.distribute's names for synchronous data parallelism: here one replica per MPI process
MultiWorkerMirroredStrategy = MPIStrategy
MirroredStrategy = MPIStrategy


def rank() -> int:
    """This worker's index, 0 ... size() - 1 (0 when alone)."""
    return world().rank


def size() -> int:
    """The number of workers (1 when alone)."""
    return world().size


__all__ = ["MPIStrategy", "MultiWorkerMirroredStrategy", "MirroredStrategy", "ReduceOp", "DistributedOptimizer",
           "allreduce", "broadcast_variables", "get_strategy", "has_strategy", "in_cross_replica_context",
           "launched_by_mpi", "rank", "size"]
