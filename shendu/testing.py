"""Finite-difference gradient checking, public so learners can test their own ops and layers."""
from __future__ import annotations

import numpy as np

from shendu import autograd, backend
from shendu.tensor import Tensor


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dF/dx by central differences: (F(x + eps) - F(x - eps)) / (2 eps), one element at a time."""
    g = np.zeros(x.shape, x.dtype)  # on the host: one number per element (x may be a device array)
    for i in np.ndindex(x.shape):   # index x itself: reshape(-1) of a non-contiguous x is a copy, not a view
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-4, seed: int = 0) -> bool:
    """Compare the analytic gradients of ``fn(*inputs)`` with central differences, in float64.

    ``fn`` returns a Tensor of any shape; it is projected on a fixed random direction v so that
    one backward pass checks every output. Float inputs (arrays or Tensors) are differentiated,
    integer inputs are passed through. Raises AssertionError naming the input and the worst
    element when the two disagree by more than ``atol + rtol * |numeric|``; returns True otherwise.
    """
    tensors = []
    for x in inputs:
        a = x.numpy() if isinstance(x, Tensor) else backend.to_numpy(x) if isinstance(x, backend.xp.ndarray) \
            else np.asarray(x)
        if a.dtype.kind == "f":
            tensors.append(Tensor(a.astype(np.float64), requires_grad=True))
        else:
            tensors.append(Tensor(a))
    y = fn(*tensors)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck: fn must return a shendu Tensor, got {type(y).__name__}.")
    if y.dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned dtype {y.dtype}; it must keep float64 inputs in float64 "
                        "(a float32 cast inside fn makes finite differences meaningless).")
    v = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(v)

    def projected():
        with autograd.no_grad():
            return float((fn(*tensors).numpy() * v).sum())

    for k, t in enumerate(tensors):
        if not t.requires_grad:
            continue
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        numeric = numerical_grad(projected, t.data, eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        err = np.where(np.isnan(err), np.inf, err)     # a NaN gradient is a failure, never a pass
        if err.size and err.max() > 0:
            i = np.unravel_index(int(np.argmax(err)), err.shape)
            raise AssertionError(
                f"gradcheck failed for input {k} (shape {t.shape}): at index {tuple(int(j) for j in i)} the "
                f"analytic gradient is {analytic[i]:.10g} but finite differences give {numeric[i]:.10g} "
                f"(|difference| {abs(analytic[i] - numeric[i]):.3g} > atol {atol} + rtol {rtol} * |numeric|).")
    return True


def assert_close(actual, expected, atol: float = 1e-6, rtol: float = 1e-5, name: str = "value") -> None:
    """Assert two arrays agree elementwise, reporting the worst element when they do not."""
    a = np.asarray(actual.numpy() if isinstance(actual, Tensor) else actual, dtype=np.float64)
    b = np.asarray(expected.numpy() if isinstance(expected, Tensor) else expected, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"{name}: shape {a.shape} differs from expected {b.shape}.")
    with np.errstate(invalid="ignore"):
        err = np.abs(a - b) - (atol + rtol * np.abs(b))
    # equal values (inf == inf) and NaN against NaN match; any other NaN is a failure, never a pass
    err = np.where((a == b) | (np.isnan(a) & np.isnan(b)), 0.0, np.where(np.isnan(err), np.inf, err))
    if err.size and err.max() > 0:
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        raise AssertionError(f"{name}: at index {tuple(int(j) for j in i)} got {a[i]:.10g}, expected {b[i]:.10g} "
                             f"(max |difference| {np.abs(a - b).max():.3g}).")
