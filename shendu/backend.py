"""The one seam between shendu and its array library.

Every op reaches arrays through ``backend.xp`` (NumPy today, CuPy later), never through a
NumPy name bound at import, so switching libraries is one assignment in ``set_backend``.
The default float type and the shared random generator live here too.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

import numpy

xp = numpy                      # the array module every op calls
floatx = numpy.float32          # default float type for new tensors and weights
# rng, the generator behind initializers and dropout, is made on first use (``__getattr__`` below): numpy.random
# and the hashing modules it imports are about a tenth of `import shendu`, and a program may never draw a number


def __getattr__(name):
    """``rng`` on first use (a module attribute from then on)."""
    if name == "rng":
        global rng
        rng = xp.random.default_rng()
        return rng
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def set_backend(name) -> None:
    """Choose the array library: 'numpy' (default) or 'cupy', or an array module object with NumPy's API
    (the test suite's strict module, whose arrays refuse implicit conversion to NumPy as CuPy's do)."""
    global xp, rng
    if not isinstance(name, str) and hasattr(name, "ndarray") and hasattr(name, "asarray"):
        xp = name
    elif name == "numpy":
        xp = numpy
    elif name == "cupy":
        import cupy  # imported lazily: only GPU users need it
        xp = cupy
    else:
        raise ValueError(f"Unknown backend {name!r}; expected 'numpy' or 'cupy'.")
    rng = xp.random.default_rng()


def special(name: str):
    """The special function ``name`` (erf, erfinv, gammaln, ...) for the current array library:
    scipy.special's on NumPy, cupyx.scipy.special's on CuPy, else the module's own ``xp.special``.
    Raises ImportError when SciPy (or cupyx) is missing."""
    if xp is numpy:
        import scipy.special  # imported lazily: SciPy is optional (it comes with scikit-learn)
        return getattr(scipy.special, name)
    if getattr(xp, "__name__", "") == "cupy":
        import cupyx.scipy.special  # imported lazily: only GPU users have it
        return getattr(cupyx.scipy.special, name)
    return getattr(xp.special, name)


def set_floatx(dtype) -> None:
    """Set the default float type ('float32' or 'float64')."""
    global floatx
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"floatx must be a float type such as 'float32', got {dtype}.")
    floatx = dtype.type


_ML_DTYPES = ("bfloat16",)


def dtype(name):
    """The array dtype for a name or dtype. 'bfloat16' is not a NumPy type: it comes from the optional
    ml_dtypes package (imported only when asked for), else a TypeError says how to get it."""
    if isinstance(name, str) and ("_from_" in name or name.startswith(("mixed_", "int4", "float8"))):
        kind = "mixed precision" if name.startswith("mixed_") else "quantization"
        raise ValueError(f"dtype {name!r} is a Keras 3 {kind} policy, which shendu does not implement (out of "
                         "scope): use 'float32', 'float64', 'float16' or 'bfloat16'.")
    if isinstance(name, str) and name in _ML_DTYPES:
        try:
            import ml_dtypes  # optional dependency, imported on first use of a bfloat16 dtype
        except ImportError:
            raise TypeError(f"dtype {name!r} needs the ml_dtypes package: pip install ml-dtypes (or "
                            "shendu[bfloat16]); otherwise use 'float16' or 'float32'.") from None
        return numpy.dtype(getattr(ml_dtypes, name))
    return xp.dtype(name)


def is_float(dt) -> bool:
    """True for float dtypes, bfloat16 included (NumPy files it under kind 'V')."""
    dt = numpy.dtype(dt)
    return dt.kind == "f" or dt.name in _ML_DTYPES


def set_seed(seed: int | None) -> None:
    """Reseed the shared generator so initial weights and dropout masks repeat."""
    global rng
    rng = xp.random.default_rng(seed)


def asarray(data, dtype=None):
    """An array of the backend module; Python floats become ``floatx``, float64 arrays stay float64."""
    if isinstance(data, xp.ndarray):
        return data if dtype is None or data.dtype == dtype else data.astype(dtype)
    if dtype is None:
        arr = xp.asarray(data)
        if arr.dtype.kind == "f" and not isinstance(data, numpy.ndarray) and not isinstance(data, numpy.generic):
            arr = arr.astype(floatx)
        return arr
    return xp.asarray(data, dtype=dtype)


def to_numpy(a):
    """A NumPy array from a backend array (a copy only when it lives on another device)."""
    if isinstance(a, numpy.ndarray):
        return a
    return a.get() if hasattr(a, "get") else numpy.asarray(a)


def _keep_large_buffers() -> None:
    """Stop glibc from handing large freed blocks back to the OS.

    A training step frees and re-allocates the same multi-megabyte temporaries (im2col columns,
    activations, gradients) every step. Above glibc's default mmap threshold (128 KiB) each one is
    a fresh mapping that page-faults on first touch, which can cost more than the arithmetic.
    Raising the threshold to its maximum (32 MiB) and the trim threshold keeps them in the heap for
    reuse. Set SHENDU_KEEP_BUFFERS=0 to leave the allocator alone.
    """
    if os.environ.get("SHENDU_KEEP_BUFFERS", "1") == "0" or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)      # M_MMAP_THRESHOLD: the largest value glibc accepts
        libc.mallopt(-1, 1024 * 1024 * 1024)    # M_TRIM_THRESHOLD
    except (OSError, AttributeError):           # not glibc (musl, ...): nothing to tune
        pass


_keep_large_buffers()


class _ThreadPolicy:
    """How many threads shendu's work may use now, and who runs them.

    How many: as many as the cores that other processes leave free. A multi-threaded product waits for
    its slowest thread; on a shared machine (a laptop, a notebook server) a busy neighbour holds one core,
    so one of our threads waits for a time slice every call: a step of small products can run many times
    slower with two threads than with one. So, at most every ``interval`` seconds, the runnable threads of
    the whole machine are counted (/proc/loadavg), our own are subtracted (/proc/self/task), and
    ``current`` becomes the cores left free, never above the thread count the process started with
    (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS: ``ceiling``). Linux only; SHENDU_ADAPT_THREADS=0 turns it off.

    Who: either BLAS threads its own products (``own`` off: its pool is resized to ``current``), or, in a
    step whose convolutions and compiled loops split over images (``own`` on), shendu's worker pool
    (``ops/compiled.py``) runs every split part on ``current`` threads and BLAS runs one thread inside the
    layers and the backward pass (``hold_blas``; ``current`` outside them). Mixing the two loses:
    OpenBLAS's idle threads spin for about 0.1 s after each multi-threaded product, holding the core the
    pool's next part needs, while the pool's threads sleep (and waking one costs 60-200 µs, more than
    OpenBLAS needs for a small product). So a step chooses from what the previous one did: ``own`` when it
    had work to split (``note_split``), else BLAS's threads (an MLP's products). Only with threadpoolctl
    (the "fast" extra); SHENDU_SPLIT_KERNELS=0 keeps ``own`` off.
    """

    interval = 0.25

    def __init__(self):
        self.enabled = (sys.platform.startswith("linux") and os.environ.get("SHENDU_ADAPT_THREADS", "1") != "0")
        self.allowed = os.environ.get("SHENDU_SPLIT_KERNELS", "1") != "0"   # whether ``own`` may be chosen
        self.own = False
        self.split_seen = False     # this step had work that splits over images (``note_split``)
        self.checked = 0.0
        self.busy = 0.0             # smoothed count of other processes' runnable threads
        self.controller = None
        self.started = False
        self.ceiling = self.current = None
        self.setters = None         # each BLAS library's set_num_threads, once found
        self.depth = 0              # nesting of hold_blas
        self.held = False           # the outermost hold set BLAS to one thread
        self.lock = threading.Lock()
        self.stale = False          # a BLAS library was loaded inside a hold: rescan after it

    def _start(self) -> bool:
        self.started = True
        try:
            import threadpoolctl  # imported on first use: an optional dependency (the "fast" extra)
        except ImportError:
            self.enabled = self.allowed = False
            return False
        self.controller = threadpoolctl.ThreadpoolController().select(user_api="blas")
        info = self.controller.info()
        if not info:
            self.enabled = self.allowed = False
            return False
        self.ceiling = self.current = max(i["num_threads"] for i in info)
        self.setters = [lib.set_num_threads for lib in self.controller.lib_controllers]
        return True

    def rescan(self) -> None:
        """Find the BLAS libraries again: one just loaded (SciPy's, with numba) must be held too."""
        if self.controller is None:
            return
        if self.depth > 0:          # inside a hold: rescan once it is released (its restore needs the same list)
            self.stale = True
            return
        self.stale = False
        import threadpoolctl  # imported on first use (see _start)
        self.controller = threadpoolctl.ThreadpoolController().select(user_api="blas")
        self.setters = [lib.set_num_threads for lib in self.controller.lib_controllers]
        if self.current is not None and self.current != self.ceiling:
            self._set_blas(self.current)

    def threads(self) -> int | None:
        """The threads shendu may use now (None: not known, no threadpoolctl or no BLAS found)."""
        if not self.started:
            self._start()
        return self.current

    def note_split(self) -> None:
        """A job of this step could split over images: the next step runs them on shendu's pool (``own``)."""
        self.split_seen = True

    def step(self) -> None:
        """Once a step (a backward pass, a predict batch): choose ``own`` for it from what the last one did."""
        self.own = self.allowed and self.split_seen
        self.split_seen = False

    def _set_blas(self, count: int) -> None:
        for set_threads in self.setters:
            set_threads(count)

    def hold(self) -> None:
        """Enter ``hold_blas``: BLAS on one thread (when ``own``), shendu's pool doing the splitting."""
        with self.lock:                 # layers may run on several threads (a data pipeline's workers)
            self.depth += 1
            if self.depth == 1:
                self.held = bool(self.own and self.setters and self.current > 1)
                if self.held:
                    self._set_blas(1)

    def release(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.held:
                self._set_blas(self.current)        # what BLAS has outside: the cores left free
        if self.depth == 0 and self.stale:
            self.rescan()

    @staticmethod
    def _own_running() -> int:
        running = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                    running += f.read().rsplit(b")", 1)[1].split()[0] == b"R"
            except OSError:
                pass
        return running

    def _others(self) -> int:
        """Runnable threads on the machine now that are not ours."""
        with open("/proc/loadavg") as f:
            machine = int(f.read().split()[3].split("/")[0])
        return max(machine - self._own_running(), 0)

    @staticmethod
    def _cores() -> int:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def update(self) -> None:
        self.step()
        now = time.monotonic()
        if not self.enabled or now - self.checked < self.interval:
            return
        self.checked = now
        if not self.started:
            self._start()
        if self.controller is None:
            return
        try:
            others = self._others()
        except (OSError, ValueError, IndexError):
            self.enabled = False
            return
        self.busy = 0.5 * self.busy + 0.5 * others          # smoothed: one check can catch a passing blip
        want = max(1, min(self.ceiling, self._cores() - int(self.busy + 0.5)))
        if want != self.current:
            with self.lock:
                self.current = want
                if self.depth == 0 or not self.held:    # else the hold's release sets it
                    self._set_blas(want)


_threads = _ThreadPolicy()


class _HoldBlas:
    """``with hold_blas():`` BLAS on one thread inside when the policy runs its own threads (see
    ``_ThreadPolicy``); a nested hold costs two integer updates. A class, not a generator: it wraps every
    outermost layer call and backward pass."""
    __slots__ = ()

    def __enter__(self):
        _threads.hold()

    def __exit__(self, *exc):
        _threads.release()


_HOLD = _HoldBlas()


def hold_blas() -> _HoldBlas:
    """A context in which BLAS runs one thread when shendu's own worker pool splits the step's work."""
    return _HOLD


def fit_threads_to_load() -> None:
    """Resize the BLAS thread pool to the cores other processes leave free (cheap: it looks at most
    four times a second). The training and predict loops call it once per step."""
    _threads.update()
