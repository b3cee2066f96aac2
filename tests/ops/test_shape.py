"""shendu/ops/shape.py: reshape, transpose, getitem, concatenate, stack, split, pad, broadcast_to,
expand_dims, squeeze."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, assert_every_op_has_a_row, cases, check_row

import shendu as sd
from shendu import ops
from shendu.ops import shape

MASK = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]])
ROW_MASK = np.array([True, False, True])


def _index_row(name, index, shape=(3, 4)):
    """x[index] checked against NumPy's indexing with the same index (Tensors given as their arrays)."""
    np_index = tuple(i.numpy() if isinstance(i, sd.Tensor) else i for i in index) \
        if isinstance(index, tuple) else index.numpy() if isinstance(index, sd.Tensor) else index
    return Row(f"getitem_{name}", lambda x: x[index], lambda x: x[np_index], [(shape,)])


GETITEM = [
    _index_row("slice", slice(1, 3)),
    _index_row("strided", (slice(None), slice(None, None, 2))),
    _index_row("reversed", slice(None, None, -1)),
    _index_row("ellipsis", (Ellipsis, slice(1, None)), shape=(2, 3, 4)),
    _index_row("newaxis", (None, 1)),
    _index_row("int", 1),
    _index_row("negative_ints", (-1, 2)),
    _index_row("numpy_int", np.int64(2)),
    _index_row("ints_to_scalar", (0, 0)),
    _index_row("int_array_repeats", [0, 0, 2]),
    _index_row("int_array_2d", np.array([[0, 1], [1, 1]])),
    _index_row("column_repeats", (slice(None), [2, 2, 0])),
    _index_row("paired_arrays", ([0, 1, 1], [2, 2, 0])),
    _index_row("bool_mask", MASK),
    _index_row("bool_rows", ROW_MASK),
    _index_row("bool_list", [True, False, True]),
    _index_row("bool_rows_and_slice", (ROW_MASK, slice(1, None))),
    _index_row("tensor_ints", sd.tensor([0, 0, 1])),
    _index_row("tensor_mask", sd.tensor(MASK)),
    _index_row("tensor_in_tuple", (sd.tensor([1, 1]), 0)),
]


def _split_row(name, shape, sections, axis, used):
    def fn(x):
        parts = ops.split(x, sections, axis=axis)
        return ops.concatenate([parts[i] for i in used], axis=axis)

    def ref(x):
        parts = np.split(x, sections, axis=axis)
        return np.concatenate([parts[i] for i in used], axis=axis)
    return Row(f"split_{name}", fn, ref, [(shape,)])


