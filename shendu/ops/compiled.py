"""The plumbing every compiled (numba) kernel of shendu shares.

- ``build(name, make)``: the kernels ``make(numba)`` returns, made once (numba imported on first use: an
  optional dependency), or None where they cannot run (no numba, a backend other than NumPy, a compile
  failure); ``disable(name)`` turns them off after a failure and the caller's NumPy form runs from then on;
- ``call(name, kernel, *args)``: run a kernel, False (and ``disable``) when numba fails to compile it;
- ``threads()``: how many threads a kernel may use now, the BLAS thread count backend's adaptive policy
  chose (the cores other processes leave free);
- ``parts(n, work)``: ranges of n independent rows (images, batch rows) for those threads, one range when the
  work (in element operations) is too small for a second thread to pay for its start;
- ``run_parts(kernel, parts, args)``: ``kernel(*args, r0, r1)`` over each range, the first in this thread and
  the others on a small pool of worker threads (the kernels are ``nogil``); ``run(name, kernel, n, work,
  *args)`` does both, and ``call``'s fallback. Not numba's ``prange``: its
  OpenMP/TBB workers spin while idle, which on shared cores takes time from BLAS and from other processes;
- ``one_blas_thread()``: small per-step products on one BLAS thread (a recurrence's time loop).
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from shendu import backend

MIN_PART_WORK = 2 ** 17     # element operations a worker thread must get to pay for waking it (~30-50 µs)
# Whether jobs split over threads at all. Off by default: measured at 2 threads with OpenBLAS (whose idle
# threads spin for a while after each product), the CNN step ran 13.6 -> 18.7 ms and the DCGAN step 86 -> 103
# ms with the splits on: the second part waits for the core a spinning BLAS thread holds. SHENDU_SPLIT_KERNELS=1
# turns them on (e.g. with a BLAS whose threads sleep when idle); the results are the same either way.
# Running every product on one BLAS thread too, with all the splitting on this pool, was measured as well (2
# threads): CNN predict 18.2 -> 14.2 ms, the CNN step 13.9 -> 13.6, but the MLP step 1.47 -> 2.30 and the DCGAN
# step 81 -> 126 (its strided convolutions unsplit): waking a sleeping worker costs 60-200 µs here, and OpenBLAS
# threads small products better.
SPLIT = os.environ.get("SHENDU_SPLIT_KERNELS", "0") == "1"

_built = {}         # name -> the kernels make(numba) returned, or None where numba is missing or fails
_blas = []          # threadpoolctl's controller, made on first use (it scans the loaded libraries once)
_blas_threads = []  # the BLAS pool's size when the adaptive policy has not chosen one yet, read once
_pool = []          # [executor, its thread count, the process id that made it], made on first parallel use
_pool_lock = threading.Lock()
_inside = threading.local()     # .part: this thread runs one part of a split job (no further splits)


def build(name: str, make):
    """The kernels ``make(numba)`` returns (anything: a dict, a tuple), made on first call, or None: not on
    NumPy, numba missing, or the build (or a later compile, see ``disable``) failed."""
    if getattr(backend.xp, "__name__", "") != "numpy":
        return None
    if name not in _built:
        try:
            import numba  # imported on first use: an optional dependency (the "fast" extra), slow to import
            _built[name] = make(numba)
        except Exception:       # ImportError, or a numba too old for this NumPy: the NumPy forms run
            _built[name] = None
    return _built[name]


def disable(name: str) -> None:
    """Stop using the kernels ``name`` (one failed to compile): the callers' NumPy forms run from now on."""
    _built[name] = None


def call(name: str, kernel, *args) -> bool:
    """``kernel(*args)``; False (and ``disable(name)``) when numba fails to type or compile it (it compiles
    per signature on first call). Errors that are not numba's are raised."""
    try:
        kernel(*args)
    except Exception as error:
        if not type(error).__module__.startswith("numba"):
            raise
        disable(name)
        return False
    return True


def run(name: str, kernel, n: int, work: int, *args) -> bool:
    """``kernel(*args, r0, r1)`` over n independent rows, split on ``parts(n, work)`` (one call on this thread,
    without asking the thread count, when the work is too small for two); False (and ``disable(name)``) when
    numba fails to compile it."""
    try:
        if not SPLIT or n < 2 or work < 2 * MIN_PART_WORK:
            kernel(*args, 0, n)
        else:
            run_parts(kernel, parts(n, work), args)
    except Exception as error:
        if not type(error).__module__.startswith("numba"):
            raise
        disable(name)
        return False
    return True


