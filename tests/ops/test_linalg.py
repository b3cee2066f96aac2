"""shendu/ops/linalg.py: matmul (2-D, batched with broadcasting, vectors) and the fused linear z = xW + b."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, assert_every_op_has_a_row, cases, check_row

import shendu as sd
from shendu import ops
from shendu.ops import linalg

ROWS = [
    Row("matmul_2d", ops.matmul, np.matmul, [((3, 4), (4, 5)), ((1, 4), (4, 1)), ((1, 1), (1, 1)), ((5, 3), (3, 7))]),
    Row("matmul_batched", ops.matmul, np.matmul, [((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
                                                  ((2, 1, 3, 4), (5, 4, 2)), ((1, 3, 4), (2, 4, 1))]),
    Row("matmul_vec_mat", ops.matmul, np.matmul, [((4,), (4, 5)), ((4,), (2, 4, 3)), ((1,), (1, 3))]),
    Row("matmul_mat_vec", ops.matmul, np.matmul, [((3, 4), (4,)), ((2, 3, 4), (4,)), ((1, 1), (1,))]),
    Row("matmul_vec_vec", ops.matmul, np.matmul, [((4,), (4,)), ((1,), (1,))]),
    Row("matmul_operator", lambda a, b: a @ b, lambda a, b: a @ b, [((3, 4), (4, 2))]),
    Row("linear_bias", ops.linear, lambda x, W, b: x @ W + b, [((3, 4), (4, 5), (5,)), ((1, 4), (4, 1), (1,)),
                                                               ((2, 3, 4), (4, 5), (5,)), ((4,), (4, 2), (2,))]),
    Row("linear_no_bias", ops.linear, lambda x, W: x @ W, [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((1, 1), (1, 3))]),
    Row("linear_relu", lambda x, W, b: ops.linear(x, W, b, relu=True), lambda x, W, b: np.maximum(x @ W + b, 0),
        [((3, 4), (4, 5), (5,)), ((1, 4), (4, 1), (1,)), ((2, 3, 4), (4, 5), (5,)), ((4,), (4, 2), (2,))]),
    Row("linear_relu_no_bias", lambda x, W: ops.linear(x, W, relu=True), lambda x, W: np.maximum(x @ W, 0),
        [((3, 4), (4, 5)), ((1, 1), (1, 3))]),
]


def _well_conditioned(rng, shape):
    """Square matrices near 3 I: invertible, with a modest condition number."""
    return rng.uniform(-1, 1, shape) + 3 * np.eye(shape[-1])


def _einsum_row(name, subscripts, shapes):
    return Row(f"einsum_{name}", lambda *xs: ops.einsum(subscripts, *xs), lambda *xs: np.einsum(subscripts, *xs),
               shapes)


ROWS += [
    _einsum_row("matmul", "ij,jk->ik", [((3, 4), (4, 5)), ((1, 1), (1, 1))]),
    _einsum_row("implicit", "ij,jk", [((3, 4), (4, 2))]),
    _einsum_row("batched", "bij,bjk->bik", [((2, 3, 4), (2, 4, 5)), ((1, 1, 3), (1, 3, 1))]),
    _einsum_row("ellipsis", "...j,jk->...k", [((2, 3, 4), (4, 5)), ((4,), (4, 2))]),
    _einsum_row("outer", "i,j->ij", [((3,), (4,))]),
    _einsum_row("sum_all", "ij->", [((3, 4),)]),
    _einsum_row("only_left_letter", "ij,j->j", [((3, 4), (4,))]),
    _einsum_row("trace", "ii->", [((3, 3),)]),
    _einsum_row("diagonal", "ii->i", [((4, 4),)]),
    _einsum_row("three_operands", "ij,jk,kl->il", [((2, 3), (3, 4), (4, 2))]),
    _einsum_row("attention", "bqhd,bkhd->bhqk", [((2, 3, 2, 4), (2, 5, 2, 4))]),
    Row("inv", ops.inv, np.linalg.inv, [((3, 3),), ((1, 1),), ((2, 4, 4),)], domain=_well_conditioned),
    Row("det", ops.det, np.linalg.det, [((3, 3),), ((1, 1),), ((2, 2, 2),)], domain=_well_conditioned),
    Row("solve_matrix", ops.solve, np.linalg.solve, [((3, 3), (3, 2)), ((2, 4, 4), (2, 4, 1)), ((1, 1), (1, 1))],
        domain=[_well_conditioned, (-2.0, 2.0)]),
    Row("solve_vector", ops.solve, np.linalg.solve, [((3, 3), (3,)), ((1, 1), (1,))],
        domain=[_well_conditioned, (-2.0, 2.0)]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_linalg_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_linalg_op_has_a_row():
    assert_every_op_has_a_row(linalg, ROWS)


def test_linear_matches_its_composed_oracle():
    """The fused op agrees with matmul + add, values and gradients (STYLE 4: composed oracle)."""
    rng = np.random.default_rng(1)
    x0, W0, b0 = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    grads = []
    for f in (lambda x, W, b: ops.linear(x, W, b), lambda x, W, b: ops.matmul(x, W) + b):
        ts = [sd.tensor(a, requires_grad=True) for a in (x0, W0, b0)]
        y = f(*ts)
        (y * y).sum().backward()
        grads.append([y.numpy()] + [t.grad.numpy() for t in ts])
    for fused, composed in zip(*grads):
        np.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linear_with_relu_matches_relu_of_linear(dtype):
    """The fused activation against relu(matmul + add), values and gradients, exact zeros included."""
    rng = np.random.default_rng(2)
    x0, W0, b0 = (rng.normal(size=s).astype(dtype) for s in ((2, 3, 4), (4, 5), (5,)))
    b0[0] = -(x0 @ W0)[0, 0, 0]                         # one z exactly 0: relu's kink, gradient 0 as in ReLU
    gy = rng.normal(size=(2, 3, 5)).astype(dtype)
    grads = []
    for f in (lambda x, W, b: ops.linear(x, W, b, relu=True), lambda x, W, b: ops.relu(ops.matmul(x, W) + b)):
        ts = [sd.tensor(a, requires_grad=True) for a in (x0, W0, b0)]
        y = f(*ts)
        (y * gy).sum().backward()
        grads.append([y.numpy()] + [t.grad.numpy() for t in ts])
    tol = 1e-12 if dtype == "float64" else 1e-5
    for fused, composed in zip(*grads):
        assert fused.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fused, composed, rtol=tol, atol=tol)


def test_linear_gives_no_gradient_to_inputs_that_need_none():
    x = sd.tensor(np.ones((2, 3)))
    W = sd.tensor(np.ones((3, 4)), requires_grad=True)
    ops.linear(x, W).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(W.grad.numpy(), np.full((3, 4), 2.0))


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\) @ \(5, 6\)"):
        ops.matmul(sd.tensor(np.zeros((3, 4))), sd.tensor(np.zeros((5, 6))))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
        sd.tensor(np.zeros((3, 4))) @ sd.tensor(np.zeros(5))
    with pytest.raises(ValueError, match="at least one axis"):
        ops.matmul(sd.tensor(2.0), sd.tensor(np.zeros(3)))


def test_linear_feature_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        ops.linear(sd.tensor(np.zeros((2, 3))), sd.tensor(np.zeros((4, 5))))


def test_einsum_and_solve_explain_bad_arguments():
    with pytest.raises(ValueError, match="name 2 operands but 1"):
        ops.einsum("ij,jk->ik", np.ones((2, 2)))
    with pytest.raises(ValueError, match="term 'ijk' names 3 axes"):
        ops.einsum("ijk->i", np.ones((2, 2)))
    with pytest.raises(ValueError, match="square matrices"):
        ops.inv(np.ones((2, 3)))
