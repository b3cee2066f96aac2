"""shendu/tensor.py: dtype rules, array facts, conversions, operators (with NumPy on either side), comparisons."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops


# ------------------------------------------------------------------------------------------ dtype rules
@pytest.mark.parametrize("data, dtype", [
    (1.0, np.float32), ([1.0, 2.5], np.float32), ([[1, 2], [3, 4.5]], np.float32),
    (np.array([1.0, 2.0]), np.float64), (np.float64(2.0), np.float64), (np.array([1.0], np.float32), np.float32),
    (3, np.int64), ([1, 2], np.int64), (np.array([1, 2], np.int32), np.int32), (True, np.bool_),
])
def test_tensor_dtype_rules(data, dtype):
    assert sd.tensor(data).dtype == dtype


def test_float64_array_data_is_kept_exactly():
    a = np.array([0.1, 1 / 3])
    np.testing.assert_array_equal(sd.tensor(a).numpy(), a)


def test_explicit_dtype_and_floatx():
    assert sd.tensor([1, 2], dtype="float32").dtype == np.float32
    assert sd.tensor(np.array([1.0]), dtype="float32").dtype == np.float32
    sd.set_floatx("float64")
    assert sd.tensor(1.5).dtype == np.float64
    with pytest.raises(ValueError, match="float type"):
        sd.set_floatx("int32")


def test_requires_grad_on_an_int_tensor_raises_with_a_fix():
    with pytest.raises(TypeError, match=r"int64.*dtype='float32'"):
        sd.tensor([1, 2], requires_grad=True)
    assert sd.tensor([1, 2], requires_grad=True, dtype="float32").requires_grad


# ---------------------------------------------------------------------------------------- array facts
def test_attributes_and_conversions():
    x = sd.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2 and x.dtype == np.float64
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(np.asarray(x), np.arange(6.0).reshape(2, 3))
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert x[1, 2].item() == 5.0 and isinstance(x[1, 2].item(), float)
    assert float(x[0, 1]) == 1.0 and int(x[1, 0]) == 3
    assert "requires_grad=True" in repr(x) and repr(sd.tensor([1, 2])) == "Tensor([1, 2])"


def test_detach_cuts_the_graph_and_shares_the_values():
    x = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert not d.requires_grad and d.creator is None
    np.testing.assert_array_equal(d.numpy(), [2.0, 4.0])
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])      # d acts as a constant


def test_T_reshape_transpose_methods():
    x = sd.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.T.shape == (3, 2)
    assert x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,) and x.reshape([-1, 1]).shape == (6, 1)
    y = sd.tensor(np.zeros((2, 3, 4)))
    assert y.transpose(2, 0, 1).shape == (4, 2, 3) and y.transpose((1, 0, 2)).shape == (3, 2, 4)
    assert y.transpose().shape == (4, 3, 2)
    (x.T * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(3, 2).T)


def test_math_methods_match_the_ops():
    x = sd.tensor(np.array([[0.5, 1.5], [2.0, 0.25]]))
    for method in ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu"]:
        np.testing.assert_array_equal(getattr(x, method)().numpy(), getattr(ops, method)(x).numpy())
    np.testing.assert_array_equal(x.clip(0.4, 1.0).numpy(), [[0.5, 1.0], [1.0, 0.4]])
    assert x.sum().item() == 4.25 and x.mean().item() == 4.25 / 4
    np.testing.assert_array_equal(x.max(axis=0).numpy(), [2.0, 1.5])
    np.testing.assert_array_equal(x.min(axis=1, keepdims=True).numpy(), [[0.5], [0.25]])


# ------------------------------------------------------------------------------------------- comparisons
def test_comparisons_give_non_differentiable_bool_tensors():
    x = sd.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    other = sd.tensor(np.array([2.0, 2.0, 2.0]))
    cases = {"<": (x < 2, [1, 0, 0]), "<=": (x <= other, [1, 1, 0]), ">": (x > 2.0, [0, 0, 1]),
             ">=": (x >= 2, [0, 1, 1]), "==": (x == other, [0, 1, 0]), "!=": (x != 2, [1, 0, 1])}
    for name, (result, want) in cases.items():
        assert isinstance(result, sd.Tensor) and result.dtype == np.bool_, name
        assert not result.requires_grad and result.creator is None, name
        np.testing.assert_array_equal(result.numpy(), np.array(want, bool), err_msg=name)
    assert len({x, other}) == 2                     # still hashable by identity despite __eq__


# ------------------------------------------------------------------------------------------ operators
def test_operators_with_numpy_arrays_on_either_side_return_tensors():
    x = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = np.array([4.0, 8.0])
    results = {"a*x": (a * x, a * [1, 2]), "x*a": (x * a, a * [1, 2]), "a+x": (a + x, a + [1, 2]),
               "a-x": (a - x, a - [1, 2]), "x-a": (x - a, [1, 2] - a), "a/x": (a / x, a / [1, 2]),
               "x/a": (x / a, [1, 2] / a), "a**x": (a ** x, a ** [1.0, 2.0]), "x**a": (x ** a, [1.0, 2.0] ** a),
               "-x": (-x, [-1, -2]), "+x": (+x, [1, 2])}
    for name, (result, want) in results.items():
        assert isinstance(result, sd.Tensor), f"{name} gave {type(result).__name__}"
        np.testing.assert_allclose(result.numpy(), want, err_msg=name)
        assert result.requires_grad, name
    m = np.eye(2)
    assert isinstance(m @ x, sd.Tensor) and isinstance(x @ m, sd.Tensor)
    (a * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), a)


def test_operators_with_python_scalars_on_either_side():
    x = sd.tensor(np.array([1.0, 2.0]))
    np.testing.assert_allclose((3 - x).numpy(), [2, 1])
    np.testing.assert_allclose((3 / x).numpy(), [3, 1.5])
    np.testing.assert_allclose((2 ** x).numpy(), [2, 4])
    np.testing.assert_allclose((x ** 2).numpy(), [1, 4])


def test_indexing_operator_records_the_op():
    x = sd.tensor(np.arange(4.0), requires_grad=True)
    x[1:3].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 0])


def test_tensor_of_a_tensor_and_as_tensor():
    from shendu.tensor import as_tensor
    x = sd.tensor(np.array([1.0]), requires_grad=True)
    assert as_tensor(x) is x
    y = sd.Tensor(x)
    assert y is not x and not y.requires_grad and y.dtype == np.float64


def test_an_integer_scalar_tensor_is_an_index():
    names = ["cat", "dog", "bird"]
    labels = sd.tensor(np.array([2, 0]))
    assert names[labels[0]] == "bird" and [1, 2, 3][sd.tensor(np.int64(1))] == 2
    with pytest.raises(TypeError, match="integer scalar"):
        names[sd.tensor(np.array(1.0))]
