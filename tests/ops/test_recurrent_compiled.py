"""shendu/ops/recurrent_compiled.py: the recurrent ops' work split over threads.

- ``batch_parts``: the row ranges, one per allowed thread, cover the batch once;
- ``matmul``: the all-steps products in parts (by rows, or by the inner sum) give the values of one a @ b;
- ``run``: a split job marks its step as one on shendu's threads (backend's policy), one part does not.
"""
from __future__ import annotations

import numpy as np
import pytest

from shendu import backend
from shendu.ops import compiled, recurrent_compiled


def test_batch_parts_cover_the_batch_once(monkeypatch):
    for threads, B, want in [(1, 64, [(0, 64)]), (2, 64, [(0, 32), (32, 64)]), (4, 20, [(0, 20)])]:  # >= 16 rows
        monkeypatch.setattr(compiled, "threads", lambda: threads)
        assert recurrent_compiled.batch_parts(B) == want
    monkeypatch.setattr(compiled, "threads", lambda: 3)
    parts = recurrent_compiled.batch_parts(67)
    assert len(parts) == 3 and parts[0][0] == 0 and parts[-1][1] == 67
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, K, N, transposed", [(1, 1, 1, False), (37, 5, 12, False), (64, 300, 24, True),
                                                 (40, 3, 1, True)])
def test_all_steps_matmul_split_over_threads_matches_the_product(monkeypatch, dtype, M, K, N, transposed):
    """An all-steps product in parts on the loops' thread pool: the same values as one a @ b."""
    rng = np.random.default_rng(M + K + N)
    a = (rng.standard_normal((K, M)).T if transposed else rng.standard_normal((M, K))).astype(dtype)  # xᵀ views too
    b = rng.standard_normal((K, N)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    one = recurrent_compiled.matmul(a, b)
    monkeypatch.setattr(recurrent_compiled, "batch_parts",     # by rows of a tall a, by the sum of a wide one
                        lambda n: [(0, n // 3), (n // 3, n // 2), (n // 2, n)])
    split = recurrent_compiled.matmul(a, b)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for got in (one, split):
        assert got.dtype == dtype and got.shape == (M, N)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(K))
    np.testing.assert_allclose(split, one, rtol=tol, atol=tol)


def test_a_split_job_marks_the_step_for_shendus_threads(monkeypatch):
    """Split time loops run on the pool with one-thread BLAS; the step's other products must not leave
    multi-threaded OpenBLAS workers spinning on the cores those parts need, so the next step runs own threads."""
    monkeypatch.setattr(backend._threads, "split_seen", False)
    seen = []
    recurrent_compiled.run(lambda r0, r1: seen.append((r0, r1)), [(0, 4)], ())
    assert seen == [(0, 4)] and not backend._threads.split_seen
    recurrent_compiled.run(lambda r0, r1: seen.append((r0, r1)), [(0, 2), (2, 4)], ())
    assert sorted(seen[1:]) == [(0, 2), (2, 4)] and backend._threads.split_seen
