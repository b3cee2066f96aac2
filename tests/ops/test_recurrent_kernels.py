"""shendu/ops/recurrent.py's LSTM fast paths against the plain NumPy formulas.

- the one-tanh gate step (σ(z) = (1 + tanh(z/2)) / 2 with the σ columns pre-scaled) against separate
  sigmoid and tanh calls, through the whole op's forward;
- the compiled backward factors against the same factors written as whole-array NumPy expressions.
"""
from __future__ import annotations

import numpy as np
import pytest

from shendu import ops
from shendu.ops import recurrent
from shendu.testing import assert_close


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def plain_lstm(x, W, U, b):
    """h_t, c_t of the LSTM, Keras's gate order i, f, c, o, one step at a time."""
    B, T, _ = x.shape
    u = U.shape[0]
    h, c = np.zeros((B, u)), np.zeros((B, u))
    hs = []
    for t in range(T):
        z = x[:, t] @ W + h @ U + b
        i, f, cc, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), sigmoid(z[:, 3 * u:])
        c = f * c + i * cc
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1), h, c


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("B, T, n, u", [(1, 1, 1, 1), (3, 5, 4, 2), (2, 7, 3, 5)])
def test_one_tanh_gate_step_matches_the_formula(dtype, tol, B, T, n, u):
    rng = np.random.default_rng(0)
    x, W, U, b = (rng.standard_normal(s) for s in ((B, T, n), (n, 4 * u), (u, 4 * u), (4 * u,)))
    seq, h, c = ops.lstm(*(a.astype(dtype) for a in (x, W, U, b)), return_sequences=True)
    ref_seq, ref_h, ref_c = plain_lstm(x, W, U, b)
    assert seq.dtype == dtype
    for got, want in ((seq, ref_seq), (h, ref_h), (c, ref_c)):
        assert_close(got, want, atol=tol, rtol=tol)


def test_compiled_factors_match_the_numpy_formula():
    kernel = recurrent._factor_kernel()
    if not kernel:
        pytest.skip("numba is not installed: the NumPy formula is the only path")
    rng = np.random.default_rng(1)
    T, B, u = 4, 3, 5
    G = rng.uniform(0.01, 0.99, (T, B, 4 * u))
    G[..., 3 * u:] = rng.uniform(-0.99, 0.99, (T, B, u))          # c̃ = tanh(...) lies in (-1, 1)
    C, A = rng.standard_normal((T + 1, B, u)), rng.uniform(-0.99, 0.99, (T, B, u))
    S, S_o, K = np.empty((T, B, 3, u)), np.empty((T, B, u)), np.empty((T, B, u))
    kernel(G, C, A, S, S_o, K)
    o, i, f, cc = (G[..., k * u:(k + 1) * u] for k in range(4))
    assert_close(S[:, :, 0], cc * i * (1 - i), atol=1e-15)
    assert_close(S[:, :, 1], C[:-1] * f * (1 - f), atol=1e-15)
    assert_close(S[:, :, 2], i * (1 - cc ** 2), atol=1e-15)
    assert_close(S_o, A * o * (1 - o), atol=1e-15)
    assert_close(K, o * (1 - A ** 2), atol=1e-15)


def test_numpy_factors_match_the_compiled_ones(monkeypatch):
    """With numba absent the LSTM's backward forms the same factors from whole-array NumPy calls."""
    rng = np.random.default_rng(2)
    T, B, u = 3, 2, 4
    G = rng.uniform(0.01, 0.99, (T, B, 4 * u))
    C, A = rng.standard_normal((T + 1, B, u)), rng.uniform(-0.99, 0.99, (T, B, u))
    op = recurrent.LSTM.__new__(recurrent.LSTM)
    op.activation, op.recurrent_activation = "tanh", "sigmoid"
    fast = op._factors(C, G, A)
    monkeypatch.setattr(recurrent, "_factor_kernel", lambda: None)
    plain = op._factors(C, G, A)
    for a, b in zip(fast, plain):
        assert_close(a, b, atol=1e-15)
