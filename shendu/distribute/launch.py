"""``shendu run -n N train.py``: start N workers of a script with ``mpiexec``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def find_mpiexec() -> str:
    """mpiexec beside this Python (the mpich wheel installs it into the environment's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if not found:
        raise FileNotFoundError("shendu run needs mpiexec, and none was found beside this Python or on PATH; install "
                                "the distributed extra: pip install \"shendu[distributed]\" (mpich and mpi4py).")
    return found


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in out or "OpenRTE" in out


def mpiexec_command(script_and_args: list, workers: int, hosts: str | None = None, hostfile: str | None = None,
                    mpiexec: str | None = None) -> list:
    """The command line that starts ``workers`` copies of ``python script args...`` (MPICH's or Open MPI's
    spelling of the host options)."""
    if workers < 1:
        raise ValueError(f"shendu run: -n must be a positive number of workers, got {workers}.")
    if not script_and_args:
        raise ValueError("shendu run: name the script to run, e.g. shendu run -n 2 train.py --epochs 3.")
    mpiexec = mpiexec or find_mpiexec()
    open_mpi = _is_open_mpi(mpiexec) if (hosts or hostfile) else False
    command = [mpiexec, "-n", str(workers)]
    if hostfile:
        command += ["--hostfile" if open_mpi else "-f", hostfile]
    if hosts:
        command += ["--host" if open_mpi else "-hosts", hosts]
    return command + [sys.executable, *script_and_args]


def run(script_and_args: list, workers: int, hosts: str | None = None, hostfile: str | None = None,
        threads: int | None = None) -> int:
    """Start the workers and wait; the exit status is mpiexec's (non-zero when any worker failed)."""
    env = dict(os.environ)
    if threads:             # BLAS threads per worker: N workers on one machine share its cores
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env[name] = str(threads)
    command = mpiexec_command(list(script_and_args), workers, hosts, hostfile)
    return subprocess.call(command, env=env)
