"""The plumbing every compiled (numba) kernel of shendu shares.

- ``build(name, make)``: the kernels ``make(numba)`` returns, made once (numba imported on first use: an
  optional dependency), or None where they cannot run (no numba, a backend other than NumPy, a compile
  failure); ``disable(name)`` turns them off after a failure and the caller's NumPy form runs from then on;
- ``call(name, kernel, *args)``: run a kernel, False (and ``disable``) when numba fails to compile it;
- ``threads()``: how many threads a kernel may use now, the count backend's adaptive policy chose (the cores
  other processes leave free); ``splitting()``: whether jobs split over them in this step (the policy's choice);
- ``parts(n, work)``: ranges of n independent rows (images, batch rows) for those threads, one range when the
  work (in element operations) is too small for a second thread to pay for its start;
- ``run_parts(kernel, parts, args)``: ``kernel(*args, r0, r1)`` over each range, the first in this thread and
  the others on a small pool of worker threads (the kernels are ``nogil``); ``run(name, kernel, n, work,
  *args)`` does both, and ``call``'s fallback. Not numba's ``prange``: its OpenMP/TBB workers spin while idle
  whatever the machine's load, which on shared cores takes time from BLAS and from other processes. The
  pool's workers (``_Worker``) poll for their next job for SPIN_SECONDS, GIL released, and only then sleep:
  on a virtual machine a thread woken from sleep after a few idle milliseconds started 230-350 µs later
  (measured; 14 µs when it had just run), several times per training step. Jobs split only while the thread
  policy finds cores free, so beside a busy process nothing polls;
- ``run_images(fn, n, work)``: a job over n independent images (a convolution a block of images at a time),
  split over the threads with every product in it on one BLAS thread; ``product(a, b)``: a matrix product
  split by rows (or columns) in a step that runs on shendu's own threads;
- ``one_blas_thread()``: small per-step products on one BLAS thread (a recurrence's time loop).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np

from shendu import backend

MIN_PART_WORK = 2 ** 17     # element operations a worker thread must get to pay for waking it (~30-50 µs)
# Whether jobs split over threads: in a step that runs on shendu's own threads (backend._ThreadPolicy.own: the
# step before had convolutions or loops to split over images), or always with SHENDU_SPLIT_KERNELS=1 (the tests;
# =0 never). A split kernel gives the one-part values bit for bit; a convolution's dK, summed over images part
# by part in image order, and a product split by columns (``product``) may differ in the last bits. Measured at
# 2 threads: splitting while OpenBLAS threads the products lost (CNN 13.6 -> 18.7 ms: OpenBLAS's idle threads
# spin ~0.1 s after a product, on the core the second part needs); splitting everything on this pool with BLAS
# on one thread won for convolutions (DCGAN step 76 -> 71 ms, CNN predict 17.6 -> 14.5) but lost for the MLP
# (1.47 -> 2.30 ms: waking a sleeping worker costs 60-200 µs here, and OpenBLAS threads small products better),
# hence the choice per step.
SPLIT = os.environ.get("SHENDU_SPLIT_KERNELS", "0") == "1"
MIN_PRODUCT_WORK = 2 ** 21  # multiply-adds a part of a split matrix product must get (~20-40 µs of one core)

_built = {}         # name -> the kernels make(numba) returned, or None where numba is missing or fails
_blas = []          # threadpoolctl's controller, made on first use (it scans the loaded libraries once)
_pool = []          # [its workers, the process id that made them], made on first parallel use
_pool_lock = threading.Lock()
_pool_busy = threading.Lock()   # held by the run_parts using the workers: another thread's runs its parts itself
SPIN_SECONDS = float(os.environ.get("SHENDU_SPIN_SECONDS", "0.005"))    # how long a waiting thread polls
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
    numba fails to compile it (``call``)."""
    if n < 2 or work < 2 * MIN_PART_WORK or not splitting():
        return call(name, kernel, *args, 0, n)
    return call(name, run_parts, kernel, parts(n, work), args)


def usable(*arrays) -> bool:
    """Whether the kernels take these arrays: NumPy float32/float64, native byte order, one dtype."""
    first = arrays[0].dtype
    return first.char in "fd" and first.isnative and all(a.dtype == first for a in arrays)


def threads() -> int:
    """The threads a kernel may use now: backend's thread policy's count (the cores that other processes
    leave free, at most the BLAS pool's size the process started with), else 1."""
    return max(1, backend._threads.threads() or 1)


def splitting() -> bool:
    """Whether jobs split over threads now: in a step that runs shendu's own threads (backend's policy), or
    always with SHENDU_SPLIT_KERNELS=1."""
    return SPLIT or backend._threads.own


