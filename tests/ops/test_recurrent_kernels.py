"""shendu/ops/recurrent.py's LSTM fast paths against the plain NumPy formulas.

- the one-tanh gate step (σ(z) = (1 + tanh(z/2)) / 2 with the σ columns pre-scaled) against separate
  sigmoid and tanh calls, through the whole op's forward;
- the compiled tanh of shendu/ops/recurrent_kernels.py against np.tanh;
- the compiled time loops (forward values and every gradient) against the NumPy loops, with masks,
  go_backwards, recurrent dropout, batch 1 and one time step;
- the NumPy loops taking over when the compiled ones cannot run.
"""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import shendu
from shendu import ops
from shendu.ops import recurrent_compiled
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


def _kernels():
    kernels = recurrent_compiled.kernels(np.float32)
    if kernels is None:
        pytest.skip("numba is not installed: the NumPy loops are the only path")
    return kernels


@pytest.mark.parametrize("dtype, ulps", [(np.float32, 3), (np.float64, 4)])
def test_compiled_tanh_matches_numpy(dtype, ulps):
    kernels = _kernels()
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(20000) * 4, np.linspace(-25, 25, 20001), rng.standard_normal(100) * 1e-6,
                        [0.0, 1e-30, -1e-30, 9.0, 9.2, 19.0, 19.2, 1e4, -1e4]]).astype(dtype)
    got = kernels.tanh_array(x, np.empty_like(x))
    want = np.tanh(x.astype(np.float64))
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(dtype).tiny)
    assert rel.max() <= ulps * np.finfo(dtype).eps
    special = np.array([np.inf, -np.inf, np.nan, -0.0], dtype)
    out = kernels.tanh_array(special, np.empty_like(special))
    assert out[0] == 1 and out[1] == -1 and np.isnan(out[2]) and out[3] == 0 and np.signbit(out[3])


def _run_lstm(arrays, dtype, mask, rdrop, go_backwards, return_sequences, seeds, compiled, monkeypatch):
    """Every output and every input gradient of ops.lstm, through the compiled loops or the NumPy ones."""
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setitem(recurrent_compiled._kernels, "module", None)
        ts = [shendu.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        y, h, c = ops.lstm(ts[0], ts[1], ts[2], ts[3], initial_state=ts[4:], mask=mask,
                           go_backwards=go_backwards, return_sequences=return_sequences,
                           recurrent_dropout_mask=None if rdrop is None else rdrop.astype(dtype))
        loss = sum((out * shendu.tensor(s.astype(dtype))).sum() for out, s in zip((y, h, c), seeds))
        loss.backward()
        assert (recurrent_compiled._kernels["module"] is not None) == compiled      # no silent fallback
    return [y.numpy(), h.numpy(), c.numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("B, T, n, u, masked, rdrop, go_backwards, return_sequences", [
    (4, 6, 3, 5, False, False, False, True),
    (4, 6, 3, 5, False, False, False, False),
    (5, 7, 2, 4, True, False, False, True),
    (5, 7, 2, 4, True, False, True, False),
    (3, 5, 4, 3, True, True, False, True),
    (3, 5, 4, 3, False, True, True, True),
    (1, 1, 1, 1, False, False, False, True),
    (1, 4, 2, 3, True, False, False, False),
    (2, 1, 3, 2, True, True, True, True),
])
def test_compiled_lstm_loops_match_the_numpy_loops(dtype, tol, B, T, n, u, masked, rdrop, go_backwards,
                                                   return_sequences, monkeypatch):
    _kernels()
    rng = np.random.default_rng(B * 100 + T * 10 + u)
    arrays = [rng.standard_normal(s) * (0.5 if k else 1.0)
              for k, s in enumerate(((B, T, n), (n, 4 * u), (u, 4 * u), (4 * u,), (B, u), (B, u)))]
    mask = rng.random((B, T)) > 0.35 if masked else None
    drop = (rng.random((B, u)) > 0.4) / 0.6 if rdrop else None
    seeds = [rng.standard_normal((B, T, u) if return_sequences else (B, u)), rng.standard_normal((B, u)),
             rng.standard_normal((B, u))]
    args = (arrays, dtype, mask, drop, go_backwards, return_sequences, seeds)
    fast = _run_lstm(*args, compiled=True, monkeypatch=monkeypatch)
    plain = _run_lstm(*args, compiled=False, monkeypatch=monkeypatch)
    for got, want in zip(fast, plain):
        assert got.dtype == dtype
        assert_close(got, want, atol=tol, rtol=tol)


def test_numpy_loops_take_over_when_the_compiled_ones_fail(monkeypatch):
    _kernels()

    class Broken:
        def lstm_forward(self, *args):
            raise RuntimeError("cannot compile here")

    rng = np.random.default_rng(4)
    x, W, U, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 4), (4, 8), (2, 8), (8,)))
    monkeypatch.setitem(recurrent_compiled._kernels, "module", Broken())
    with pytest.warns(RuntimeWarning, match="NumPy loop"):
        seq, h, c = ops.lstm(x, W, U, b, return_sequences=True)
    assert recurrent_compiled._kernels["module"] is None                  # and the NumPy loops from then on
    ref_seq, ref_h, ref_c = plain_lstm(*(a.astype(np.float64) for a in (x, W, U, b)))
    assert_close(seq, ref_seq, atol=2e-6, rtol=2e-6)
    assert_close(c, ref_c, atol=2e-6, rtol=2e-6)


