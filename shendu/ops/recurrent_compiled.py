"""The threads of the recurrent ops of ``recurrent.py``: their compiled time loops (``recurrent_kernels``)
and their all-steps matrix products.

- ``kernels(dtype)``: the kernels module, imported on first use (numba is optional), or None where they
  cannot run (no numba, CuPy arrays, float16, a compile failure), and the NumPy loops run instead;
- ``one_blas_thread()``: the time loops' small per-step products on one BLAS thread;
- ``batch_parts`` and ``run``: the rows of a batch are independent in a recurrence, so with more than one
  thread allowed, each thread runs the whole time loop for its own range of rows;
- ``kernel_mask`` / ``kernel_array``: the plain contiguous arrays the kernels take (empty ones for None);
- ``matmul``: the (time·batch)-sized products before and after the time loops (x W, dZ Wᵀ, xᵀ dZ, hᵀ dZ),
  split over the same threads, each part one BLAS thread. A multi-threaded BLAS call leaves its worker
  threads spinning for a while after it returns, and on a 2-core machine such a thread took the core the
  next time loop's second half needed (measured: it used 100 % of a core through the whole LSTM training
  step).
"""
from __future__ import annotations

import warnings

from shendu import backend
from shendu.ops import compiled
from shendu.ops.compiled import one_blas_thread

__all__ = ["one_blas_thread", "kernels", "batch_parts", "run", "kernel_mask", "kernel_array", "matmul"]

_kernels = {}       # "module": shendu.ops.recurrent_kernels, or None where numba is missing or fails


def kernels(dtype):
    """The compiled time loops (``shendu.ops.recurrent_kernels``) for float32/float64 NumPy arrays, or
    None: no numba, another array library, another dtype, or a kernel that failed to compile before."""
    if backend.xp.__name__ != "numpy" or backend.xp.dtype(dtype) not in (backend.xp.float32, backend.xp.float64):
        return None
    if "module" not in _kernels:
        try:
            from shendu.ops import recurrent_kernels  # imported on first use: numba is optional and slow to import
            _kernels["module"] = recurrent_kernels
            compiled.rescan_blas()    # the kernels' BLAS (SciPy's) has just been loaded and must be limited too
        except ImportError:
            _kernels["module"] = None
    return _kernels["module"]


def batch_parts(B):
    """Row ranges of the batch, one per thread allowed now (``compiled.threads()``: backend's thread policy)
    and at least 16 rows each: the rows of a recurrence are independent, so a compiled loop runs each range in
    its own thread, each with one-thread BLAS calls."""
    workers = max(1, min(compiled.threads(), B // 16))
    edges = [B * k // workers for k in range(workers + 1)]
    return list(zip(edges[:-1], edges[1:]))


def run(kernel, parts, args) -> bool:
    """Run a compiled time loop ``kernel(*args(p), b0, b1)`` over each row range (b0, b1) of ``parts``, the
    first in this thread and the others on the shared worker pool (the kernels release the GIL). False (and
    the NumPy loop from then on) if it cannot compile here, e.g. numba without SciPy, which its matrix product
    needs."""
    if len(parts) > 1:      # a split step: its other products too on shendu's threads (backend._ThreadPolicy)
        backend._threads.note_split()
    try:
        compiled.run_parts(kernel, parts, args)
    except Exception as error:  # numba's typing/lowering errors have no common public base class
        warnings.warn(f"shendu: the compiled recurrent loop failed ({type(error).__name__}: {error}); using the "
                      f"NumPy loop instead.", RuntimeWarning, stacklevel=3)
        _kernels["module"] = None
        return False
    return True


def kernel_mask(m):
    """The (time, batch) bool mask a kernel takes from the (time, batch, 1) one, or an empty one for no mask."""
    xp = backend.xp
    return xp.empty((0, 0), bool) if m is None else xp.ascontiguousarray(m[..., 0])


def kernel_array(a, dtype, ndim):
    """A contiguous array of ``dtype`` for a kernel, or an empty one standing for None."""
    xp = backend.xp
    return xp.empty((0,) * ndim, dtype) if a is None else xp.ascontiguousarray(a, dtype)


def _rows_matmul(a, b, out, r0, r1):
    """out[r0:r1] = a[r0:r1] @ b: one part of ``matmul`` (NumPy releases the GIL inside BLAS)."""
    backend.xp.matmul(a[r0:r1], b, out=out[r0:r1])


def _inner_matmul(a, b, out, p, parts):
    """out[p] = a[:, k0:k1] @ b[k0:k1] for the p-th range (k0, k1) of ``parts``: one part of ``matmul``."""
    k0, k1 = parts[p]
    backend.xp.matmul(a[:, k0:k1], b[k0:k1], out=out[p])


def matmul(a, b):
    """a @ b for the (time·batch)-sized products, split over the allowed threads as the time loops split the
    batch (``batch_parts``), each part a one-thread BLAS call: a tall ``a`` (x W, dZ Wᵀ) by its rows; a wide
    one (xᵀ dZ, hᵀ dZ: a few rows, time·batch columns) by the time·batch sum, whose partial products are then
    added (by rows, each thread would pack all of the large ``b``)."""
    xp = backend.xp
    if xp.__name__ == "numpy" and a.ndim == 2 and b.ndim == 2:
        M, K = a.shape
        with one_blas_thread():
            parts = batch_parts(max(M, K))
            if len(parts) > 1 and M >= K:
                out = xp.empty((M, b.shape[1]), xp.result_type(a, b))
                if run(_rows_matmul, parts, lambda p: (a, b, out)):
                    return out
            elif len(parts) > 1:
                out = xp.empty((len(parts), M, b.shape[1]), xp.result_type(a, b))
                if run(_inner_matmul, [(p, parts) for p in range(len(parts))], lambda p: (a, b, out)):
                    return out.sum(axis=0)
    return a @ b