def parts(n: int, work: int, most: int | None = None):
    """Ranges (r0, r1) of n independent rows for ``threads()`` threads (or ``most``), at most one per
    ``MIN_PART_WORK`` of ``work`` (the element operations of all n rows), so tiny arrays stay on one thread;
    one range inside a part of a split job (the pool's threads are busy: a nested split would wait on them)."""
    if not splitting() or getattr(_inside, "part", False):   # off, or inside a part (its threads are all taken)
        return [(0, n)]
    count = threads() if most is None else most
    count = max(1, min(count, n, work // MIN_PART_WORK))
    edges = [n * k // count for k in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def run_parts(kernel, parts, args=()) -> None:
    """``kernel(*args, r0, r1)`` for each range (r0, r1) of ``parts``: the first in this thread, the others on
    the worker pool (the kernels must be ``nogil``). ``args`` is a tuple, or a function of the part's index
    returning one (e.g. each part's own output). Errors of any part are raised here. While another thread's
    job holds the pool (layers called from several threads), this one runs its parts one after another."""
    if callable(args):
        get = args
    else:
        def get(p):
            return args
    if len(parts) == 1 or not _pool_busy.acquire(blocking=False):
        for p, part in enumerate(parts):
            kernel(*get(p), *part)
        return
    try:
        workers = _workers(len(parts) - 1)
        posted = []
        try:
            for worker, (p, part) in zip(workers, enumerate(parts[1:], 1)):
                worker.post(kernel, (*get(p), *part))
                posted.append(worker)
            _part(kernel, *get(0), *parts[0])
        finally:
            errors = [error for error in (worker.wait() for worker in posted) if error is not None]
        if errors:
            raise errors[0]
    finally:
        _pool_busy.release()


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
    the core. ``fn`` must write only its own images' outputs (or its own part's partial sums). Such a job
    makes the next step run on shendu's own threads (``backend._ThreadPolicy``)."""
    if n > 1 and work >= 2 * MIN_PART_WORK and not getattr(_inside, "part", False):
        backend._threads.note_split()
    ranges = parts(n, work)
    if len(ranges) == 1:
        fn(0, n)
        return
    with blas_one_thread_for_parts():
        run_parts(fn, ranges)


def _build_spin(numba):
    @numba.njit(cache=True, nogil=True)
    def spin(flags, i, value, polls, counter):
        # poll until flags[i] == value, at most ``polls`` times; True if it got there. The store to counter (an
        # array LLVM cannot tell apart from flags) makes each poll read flags[i] again
        n = 0
        while flags[i] != value:
            n += 1
            counter[0] = n
            if n >= polls:
                return False
        return True

    flags, counter = np.zeros(2, np.int64), np.zeros(1, np.int64)
    spin(flags, 0, 1, 10, counter)                          # compiled (or read from numba's cache) here
    start = time.perf_counter()
    spin(flags, 0, 1, 1 << 20, counter)
    return spin, (1 << 20) / max(time.perf_counter() - start, 1e-9)     # and its polls per second


class _Worker:
    """One worker thread and its job slot. flags = [jobs posted, jobs done]; the worker polls flags[0] with the
    GIL released for SPIN_SECONDS after each job (``_build_spin``), then sleeps on a condition; ``wait`` polls
    flags[1] the same way before sleeping. Without numba both just sleep. ``sleeping`` and ``waiting``, set
    under their condition's lock before the flag is checked, tell the other side to notify."""

    def __init__(self, name: str):
        # NumPy arrays whatever the backend (the polls run in numba); the flags and each side's poll counter on
        # cache lines of their own
        self.flags, self.polls, self.waits = (np.zeros(8, np.int64) for _ in range(3))
        self.job, self.error = None, None
        self.wake, self.done = threading.Condition(), threading.Condition()
        self.sleeping = self.waiting = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    @staticmethod
    def _poll(flags, i, value, counter) -> bool:
        built = build("spin", _build_spin)
        if built is None or SPIN_SECONDS <= 0:
            return flags[i] == value
        spin, rate = built
        return spin(flags, i, value, max(1, int(SPIN_SECONDS * rate)), counter)

    def _loop(self):
        seen = 0
        while True:
            if not self._poll(self.flags, 0, seen + 1, self.polls):
                with self.wake:
                    self.sleeping = True
                    while self.flags[0] != seen + 1:
                        self.wake.wait()
                    self.sleeping = False
            seen += 1
            kernel, args = self.job
            self.job = None
            try:
                _part(kernel, *args)
            except BaseException as error:      # handed to the poster, raised there
                self.error = error
            del kernel, args                    # hold no arrays while idle
            self.flags[1] = seen
            if self.waiting:
                with self.done:
                    self.done.notify()

    def post(self, kernel, args) -> None:
        self.job = (kernel, args)
        self.flags[0] += 1
        if self.sleeping:
            with self.wake:
                self.wake.notify()

    def wait(self):
        """Wait for the posted job; its error, or None."""
        target = self.flags[0]
        if not self._poll(self.flags, 1, target, self.waits):
            with self.done:
                self.waiting = True
                while self.flags[1] != target:
                    self.done.wait()
                self.waiting = False
        error, self.error = self.error, None
        return error


def _workers(count: int) -> list:
    """At least ``count`` workers: new ones when there are too few, or all new after a fork (the inherited
    ones' threads did not come along: their jobs would never run)."""
    with _pool_lock:
        if not _pool or _pool[1] != os.getpid():
            _pool[:] = [[], os.getpid()]
        workers = _pool[0]
        while len(workers) < count:
            workers.append(_Worker(f"shendu-kernel-{len(workers)}"))
        return workers[:count]


def one_blas_thread():
    """Run small per-step matmuls (e.g. (64, 64) @ (64, 256)) on one BLAS thread: waking a thread pool for
    each costs more than it saves, many times more on a busy machine. Yields threadpoolctl's limiter (its
    ``get_original_num_threads()`` says what the pool had), or None. A no-op without threadpoolctl or NumPy."""
    if backend.xp.__name__ != "numpy":
        return contextlib.nullcontext()
    backend._threads.threads()      # the policy reads the thread count the process started with before any limit
    if not _blas:
        try:
            import threadpoolctl      # optional dependency, imported on first use
            _blas.append(threadpoolctl.ThreadpoolController())
        except ImportError:  # pragma: no cover - threadpoolctl comes with the "fast" extra
            _blas.append(None)
    return _blas[0].limit(limits=1, user_api="blas") if _blas[0] is not None else contextlib.nullcontext()


def blas_one_thread_for_parts():
    """BLAS on one thread while the parts of a split job run: ``backend.hold_blas`` in a step on shendu's own
    threads (there it is on one thread already: free), else threadpoolctl's limiter."""
    return backend.hold_blas() if backend._threads.own else one_blas_thread()


def rescan_blas() -> None:
    """Forget threadpoolctl's list of libraries: one just loaded (SciPy's BLAS, with numba) must be limited too."""
    _blas.clear()
    backend._threads.rescan()


def _rows_product(a, b, out, r0, r1):
    """out[r0:r1] = a[r0:r1] @ b: one part of ``product`` (NumPy releases the GIL inside BLAS)."""
    backend.xp.matmul(a[r0:r1], b, out=out[r0:r1])


def _cols_product(a, b, out, c0, c1):
    """out[:, c0:c1] = a @ b[:, c0:c1]: one part of ``product`` when ``a`` has fewer rows than ``b`` columns."""
    backend.xp.matmul(a, b[:, c0:c1], out=out[:, c0:c1])


def _inner_product(a, b, partial, p, k0, k1):
    """partial[p] = a[:, k0:k1] @ b[k0:k1]: one part of ``product`` split over its inner sum."""
    backend.xp.matmul(a[:, k0:k1], b[k0:k1], out=partial[p])


def product(a, b, out=None):
    """a @ b for 2-D arrays; in a step on shendu's own threads (where BLAS runs one), split over them, each part
    a one-thread BLAS call making its own rows of the result (or its own columns, when ``a`` has fewer rows
    than ``b`` columns): each element is the same dot product as in one call (by rows, the same bits here; by
    columns, BLAS may pick another kernel for the narrower panel and round the last bit differently). A wide
    product (a weight gradient xᵀ dz: a few rows and columns, a long sum over the batch) splits its sum
    instead, each part's partial product then added in order: by rows or columns each thread would read all
    of the long operands. One plain call otherwise, for a small product, or inside a part of another split job."""
    xp = backend.xp
    if a.shape[1] == 1:     # an outer product (a Dense(1)'s dx): each element one multiply, as in BLAS, whose
        return xp.multiply(a, b) if out is None else xp.multiply(a, b, out=out)   # K = 1 GEMM is ~8x slower
    count = 1
    M, K = a.shape
    N = b.shape[1]
    if splitting() and xp.__name__ == "numpy" and not getattr(_inside, "part", False):
        count = min(threads(), (M * K * N) // MIN_PRODUCT_WORK, max(M, N, K // 4) // 8)
    if count < 2:
        return xp.matmul(a, b) if out is None else xp.matmul(a, b, out=out)
    if K > 4 * max(M, N):                               # split the long sum
        edges = [K * k // count for k in range(count + 1)]
        partial = xp.empty((count, M, N), xp.result_type(a, b))
        with blas_one_thread_for_parts():
            run_parts(_inner_product, list(zip(edges[:-1], edges[1:])), lambda p: (a, b, partial, p))
        total = partial[0]
        for p in range(1, count):
            total += partial[p]
        if out is None:
            return total
        out[...] = total
        return out
    if out is None:
        out = xp.empty((a.shape[0], b.shape[1]), xp.result_type(a, b))
    size, kernel = (a.shape[0], _rows_product) if a.shape[0] >= b.shape[1] else (b.shape[1], _cols_product)
    edges = [size * k // count for k in range(count + 1)]
    with blas_one_thread_for_parts():
        run_parts(kernel, list(zip(edges[:-1], edges[1:])), (a, b, out))
    return out