def test_only_float32_and_float64_numpy_arrays_get_the_compiled_loops():
    _kernels()
    assert recurrent_compiled.kernels(np.float16) is None
    assert recurrent_compiled.kernels(np.float64) is recurrent_compiled.kernels(np.float32) is not None


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_compiled_lstm_loops_split_over_threads_match_the_numpy_loops(dtype, tol, monkeypatch):
    """Row ranges of the batch run in parallel threads: the same values as one range, and as NumPy."""
    _kernels()
    rng = np.random.default_rng(6)
    B, T, n, u = 40, 6, 3, 4
    arrays = [rng.standard_normal(s) * 0.5 for s in ((B, T, n), (n, 4 * u), (u, 4 * u), (4 * u,), (B, u), (B, u))]
    mask, drop = rng.random((B, T)) > 0.3, (rng.random((B, u)) > 0.4) / 0.6
    seeds = [rng.standard_normal((B, T, u)), rng.standard_normal((B, u)), rng.standard_normal((B, u))]
    args = (arrays, dtype, mask, drop, False, True, seeds)
    plain = _run_lstm(*args, compiled=False, monkeypatch=monkeypatch)
    monkeypatch.setattr(recurrent_compiled, "batch_parts", lambda B: [(0, 13), (13, 27), (27, B)])
    split = _run_lstm(*args, compiled=True, monkeypatch=monkeypatch)
    for got, want in zip(split, plain):
        assert_close(got, want, atol=tol, rtol=tol)


