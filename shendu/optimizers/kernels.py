"""Compiled update kernels: an optimizer's rule as one pass over memory.

Adam written with NumPy is a dozen passes over each weight (subtract, scale, add, square, ...), each
reading and writing the whole array: for a 235,000-weight MLP that is most of the update's time. The loop
here reads g, m, v and w once and writes m, v and w once, with the same float operations in the same
order, so its results are the NumPy formula's bit for bit (no fast-math: no reassociation, no fused
multiply-add). The NumPy formula in ``Adam.update_step`` stays the reference and the fallback: where
numba is missing or cannot compile, or the backend is not NumPy, the optimizers use it; the tests check
each kernel against it.

Both forms flush subnormal moments to zero. Under a zero gradient (a dead ReLU unit) the momentum decays
by beta_1 every step and is subnormal (below ~1.2e-38 in float32) after some 800 steps; x86 CPUs run
arithmetic on subnormal floats 10 to 100 times slower, which made the update of a long-trained MLP several
times slower. TensorFlow and XLA run their CPU kernels in flush-to-zero mode for the same reason. The
weights do not see it: such a moment moves w by less than 1e-30.
"""
from __future__ import annotations

import numpy as np      # inside the kernels only: they run on host arrays (the callers check the backend is NumPy)

from shendu import backend
from shendu.ops import recurrent_compiled as compiled    # its thread pool runs a large weight's update in parts

_compiled: dict = {}


def _compile_adam():
    import numba  # imported lazily: an optional dependency, only these kernels need it

    # error_model="numpy": a division by zero gives inf/nan as NumPy's does, instead of a Python exception
    # check per element that would keep the loop from being vectorised
    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def adam(g, w, m, v, c1, c2, step, eps, tiny, i0, i1):
        # m += (g - m)·c1;  v += (g² - v)·c2;  w -= m·step / (sqrt(v) + eps)   with c = 1 - beta;
        # moments below ``tiny`` (the smallest normal float) become 0; for the flat elements i0 <= i < i1
        n = w.size          # flat views of the range (all are C-contiguous); a loop from 0 is vectorised
        g, w, m, v = g.reshape(n)[i0:i1], w.reshape(n)[i0:i1], m.reshape(n)[i0:i1], v.reshape(n)[i0:i1]
        zero = tiny - tiny                  # a 0 of the arrays' dtype, so the loop stays in that dtype
        for i in range(i1 - i0):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * c1
            vi = v[i] + (gi * gi - v[i]) * c2
            if abs(mi) < tiny:
                mi = zero
            if vi < tiny:
                vi = zero
            m[i] = mi
            v[i] = vi
            w[i] -= mi * step / (np.sqrt(vi) + eps)
    return adam


def kernel(name: str):
    """The compiled kernel ``name`` ('adam'), or None where it cannot run (no numba, not NumPy)."""
    if backend.xp.__name__ != "numpy":
        return None
    fn = _compiled.get(name, False)
    if fn is False:
        try:
            fn = {"adam": _compile_adam}[name]()
        except ImportError:
            fn = None
        _compiled[name] = fn
    return fn


def adam_in_place(g, w, m, v, c1, c2, step, eps, tiny) -> bool:
    """Run the Adam kernel on ``w`` and its slots ``m``, ``v`` (updated in place) when it can; False when
    the caller must use the NumPy formula: no kernel, a dtype other than float32 and float64 (bfloat16,
    float16), or a weight or slot that is not C-contiguous (the kernel walks the arrays' memory in order).
    ``g`` has ``w``'s shape. ``c1``, ``c2``, ``step``, ``eps``, ``tiny`` are scalars of ``w``'s dtype, so the
    arithmetic stays in that dtype."""
    if w.dtype.char not in "fd" or not (w.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous):
        return False
    adam = kernel("adam")
    if adam is None:
        return False
    if g.dtype != w.dtype or not g.flags.c_contiguous:
        g = backend.xp.ascontiguousarray(g, dtype=w.dtype)
    try:
        adam(g, w, m, v, c1, c2, step, eps, tiny, 0, 0 if w.size >= SPLIT else w.size)    # compiles for these types
    except Exception:           # numba could not compile for these types: the NumPy formula still works
        _compiled["adam"] = None
        return False
    if w.size >= SPLIT:
        parts = element_parts(w.size)
        if not compiled.run(adam, parts, lambda p: (g, w, m, v, c1, c2, step, eps, tiny)):
            # cannot happen after the compile above; the element ranges not yet updated are unknown
            raise RuntimeError("shendu: the compiled Adam update failed part-way through a weight.")
    return True


# weights of at least this many elements are updated by all the allowed threads; below it the hand-off to
# the pool costs more than the second core gives (measured at 2 threads: the MLP's 200k-element kernel
# took 1.59 ms/step split against 1.38-1.43 on one thread; the LSTM's 640k embedding gained within noise)
SPLIT = 1 << 20
_BLOCK = 1024        # ... in ranges of whole blocks of this many elements, at least 16 blocks each


def element_parts(n):
    """Ranges (i0, i1) of n flat elements, one per allowed thread (as the recurrent loops split batch rows,
    ``recurrent_compiled.batch_parts``). Each element's update reads and writes only that element, so any
    split gives the one-thread result bit for bit."""
    blocks = compiled.batch_parts(n // _BLOCK)
    edges = [b0 * _BLOCK for b0, _ in blocks] + [n]
    return list(zip(edges[:-1], edges[1:]))