ROWS = GETITEM + [
    Row("reshape_2d", lambda x: ops.reshape(x, (2, 6)), lambda x: x.reshape(2, 6), [((3, 4),)]),
    Row("reshape_infer", lambda x: x.reshape(-1), lambda x: x.reshape(-1), [((3, 4),), ((1, 5),)]),
    Row("reshape_3d_infer", lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1), [((2, 3, 4),)]),
    Row("reshape_to_scalar", lambda x: ops.reshape(x, ()), lambda x: x.reshape(()), [((1,),), ((1, 1),)]),
    Row("reshape_from_scalar", lambda x: ops.reshape(x, (1, 1)), lambda x: x.reshape(1, 1), [((),)]),
    Row("transpose_default", ops.transpose, np.transpose, [((3, 4),), ((2, 3, 4),), ((1, 5),), ((5,),)]),
    Row("transpose_axes", lambda x: ops.transpose(x, (1, 0, 2)), lambda x: x.transpose(1, 0, 2), [((2, 3, 4),)]),
    Row("transpose_cycle", lambda x: ops.transpose(x, (2, 0, 1)), lambda x: x.transpose(2, 0, 1), [((2, 3, 4),)]),
    Row("transpose_negative_axes", lambda x: x.transpose(-1, 0, 1), lambda x: x.transpose(-1, 0, 1),
        [((2, 3, 4),)]),
    Row("T", lambda x: x.T, lambda x: x.T, [((3, 4),)]),
    Row("concatenate_axis0", lambda a, b, c: ops.concatenate([a, b, c], axis=0),
        lambda a, b, c: np.concatenate([a, b, c], axis=0), [((2, 3), (4, 3), (1, 3)), ((1,), (3,), (2,))]),
    Row("concatenate_last", lambda a, b, c: ops.concatenate([a, b, c]),
        lambda a, b, c: np.concatenate([a, b, c], axis=-1), [((2, 3), (2, 1), (2, 5)), ((2, 1, 2), (2, 1, 3),
                                                                                         (2, 1, 1))]),
    Row("concatenate_middle", lambda a, b: ops.concatenate([a, b], axis=1),
        lambda a, b: np.concatenate([a, b], axis=1), [((2, 3, 4), (2, 1, 4))]),
    Row("concatenate_one", lambda a: ops.concatenate([a], axis=0), lambda a: a, [((3, 2),)]),
    Row("stack_axis0", lambda a, b, c: ops.stack([a, b, c]), lambda a, b, c: np.stack([a, b, c]),
        [((2, 3),) * 3, ((),) * 3, ((1,),) * 3]),
    Row("stack_axis1", lambda a, b: ops.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1),
        [((2, 3),) * 2, ((4, 1, 3),) * 2]),
    Row("stack_last", lambda a, b: ops.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1),
        [((2, 3),) * 2]),
    _split_row("sections_all", (2, 6), 3, 1, [0, 1, 2]),
    _split_row("sections_some", (2, 6), 3, 1, [2, 0]),
    _split_row("indices_middle", (6, 2), [1, 4], 0, [1]),
    _split_row("indices_last_axis", (2, 3, 5), [2], -1, [1]),
    _split_row("one_section", (3, 2), 1, 0, [0]),
    Row("split_outputs_multiplied", lambda x: ops.split(x, 2, axis=0)[0] * ops.split(x, 2, axis=0)[1],
        lambda x: x[:2] * x[2:], [((4, 3),)]),
    Row("pad_2d", lambda x: ops.pad(x, ((1, 2), (0, 1))), lambda x: np.pad(x, ((1, 2), (0, 1))), [((3, 4),)]),
    Row("pad_value", lambda x: ops.pad(x, ((0, 0), (2, 1), (1, 1)), value=3.0),
        lambda x: np.pad(x, ((0, 0), (2, 1), (1, 1)), constant_values=3.0), [((2, 3, 1),)]),
    Row("pad_1d", lambda x: ops.pad(x, [(1, 0)]), lambda x: np.pad(x, [(1, 0)]), [((5,),), ((1,),)]),
    Row("broadcast_to_3d", lambda x: ops.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
        [((3, 1),), ((4,),), ((1, 1, 1),), ((),)]),
    Row("broadcast_to_same", lambda x: ops.broadcast_to(x, (3, 2)), lambda x: np.broadcast_to(x, (3, 2)),
        [((3, 2),)]),
    Row("expand_dims_0", lambda x: ops.expand_dims(x, 0), lambda x: np.expand_dims(x, 0), [((3, 4),), ((),)]),
    Row("expand_dims_last", lambda x: ops.expand_dims(x, -1), lambda x: np.expand_dims(x, -1), [((3, 4),)]),
    Row("expand_dims_1", lambda x: ops.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), [((3, 4),)]),
    Row("squeeze_0", lambda x: ops.squeeze(x, 0), lambda x: np.squeeze(x, 0), [((1, 3, 1),), ((1,),)]),
    Row("squeeze_last", lambda x: ops.squeeze(x, -1), lambda x: np.squeeze(x, -1), [((1, 3, 1),)]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_shape_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_shape_op_has_a_row():
    assert_every_op_has_a_row(shape, ROWS)


def test_getitem_repeated_indices_add_up():
    x = sd.tensor(np.zeros((3, 2)), requires_grad=True)
    x[[0, 2, 2, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1], [0, 0], [3, 3]])


def test_split_with_unused_outputs_gives_zero_gradient_there():
    x = sd.tensor(np.arange(6.0), requires_grad=True)
    a, b, c = ops.split(x, 3)
    (b * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 2, 2, 0, 0])


def test_concatenate_and_stack_skip_inputs_that_need_no_gradient():
    a = sd.tensor(np.ones((2, 2)), requires_grad=True)
    b = sd.tensor(np.ones((1, 2)))
    ops.concatenate([a, b], axis=0).sum().backward()
    assert b.grad is None
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 2)))
    c = sd.tensor(np.ones(3), requires_grad=True)
    (ops.stack([c, sd.tensor(np.zeros(3))], axis=1) * 3.0).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), [3, 3, 3])


def test_shape_errors_name_the_shapes():
    x = sd.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        ops.reshape(x, (5, 2))
    with pytest.raises(ValueError, match="squeeze.*size 4, not 1"):
        ops.squeeze(x, 1)
    with pytest.raises(ValueError, match="size 4 does not divide into 3"):
        ops.split(x, 3, axis=1)
    with pytest.raises(ValueError, match="one \\(before, after\\) pair per axis"):
        ops.pad(x, [(1, 1)])
