"""shendu/numpy_api/linalg.py: products, norms and the inverse family against NumPy, gradient-checked;
factorizations as constants."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, cases, check_row, signed

from shendu.numpy_api import linalg as npl


def _spd(rng, shape):
    """Symmetric positive-definite (batched) matrices."""
    a = rng.uniform(-1, 1, shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _slogdet_log(x):
    return np.linalg.slogdet(x)[1]


ROWS = [
    Row("matmul", npl.matmul, np.matmul, [((2, 3), (3, 4)), ((2, 2, 3), (3,)), ((3,), (3,))]),
    Row("dot", npl.dot, np.dot, [((2, 3), (3, 4)), ((3,), (3,)), ((2, 3, 4), (5, 4, 2)), ((), (3,)), ((2, 3), (3,))]),
    Row("tensordot", npl.tensordot, np.tensordot, [((2, 3, 4), (3, 4, 5))]),
    Row("tensordot_axes", lambda a, b: npl.tensordot(a, b, ([0, 2], [1, 0])),
        lambda a, b: np.tensordot(a, b, ([0, 2], [1, 0])), [((2, 3, 4), (4, 2, 5))]),
    Row("tensordot_1", lambda a, b: npl.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1),
        [((2, 3), (3, 4))]),
    Row("einsum", lambda a, b: npl.einsum("ij,kj->ik", a, b), lambda a, b: np.einsum("ij,kj->ik", a, b),
        [((2, 3), (4, 3))]),
    Row("inner", npl.inner, np.inner, [((2, 3), (4, 3)), ((3,), (3,))]),
    Row("outer", npl.outer, np.outer, [((3,), (4,)), ((2, 2), (3,))]),
    Row("vdot", npl.vdot, np.vdot, [((2, 3), (2, 3))]),
    Row("kron", npl.kron, np.kron, [((2, 3), (2, 2)), ((3,), (2,))]),
    Row("cross", npl.cross, np.cross, [((4, 3), (4, 3)), ((3,), (2, 3))]),
    Row("norm", npl.norm, np.linalg.norm, [((3, 4),), ((5,),)]),
    Row("norm_axis", lambda x: npl.norm(x, axis=1, keepdims=True), lambda x: np.linalg.norm(x, axis=1,
                                                                                             keepdims=True),
        [((3, 4),)]),
    Row("norm_1", lambda x: npl.norm(x, 1), lambda x: np.linalg.norm(x, 1), [((5,),), ((3, 4),)],
        domain=signed(0.1, 2.0)),
    Row("norm_inf", lambda x: npl.norm(x, np.inf), lambda x: np.linalg.norm(x, np.inf), [((5,),), ((3, 4),)],
        domain=signed(0.1, 2.0)),
    Row("norm_neg_inf", lambda x: npl.norm(x, -np.inf, axis=-1), lambda x: np.linalg.norm(x, -np.inf, axis=-1),
        [((3, 5),)], domain=signed(0.1, 2.0)),
    Row("norm_p3", lambda x: npl.norm(x, 3), lambda x: np.linalg.norm(x, 3), [((5,),)], domain=signed(0.1, 2.0)),
    Row("norm_fro", lambda x: npl.norm(x, "fro", (1, 2)), lambda x: np.linalg.norm(x, "fro", (1, 2)),
        [((2, 3, 4),)]),
    Row("norm_matrix_neg1", lambda x: npl.norm(x, -1), lambda x: np.linalg.norm(x, -1), [((3, 4),)],
        domain=signed(0.1, 2.0)),
    Row("inv", npl.inv, np.linalg.inv, [((3, 3),), ((2, 2, 2),)], domain=_spd),
    Row("solve", npl.solve, np.linalg.solve, [((3, 3), (3, 2)), ((3, 3), (3,))], domain=[_spd, (-2.0, 2.0)]),
    Row("solve_triangular", lambda a, b: npl.solve_triangular(a, b, lower=True),
        lambda a, b: np.linalg.solve(np.tril(a), b), [((3, 3), (3, 2))], domain=[_spd, (-2.0, 2.0)]),
    Row("solve_triangular_upper", lambda a, b: npl.solve_triangular(a, b),
        lambda a, b: np.linalg.solve(np.triu(a), b), [((3, 3), (3,))], domain=[_spd, (-2.0, 2.0)]),
    Row("det", npl.det, np.linalg.det, [((3, 3),), ((2, 2, 2),)], domain=_spd),
    Row("logdet", npl.logdet, lambda x: np.log(np.linalg.det(x)), [((3, 3),)], domain=_spd),
    Row("slogdet", lambda x: npl.slogdet(x)[1], _slogdet_log, [((3, 3),)], domain=_spd),
    Row("cdist", npl.cdist, lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)), [((3, 2), (4, 2))]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_numpy_linalg_table(backend, row, shapes):
    check_row(row, shapes)


def test_factorizations_match_numpy_as_constants():
    a = _spd(np.random.default_rng(0), (3, 3))
    L = npl.cholesky(a)
    assert not L.requires_grad
    np.testing.assert_allclose(L.numpy(), np.linalg.cholesky(a))
    np.testing.assert_allclose(npl.cholesky(a, upper=True).numpy(), np.linalg.cholesky(a).T)
    q, r = npl.qr(a)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)
    np.testing.assert_allclose(npl.svd(a, compute_uv=False).numpy(), np.linalg.svd(a, compute_uv=False))
    np.testing.assert_allclose(npl.eigh(a)[0].numpy(), np.linalg.eigh(a)[0])
    np.testing.assert_allclose(np.sort(npl.eig(a)[0].numpy().real), np.linalg.eigh(a)[0], atol=1e-10)
    b = np.arange(3.0)
    np.testing.assert_allclose(npl.lstsq(a, b).numpy(), np.linalg.lstsq(a, b, rcond=None)[0])
    np.testing.assert_allclose(npl.pinv(a).numpy(), np.linalg.pinv(a))
    assert int(npl.matrix_rank(a).numpy()) == 3
    np.testing.assert_allclose(npl.norm(a, "nuc").numpy(), np.linalg.norm(a, "nuc"))
    np.testing.assert_allclose(npl.norm(a, 2).numpy(), np.linalg.norm(a, 2))


def test_linalg_errors_name_the_fix():
    with pytest.raises(ValueError, match="last axis only"):
        npl.cross(np.ones((3, 2)), np.ones((3, 2)), axis=0)
    with pytest.raises(TypeError, match="no keyword arguments"):
        npl.einsum("ij->", np.ones((2, 2)), optimize=True)
    with pytest.raises(ValueError, match="unknown matrix ord"):
        npl.norm(np.ones((2, 2)), 3)