def usable(*arrays) -> bool:
    """Whether the kernels take these arrays: NumPy float32/float64, native byte order, one dtype."""
    first = arrays[0].dtype
    return first.char in "fd" and first.isnative and all(a.dtype == first for a in arrays)


def threads() -> int:
    """The threads a kernel may use now: the BLAS thread count of backend's adaptive policy when it has
    chosen one (the cores that other processes leave free), else the BLAS pool's size, else 1."""
    policy = backend._threads
    if policy.current is not None:
        return max(1, policy.current)
    if not _blas:
        try:
            import threadpoolctl      # optional dependency, imported on first use
            _blas.append(threadpoolctl.ThreadpoolController())
        except ImportError:  # pragma: no cover - threadpoolctl comes with the "fast" extra
            _blas.append(None)
    if _blas[0] is None:
        return 1
    if not _blas_threads:       # the pool's size, read once (reading it costs more than a small kernel)
        _blas_threads.append(max([1] + [i["num_threads"] for i in _blas[0].select(user_api="blas").info()]))
    return _blas_threads[0]


def parts(n: int, work: int, most: int | None = None):
    """Ranges (r0, r1) of n independent rows for ``threads()`` threads (or ``most``), at most one per
    ``MIN_PART_WORK`` of ``work`` (the element operations of all n rows), so tiny arrays stay on one thread;
    one range inside a part of a split job (the pool's threads are busy: a nested split would wait on them)."""
    if not SPLIT or getattr(_inside, "part", False):     # off, or inside a part (its threads are all taken)
        return [(0, n)]
    count = threads() if most is None else most
    count = max(1, min(count, n, work // MIN_PART_WORK))
    edges = [n * k // count for k in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def run_parts(kernel, parts, args=()) -> None:
    """``kernel(*args, r0, r1)`` for each range (r0, r1) of ``parts``: the first in this thread, the others on
    the worker pool (the kernels must be ``nogil``). ``args`` is a tuple, or a function of the part's index
    returning one (e.g. each part's own output). Errors of any part are raised here."""
    if callable(args):
        get = args
    else:
        def get(p):
            return args
    if len(parts) == 1:
        kernel(*get(0), *parts[0])
        return
    futures = [_executor(len(parts) - 1).submit(_part, kernel, *get(p), *part) for p, part in enumerate(parts[1:], 1)]
    try:
        _part(kernel, *get(0), *parts[0])
    finally:
        for future in futures:
            future.result()


def _part(kernel, *args):
    """One part of a split job, marked so that what it calls does not split again (its pool is busy)."""
    _inside.part = True
    try:
        kernel(*args)
    finally:
        _inside.part = False


def run_images(fn, n: int, work: int) -> None:
    """``fn(i0, i1)`` over ranges of n independent images: with more than one part (see ``parts``), each range
    on its own thread and every matrix product in it on one BLAS thread, so that the products, the copies and
    the compiled loops between them all run on every thread, and no BLAS thread spins while a loop waits for
    the core. ``fn`` must write only its own images' outputs (or its own part's partial sums)."""
    ranges = parts(n, work)
    if len(ranges) == 1:
        fn(0, n)
        return
    with one_blas_thread():
        run_parts(fn, ranges)


def _executor(workers: int) -> ThreadPoolExecutor:
    """The worker pool: a new one when there is none, too small a one, or one inherited through fork (its
    threads did not come along: its tasks would never run)."""
    with _pool_lock:
        if not _pool or _pool[1] < workers or _pool[2] != os.getpid():
            _pool[:] = [ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shendu-kernel"), workers,
                        os.getpid()]
        return _pool[0]


def one_blas_thread():
    """Run small per-step matmuls (e.g. (64, 64) @ (64, 256)) on one BLAS thread: waking a thread pool for
    each costs more than it saves, many times more on a busy machine. Yields threadpoolctl's limiter (its
    ``get_original_num_threads()`` says what the pool had), or None. A no-op without threadpoolctl or NumPy."""
    if backend.xp.__name__ != "numpy":
        return contextlib.nullcontext()
    if not _blas:
        try:
            import threadpoolctl      # optional dependency, imported on first use
            _blas.append(threadpoolctl.ThreadpoolController())
        except ImportError:  # pragma: no cover - threadpoolctl comes with the "fast" extra
            _blas.append(None)
    return _blas[0].limit(limits=1, user_api="blas") if _blas[0] is not None else contextlib.nullcontext()


def rescan_blas() -> None:
    """Forget threadpoolctl's list of libraries: one just loaded (SciPy's BLAS, with numba) must be limited too."""
    _blas.clear()
