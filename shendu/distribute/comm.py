"""The workers' communicator: MPI through mpi4py when the script was launched by ``mpiexec``, else one
worker talking to itself, so a script runs unchanged both ways.

mpi4py is an optional dependency (``pip install "shendu[distributed]"``); it is imported only when the
process was started by an MPI launcher, because importing it starts MPI.
"""
from __future__ import annotations

import os
import sys
import traceback

import numpy as np

# environment variables that MPI launchers set in every process they start (MPICH/Hydra, Open MPI, PMIx, Slurm)
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def launched_by_mpi() -> bool:
    """Whether this process was started by ``mpiexec`` (or ``mpirun`` / ``srun``)."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


class SelfComm:
    """One worker: every collective returns its input."""
    rank, size = 0, 1

    def allreduce_sum(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> np.ndarray:
        return buffer

    def broadcast_object(self, obj, root: int = 0):
        return obj

    def allgather_object(self, obj) -> list:
        return [obj]

    def barrier(self) -> None:
        pass

    def abort(self, code: int = 1) -> None:
        os._exit(code)


class MPIComm:
    """``MPI.COMM_WORLD`` with the few collectives data-parallel training needs, on NumPy buffers."""

    def __init__(self):
        try:
            from mpi4py import MPI          # optional dependency, imported here because importing it starts MPI
        except ImportError as error:
            raise ImportError("This script was launched by mpiexec but mpi4py is not installed; install the "
                              "distributed extra: pip install \"shendu[distributed]\" (mpich and mpi4py).") from error
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def allreduce_sum(self, buffer: np.ndarray) -> np.ndarray:
        """Σ over the workers of a contiguous NumPy buffer, in place (one MPI_Allreduce)."""
        buffer = np.ascontiguousarray(buffer)
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return buffer

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> np.ndarray:
        buffer = np.ascontiguousarray(buffer)
        self.comm.Bcast(buffer, root=root)
        return buffer

    def broadcast_object(self, obj, root: int = 0):
        return self.comm.bcast(obj, root=root)

    def allgather_object(self, obj) -> list:
        return self.comm.allgather(obj)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


_world = None


def world():
    """The process's communicator, made on first use: MPI under an MPI launcher, else one worker."""
    global _world
    if _world is None:
        _world = MPIComm() if launched_by_mpi() else SelfComm()
        if _world.size > 1:
            _install_abort_on_error(_world)
    return _world


def _install_abort_on_error(comm) -> None:
    """An uncaught exception on one worker prints its traceback (marked with the worker's rank) and aborts
    the whole job: the other workers are blocked in a collective that will never complete, so without
    MPI_Abort they would wait forever."""
    previous = sys.excepthook

    def abort_all(kind, value, tb):
        message = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(f"[worker {comm.rank} of {comm.size}] {message}")
        sys.stderr.write(f"[worker {comm.rank} of {comm.size}] aborting all workers.\n")
        sys.stderr.flush()
        sys.stdout.flush()
        if kind is KeyboardInterrupt:
            previous(kind, value, tb)
        comm.abort(1)

    sys.excepthook = abort_all
