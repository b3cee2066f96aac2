"""shendu/ops/normalization_kernels.py: the compiled batch norm (per channel) and layer norm (per row) loops
against normalization.py's NumPy form, which the layer tests check against Keras and PyTorch.

Outputs, the batch statistics and every gradient on edge shapes (batch 1, one channel, 2-D and 4-D inputs,
an odd row count), float32 and float64, split over threads, a float64 gradcheck, and the fallbacks when
numba fails on the forward or only on the backward.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu.ops import compiled, normalization, normalization_kernels
from shendu.testing import assert_close, gradcheck

pytestmark = pytest.mark.skipif(compiled.build("probe", lambda numba: True) is None, reason="needs numba")

SHAPES = [(4, 5, 6, 3), (1, 3, 3, 1), (7, 16), (2, 9, 1, 5), (1, 1)]


def _run(kind, x, gamma, beta, dtype, seed=1):
    """y, the statistics (batch norm) and the gradients of x, γ, β for a random output gradient."""
    ts = [shendu.tensor(a.astype(dtype), requires_grad=True) for a in (x, gamma, beta)]
    if kind == "batch":
        y, mean, var = normalization.batch_norm(*ts, axis=-1, epsilon=1e-3)
        stats = [mean, var]
    else:
        y, stats = normalization.layer_norm(*ts, axes=(-1,), epsilon=1e-3), []
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    (y * shendu.tensor(g)).sum().backward()
    stats = [s.numpy() if hasattr(s, "numpy") else np.asarray(s) for s in stats]
    return [y.numpy()] + stats + [t.grad.numpy() for t in ts]


def _arrays(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * 2 + 0.5, rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])


@pytest.mark.parametrize("kind", ["batch", "layer"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_compiled_loops_match_the_numpy_form(kind, shape, dtype, tol, monkeypatch):
    arrays = _arrays(shape)
    fast = _run(kind, *arrays, dtype)
    assert normalization_kernels._kernels() is not None                  # no silent fallback
    monkeypatch.setitem(compiled._built, normalization_kernels.NAME, None)
    plain = _run(kind, *arrays, dtype)
    assert len(fast) == len(plain)
    for got, want in zip(fast, plain):
        assert got.dtype == dtype and got.shape == want.reshape(got.shape).shape
        assert_close(got, want.reshape(got.shape), atol=tol, rtol=tol)


@pytest.mark.parametrize("kind", ["batch", "layer"])
def test_compiled_loops_gradcheck(kind):
    x, gamma, beta = (shendu.tensor(a) for a in _arrays((3, 4, 5)))
    if kind == "batch":
        assert gradcheck(lambda x, g, b: normalization.batch_norm(x, g, b, axis=-1)[0], x, gamma, beta)
    else:
        assert gradcheck(lambda x, g, b: normalization.layer_norm(x, g, b), x, gamma, beta)


@pytest.mark.parametrize("kind", ["batch", "layer"])
def test_split_over_threads_matches_one_part(kind, monkeypatch):
    arrays = _arrays((5, 7, 6))
    one = _run(kind, *arrays, np.float64)
    monkeypatch.setattr(compiled, "SPLIT", True)
    monkeypatch.setattr(compiled, "threads", lambda: 3)
    monkeypatch.setattr(compiled, "MIN_PART_WORK", 1)
    split = _run(kind, *arrays, np.float64)
    for got, want in zip(split, one):
        assert_close(got, want, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("kind", ["batch", "layer"])
@pytest.mark.parametrize("failing", ["every loop", "the backward's"])
def test_numba_failures_fall_back_to_the_numpy_form(kind, failing, monkeypatch):
    arrays = _arrays((3, 4, 5))
    want = _run(kind, *arrays, np.float64)
    kernels = normalization_kernels._kernels()
    backward = (kernels[2], kernels[3], kernels[5])
    real = compiled.call

    def call(name, kernel, *args):
        inner = args[0] if kernel is compiled.run_parts else kernel
        if failing == "every loop" or inner in backward:
            return False
        return real(name, kernel, *args)
    monkeypatch.setattr(compiled, "call", call)
    got = _run(kind, *arrays, np.float64)
    for g, w in zip(got, want):
        assert_close(g, w, atol=1e-12, rtol=1e-12)


def test_other_axes_and_shapes_take_the_numpy_form():
    x = shendu.tensor(np.ones((2, 3, 4)), requires_grad=True)
    gamma, beta = shendu.tensor(np.ones((3, 1))), shendu.tensor(np.zeros((3, 1)))
    y, _, _ = normalization.batch_norm(x, gamma, beta, axis=1)       # channels first: not the compiled form
    assert y.creator.compiled is None
    y = normalization.layer_norm(x, shendu.tensor(np.ones((3, 4))), shendu.tensor(np.zeros((3, 4))), axes=(1, 2))
    assert y.creator.compiled is None
    y = normalization.layer_norm(x, shendu.tensor(np.ones(4)), shendu.tensor(np.zeros(4)))
    assert y.creator.compiled == "rows"
