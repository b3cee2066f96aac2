"""shendu/optimizers/kernels.py: each compiled update against the NumPy formula it replaces, bit for bit,
and the fallbacks (no numba, arrays the kernel must not touch)."""
from __future__ import annotations

import numpy as np
import pytest

from shendu import optimizers
from shendu.optimizers import kernels
from shendu.tensor import Tensor

EDGE_SHAPES = [(), (1,), (7,), (33, 5), (1, 1, 3), (0,), (257, 130)]


def _adam_numpy(w, m, v, g, c1, c2, step, eps, tiny):
    """The plain formula, one NumPy operation at a time, subnormal moments flushed to zero."""
    m = m + (g - m) * c1
    v = v + (g * g - v) * c2
    m = np.where(np.abs(m) < tiny, 0, m).astype(m.dtype)
    v = np.where(v < tiny, 0, v).astype(v.dtype)
    return w - m * step / (np.sqrt(v) + eps), m, v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", EDGE_SHAPES)
def test_adam_kernel_matches_the_formula_bit_for_bit(dtype, shape):
    pytest.importorskip("numba")
    rng = np.random.default_rng(sum(shape) + len(shape))
    f, tiny = np.dtype(dtype).type, np.finfo(dtype).tiny
    w, m, g = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = rng.random(shape).astype(dtype)
    v.reshape(-1)[:1] = 0                               # sqrt(0) + eps in the denominator
    dead = w.size > 3
    if dead:                                            # dead units whose moments decay into subnormals
        g.reshape(-1)[1:4] = 0
        m.reshape(-1)[1:4] = [tiny, -tiny * 1.05, tiny / 4]
        v.reshape(-1)[1:4] = [tiny, tiny / 8, 0]
    c1, c2, step, eps = f(0.1), f(0.001), f(0.03), f(1e-7)
    expected = _adam_numpy(w, m, v, g, c1, c2, step, eps, tiny)
    assert kernels.adam_in_place(g, w, m, v, c1, c2, step, eps, tiny)
    for got, want in zip((w, m, v), expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    if dead:                                            # nothing subnormal is left in the moments
        assert not ((m != 0) & (np.abs(m) < tiny)).any() and not ((v != 0) & (v < tiny)).any()
        assert (m.reshape(-1)[1:4] == 0).all()


def test_adam_kernel_declines_what_it_must_not_write_to():
    pytest.importorskip("numba")
    f = np.float32
    w = np.ones((4, 6), np.float32)[:, ::2]             # a strided view: a flat copy would lose the update
    m, v, g = np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32), np.ones((4, 3), np.float32)
    assert not kernels.adam_in_place(g, w, m, v, f(0.1), f(0.001), f(0.01), f(1e-7), np.finfo(f).tiny)
    assert (w == 1).all() and (m == 0).all()
    w16 = np.ones(3, np.float16)
    assert not kernels.adam_in_place(np.ones(3, np.float16), w16, np.zeros(3, np.float16), np.zeros(3, np.float16),
                                     *np.float16([0.1, 0.001, 0.01, 1e-4, 6e-5]))


def test_adam_kernel_reads_a_strided_or_other_dtype_gradient():
    pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    f, tiny = np.float32, np.finfo(np.float32).tiny
    for g in (rng.standard_normal((5, 3)).T, rng.standard_normal((3, 5))):     # F-ordered view; float64
        w, m, v = rng.standard_normal((3, 5)).astype(f), np.zeros((3, 5), f), np.zeros((3, 5), f)
        expected = _adam_numpy(w, m, v, g.astype(f), f(0.1), f(0.001), f(0.01), f(1e-7), tiny)
        assert kernels.adam_in_place(g, w, m, v, f(0.1), f(0.001), f(0.01), f(1e-7), tiny)
        for got, want in zip((w, m, v), expected):
            np.testing.assert_array_equal(got, want)