def _run_gru(arrays, dtype, mask, rdrop, go_backwards, return_sequences, seeds, compiled, monkeypatch):
    """Every output and every input gradient of ops.gru (reset_after), compiled loops or NumPy ones."""
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setitem(recurrent_compiled._kernels, "module", None)
        ts = [shendu.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        y, h = ops.gru(ts[0], ts[1], ts[2], ts[3], initial_state=ts[4], mask=mask, go_backwards=go_backwards,
                       return_sequences=return_sequences,
                       recurrent_dropout_mask=None if rdrop is None else rdrop.astype(dtype))
        loss = sum((out * shendu.tensor(s.astype(dtype))).sum() for out, s in zip((y, h), seeds))
        loss.backward()
        assert (recurrent_compiled._kernels["module"] is not None) == compiled      # no silent fallback
    return [y.numpy(), h.numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("B, T, n, u, masked, rdrop, go_backwards, return_sequences", [
    (4, 6, 3, 5, False, False, False, True),
    (4, 6, 3, 5, False, False, False, False),
    (5, 7, 2, 4, True, False, True, False),
    (3, 5, 4, 3, True, True, False, True),
    (1, 1, 1, 1, False, False, False, True),
    (2, 1, 3, 2, True, True, True, True),
])
def test_compiled_gru_loops_match_the_numpy_loops(dtype, tol, B, T, n, u, masked, rdrop, go_backwards,
                                                  return_sequences, monkeypatch):
    _kernels()
    rng = np.random.default_rng(B * 100 + T * 10 + u + 7)
    arrays = [rng.standard_normal(s) * (0.5 if k else 1.0)
              for k, s in enumerate(((B, T, n), (n, 3 * u), (u, 3 * u), (2, 3 * u), (B, u)))]
    mask = rng.random((B, T)) > 0.35 if masked else None
    drop = (rng.random((B, u)) > 0.4) / 0.6 if rdrop else None
    seeds = [rng.standard_normal((B, T, u) if return_sequences else (B, u)), rng.standard_normal((B, u))]
    args = (arrays, dtype, mask, drop, go_backwards, return_sequences, seeds)
    fast = _run_gru(*args, compiled=True, monkeypatch=monkeypatch)
    plain = _run_gru(*args, compiled=False, monkeypatch=monkeypatch)
    for got, want in zip(fast, plain):
        assert got.dtype == dtype
        assert_close(got, want, atol=tol, rtol=tol)
    monkeypatch.setattr(recurrent_compiled, "batch_parts", lambda B: [(0, B // 2), (B // 2, B)])
    split = _run_gru(*args, compiled=True, monkeypatch=monkeypatch)          # rows over two threads
    for got, want in zip(split, plain):
        assert_close(got, want, atol=tol, rtol=tol)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_a_forked_child_runs_the_split_loops(monkeypatch):
    """The worker threads do not survive fork: a child makes its own pool instead of waiting forever."""
    _kernels()
    monkeypatch.setattr(recurrent_compiled, "batch_parts", lambda B: [(0, B // 2), (B // 2, B)])
    x, W, U = (np.full(s, 0.1, np.float32) for s in ((4, 3, 2), (2, 8), (2, 8)))
    want = ops.lstm(x, W, U)[0].numpy()                     # the parent's pool exists now
    pid = os.fork()
    if pid == 0:                                            # the child: exit code 0 only if it got the same answer
        signal.alarm(20)
        try:
            os._exit(0 if np.allclose(ops.lstm(x, W, U)[0].numpy(), want) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("frozen", [1, 2, 0])
@pytest.mark.parametrize("variant", ["plain", "masked, backwards, recurrent dropout"])
def test_lstm_gradients_with_a_frozen_input(frozen, variant):
    """Backward forms dW and dU in one product from [x_t | h_{t-1}] when both are asked for; each alone
    (its own product) gives the same values, also with a mask, go_backwards and a recurrent dropout mask."""
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s) * 0.5 for s in ((3, 5, 4), (4, 12), (3, 12), (12,))]
    extra = {}
    if variant != "plain":
        extra = dict(mask=rng.random((3, 5)) > 0.3, go_backwards=True,
                     recurrent_dropout_mask=(rng.random((3, 3)) > 0.4) / 0.6)
    full = [shendu.tensor(a, requires_grad=True) for a in arrays]
    ops.lstm(*full, return_sequences=True, **extra)[0].sum().backward()
    part = [shendu.tensor(a, requires_grad=k != frozen) for k, a in enumerate(arrays)]
    ops.lstm(*part, return_sequences=True, **extra)[0].sum().backward()
    for k, (a, b) in enumerate(zip(full, part)):
        if k == frozen:
            assert b.grad is None
        else:
            assert_close(b.grad.numpy(), a.grad.numpy(), atol=1e-12, rtol=1e-12)
