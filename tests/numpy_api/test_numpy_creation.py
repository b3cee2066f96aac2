"""shendu/numpy_api/creation.py: new tensors with NumPy's values and Keras 3's dtypes."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu.numpy_api import creation as npc


@pytest.mark.parametrize("got, expected, dtype", [
    (lambda: npc.arange(5), np.arange(5), "int32"),
    (lambda: npc.arange(1, 7, 2), np.arange(1, 7, 2), "int32"),
    (lambda: npc.arange(0.0, 1.0, 0.25), np.arange(0, 1, 0.25), "float32"),
    (lambda: npc.arange(3, dtype="float64"), np.arange(3.0), "float64"),
    (lambda: npc.zeros((2, 3)), np.zeros((2, 3)), "float32"),
    (lambda: npc.ones(4, "int32"), np.ones(4), "int32"),
    (lambda: npc.empty((2,)), np.zeros(2), "float32"),
    (lambda: npc.full((2, 2), 3), np.full((2, 2), 3.0), "float32"),
    (lambda: npc.zeros_like(np.ones((2, 3), "int64")), np.zeros((2, 3)), "int64"),
    (lambda: npc.ones_like(np.ones(2), dtype="float32"), np.ones(2), "float32"),
    (lambda: npc.empty_like(np.ones(2)), np.zeros(2), "float64"),
    (lambda: npc.full_like(np.ones((2, 1)), 7.5), np.full((2, 1), 7.5), "float64"),
    (lambda: npc.eye(3, 4, 1), np.eye(3, 4, 1), "float32"),
    (lambda: npc.identity(2), np.eye(2), "float32"),
    (lambda: npc.tri(3, 2, -1), np.tri(3, 2, -1), "float32"),
    (lambda: npc.linspace(0, 1, 5), np.linspace(0, 1, 5), "float32"),
    (lambda: npc.linspace(0, 1, 4, endpoint=False), np.linspace(0, 1, 4, endpoint=False), "float32"),
    (lambda: npc.logspace(0, 2, 3), np.logspace(0, 2, 3), "float32"),
    (lambda: npc.geomspace(1, 8, 4), np.geomspace(1, 8, 4), "float32"),
    (lambda: npc.convert_to_tensor(3), np.array(3), "int32"),
    (lambda: npc.convert_to_tensor([1.5, 2]), np.array([1.5, 2]), "float32"),
    (lambda: npc.convert_to_tensor(np.arange(3)), np.arange(3), "int64"),
    (lambda: npc.convert_to_tensor([1, 2], "float64"), np.array([1.0, 2.0]), "float64"),
    (lambda: npc.array([[1, 2]]), np.array([[1, 2]]), "int32"),
    (lambda: npc.copy(np.ones(2)), np.ones(2), "float64"),
])
def test_creation_matches_numpy_with_keras_dtypes(got, expected, dtype):
    t = got()
    assert isinstance(t, sd.Tensor) and t.dtype == np.dtype(dtype)
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)


def test_linspace_retstep_meshgrid_and_facts():
    values, step = npc.linspace(0, 1, 5, retstep=True)
    assert step == 0.25
    xs, ys = npc.meshgrid(np.arange(3), np.arange(2))
    np.testing.assert_array_equal(xs.numpy(), np.meshgrid(np.arange(3), np.arange(2))[0])
    x = np.ones((2, 3))
    assert npc.shape(x) == (2, 3) and npc.ndim(x) == 2 and npc.size(x) == 6 and npc.dtype(x) == "float64"
    assert npc.is_tensor(sd.tensor(x)) and not npc.is_tensor(x)


def test_convert_keeps_a_tensor_and_its_gradient_and_numpy_is_a_copy():
    t = sd.tensor(np.ones(2), requires_grad=True)
    assert npc.convert_to_tensor(t) is t
    a = npc.convert_to_numpy(t)
    a[0] = 5
    assert t.numpy()[0] == 1
    y = npc.copy(t)
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 1.0])


def test_convert_rejects_sparse_and_unknown_dtypes_with_the_fix():
    with pytest.raises(ValueError, match="no sparse or ragged"):
        npc.convert_to_tensor([1], sparse=True)
    with pytest.raises(TypeError, match="Unknown dtype"):
        npc.zeros(2, "floaty")