def _run_adam(dtype, steps=4, **kwargs):
    rng = np.random.default_rng(3)
    shapes = [(9, 4), (4,), (1,)]
    variables = [Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]
    variables.append(Tensor(np.ones((6, 4), dtype)[:, ::2], requires_grad=True))    # non-contiguous: NumPy path
    opt = optimizers.Adam(learning_rate=0.05, **kwargs)
    for _ in range(steps):
        opt.apply([rng.standard_normal(v.shape).astype(dtype) for v in variables], variables)
    return [v.numpy() for v in variables] + opt.get_state()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [{}, {"amsgrad": True}, {"weight_decay": 0.1}])
def test_adam_with_and_without_numba_agree_exactly(dtype, kwargs, monkeypatch):
    fast = _run_adam(dtype, **kwargs)
    monkeypatch.setattr(kernels, "kernel", lambda name: None)     # as where numba is missing
    plain = _run_adam(dtype, **kwargs)
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(a, b)


def test_kernel_is_none_off_numpy(monkeypatch):
    class NotNumpy:
        __name__ = "cupy"
    monkeypatch.setattr(kernels.backend, "xp", NotNumpy())
    assert kernels.kernel("adam") is None


@pytest.mark.parametrize("compiled", [True, False])
def test_moments_of_a_dead_unit_end_at_zero_not_subnormal(compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(kernels, "kernel", lambda name: None)
    w = Tensor(np.ones(5, np.float32), requires_grad=True)
    opt = optimizers.Adam(learning_rate=0.01)
    opt.apply([np.full(5, 1e-3, np.float32)], [w])
    for _ in range(900):                               # then the unit is dead: zero gradients
        opt.apply([np.zeros(5, np.float32)], [w])
    m, v = opt.slots(w)
    assert (m == 0).all()                              # 0.9^900 · 1e-4 is far below float32's normal range
    assert (v > np.finfo(np.float32).tiny).all()       # 0.999^900 · 1e-9 is still a normal float


def test_float16_moments_keep_their_subnormals():
    """float16 subnormals cost nothing extra (NumPy computes float16 through float32), and 6e-5, float16's
    smallest normal, is an ordinary moment size there: nothing is flushed."""
    w = Tensor(np.ones(3, np.float16), requires_grad=True)
    opt = optimizers.Adam(learning_rate=0.01)
    opt.apply([np.full(3, 3e-5, np.float16)], [w])
    m, _ = opt.slots(w)
    assert (m > 0).all() and (m < np.finfo(np.float16).tiny).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_kernel_split_over_threads_equals_one_thread_bit_for_bit(monkeypatch, dtype):
    pytest.importorskip("numba")
    from shendu.ops import recurrent_compiled
    rng = np.random.default_rng(11)
    f, tiny = np.dtype(dtype).type, np.finfo(dtype).tiny
    shape = (37, 129)                                   # odd sizes: the ranges end mid-row and off any alignment
    w, m, g = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = rng.random(shape).astype(dtype)
    g[5, :9] = 0
    m[5, :9] = tiny / 4
    args = f(0.1), f(0.001), f(0.03), f(1e-7), tiny
    one = [a.copy() for a in (w, m, v)]
    assert kernels.adam_in_place(g, *one, *args)
    monkeypatch.setattr(kernels, "SPLIT", 0)
    monkeypatch.setattr(kernels, "_BLOCK", 7)
    monkeypatch.setattr(recurrent_compiled, "batch_parts", lambda n: [(0, 1), (1, n // 2), (n // 2, n)])
    assert kernels.element_parts(w.size) == [(0, 7), (7, 7 * (w.size // 7 // 2)), (7 * (w.size // 7 // 2), w.size)]
    split = [a.copy() for a in (w, m, v)]
    assert kernels.adam_in_place(g, *split, *args)
    for a, b in zip(split, one):
        np.testing.assert_array_equal(a, b)
    for got, want in zip(split, _adam_numpy(w, m, v, g, *args)):
        np.testing.assert_array_equal(got, want)
