"""shendu/numpy_api/manipulation.py: reshaping, joining, repeating, flipping, padding and triangles
against NumPy, gradient-checked (every function only moves values, so gradients route them back)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, cases, check_row

from shendu.numpy_api import manipulation as npm


def _join(fn):
    return lambda *xs: fn(list(xs))


ROWS = [
    Row("reshape", lambda x: npm.reshape(x, (4, -1)), lambda x: x.reshape(4, -1), [((2, 6),), ((4, 1),)]),
    Row("reshape_none", lambda x: npm.reshape(x, (None, 2)), lambda x: x.reshape(-1, 2), [((3, 2),)]),
    Row("transpose", lambda x: npm.transpose(x), np.transpose, [((2, 3, 4),), ((5,),)]),
    Row("transpose_axes", lambda x: npm.transpose(x, (1, 0, 2)), lambda x: np.transpose(x, (1, 0, 2)),
        [((2, 3, 4),)]),
    Row("expand_dims", lambda x: npm.expand_dims(x, -1), lambda x: np.expand_dims(x, -1), [((2, 3),), ((),)]),
    Row("expand_dims_tuple", lambda x: npm.expand_dims(x, (0, 2)), lambda x: np.expand_dims(x, (0, 2)),
        [((2, 3),)]),
    Row("squeeze", npm.squeeze, np.squeeze, [((1, 3, 1),), ((2, 3),)]),
    Row("squeeze_axis", lambda x: npm.squeeze(x, 2), lambda x: np.squeeze(x, 2), [((1, 3, 1),)]),
    Row("concatenate", _join(npm.concatenate), lambda *xs: np.concatenate(xs), [((2, 3), (4, 3)), ((1,), (2,))]),
    Row("concatenate_axis1", lambda a, b: npm.concatenate([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
        [((2, 3), (2, 1))]),
    Row("concatenate_none", lambda a, b: npm.concatenate([a, b], None), lambda a, b: np.concatenate([a, b], None),
        [((2, 3), (4,))]),
    Row("append", lambda a, b: npm.append(a, b), np.append, [((2, 3), (2,))]),
    Row("stack", _join(npm.stack), lambda *xs: np.stack(xs), [((2, 3), (2, 3), (2, 3))]),
    Row("stack_axis", lambda a, b: npm.stack([a, b], -1), lambda a, b: np.stack([a, b], -1), [((2, 3), (2, 3))]),
    Row("hstack", _join(npm.hstack), lambda *xs: np.hstack(xs), [((2, 3), (2, 1)), ((3,), (2,))]),
    Row("vstack", _join(npm.vstack), lambda *xs: np.vstack(xs), [((2, 3), (1, 3)), ((3,), (3,))]),
    Row("dstack", _join(npm.dstack), lambda *xs: np.dstack(xs), [((2, 3), (2, 3)), ((2, 3, 1), (2, 3, 2))]),
    Row("unstack", lambda x: npm.unstack(x, axis=1)[2], lambda x: x[:, 2], [((2, 3),)]),
    Row("split", lambda x: npm.split(x, 3, 1)[1], lambda x: np.split(x, 3, 1)[1], [((2, 6),)]),
    Row("split_indices", lambda x: npm.split(x, [1, 4])[2], lambda x: np.split(x, [1, 4])[2], [((6, 2),)]),
    Row("array_split", lambda x: npm.array_split(x, 3)[0], lambda x: np.array_split(x, 3)[0], [((7, 2),)]),
    Row("hsplit", lambda x: npm.hsplit(x, 2)[1], lambda x: np.hsplit(x, 2)[1], [((2, 4),)]),
    Row("vsplit", lambda x: npm.vsplit(x, 2)[1], lambda x: np.vsplit(x, 2)[1], [((4, 2),)]),
    Row("dsplit", lambda x: npm.dsplit(x, 2)[0], lambda x: np.dsplit(x, 2)[0], [((2, 2, 4),)]),
    Row("broadcast_to", lambda x: npm.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
        [((3, 1),), ((4,),)]),
    Row("tile", lambda x: npm.tile(x, (2, 3)), lambda x: np.tile(x, (2, 3)), [((2, 3),), ((3,),), ((1, 2, 2),)]),
    Row("tile_int", lambda x: npm.tile(x, 2), lambda x: np.tile(x, 2), [((2, 3),)]),
    Row("repeat", lambda x: npm.repeat(x, 2), lambda x: np.repeat(x, 2), [((2, 3),)]),
    Row("repeat_axis", lambda x: npm.repeat(x, 3, axis=0), lambda x: np.repeat(x, 3, axis=0), [((2, 3),)]),
    Row("repeat_counts", lambda x: npm.repeat(x, np.array([1, 0, 2]), axis=1),
        lambda x: np.repeat(x, [1, 0, 2], axis=1), [((2, 3),)]),
    Row("flip", npm.flip, np.flip, [((2, 3),), ((4,),)]),
    Row("flip_axis", lambda x: npm.flip(x, 1), lambda x: np.flip(x, 1), [((2, 3),)]),
    Row("fliplr", npm.fliplr, np.fliplr, [((2, 3),)]),
    Row("flipud", npm.flipud, np.flipud, [((2, 3),)]),
    Row("roll", lambda x: npm.roll(x, 2), lambda x: np.roll(x, 2), [((2, 3),)]),
    Row("roll_axis", lambda x: npm.roll(x, -1, axis=1), lambda x: np.roll(x, -1, axis=1), [((2, 3),)]),
    Row("moveaxis", lambda x: npm.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), [((2, 3, 4),)]),
    Row("moveaxis_many", lambda x: npm.moveaxis(x, [0, 1], [2, 0]), lambda x: np.moveaxis(x, [0, 1], [2, 0]),
        [((2, 3, 4),)]),
    Row("swapaxes", lambda x: npm.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2), [((2, 3, 4),)]),
    Row("ravel", npm.ravel, np.ravel, [((2, 3),)]),
    Row("pad", lambda x: npm.pad(x, ((1, 2), (0, 1))), lambda x: np.pad(x, ((1, 2), (0, 1))), [((2, 3),)]),
    Row("pad_int_value", lambda x: npm.pad(x, 1, constant_values=0.5),
        lambda x: np.pad(x, 1, constant_values=0.5), [((2, 3),)]),
    Row("pad_reflect", lambda x: npm.pad(x, ((2, 1), (1, 2)), "reflect"),
        lambda x: np.pad(x, ((2, 1), (1, 2)), "reflect"), [((3, 4),)]),
    Row("pad_symmetric", lambda x: npm.pad(x, (2, 1), "symmetric"), lambda x: np.pad(x, (2, 1), "symmetric"),
        [((3, 4),)]),
    Row("pad_edge", lambda x: npm.pad(x, 2, "edge"), lambda x: np.pad(x, 2, "edge"), [((2, 3),)]),
    Row("diagonal", npm.diagonal, np.diagonal, [((3, 4),), ((3, 3),)]),
    Row("diagonal_offset", lambda x: npm.diagonal(x, -1, 1, 2), lambda x: np.diagonal(x, -1, 1, 2),
        [((2, 3, 4),)]),
    Row("diag_vector", lambda x: npm.diag(x, 1), lambda x: np.diag(x, 1), [((3,),)]),
    Row("diag_vector_below", lambda x: npm.diag(x, -2), lambda x: np.diag(x, -2), [((2,),)]),
    Row("diag_matrix", npm.diag, np.diag, [((3, 4),)]),
    Row("diagflat", npm.diagflat, np.diagflat, [((2, 2),)]),
    Row("trace", npm.trace, np.trace, [((3, 4),), ((2, 2),)]),
    Row("tril", npm.tril, np.tril, [((3, 4),), ((2, 3, 3),)]),
    Row("tril_k", lambda x: npm.tril(x, -1), lambda x: np.tril(x, -1), [((4, 3),)]),
    Row("triu", npm.triu, np.triu, [((3, 4),), ((2, 3, 3),)]),
    Row("triu_k", lambda x: npm.triu(x, 1), lambda x: np.triu(x, 1), [((4, 3),)]),
    Row("diff", npm.diff, np.diff, [((3, 5),)]),
    Row("diff_twice", lambda x: npm.diff(x, 2, 0), lambda x: np.diff(x, 2, 0), [((5, 2),)]),
    Row("rot90", npm.rot90, np.rot90, [((2, 3),)]),
    Row("rot90_k", lambda x: npm.rot90(x, 3, (1, 2)), lambda x: np.rot90(x, 3, (1, 2)), [((2, 3, 4),)]),
    Row("rot90_half", lambda x: npm.rot90(x, 2), lambda x: np.rot90(x, 2), [((2, 3),)]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_numpy_manipulation_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_numpy_manipulation_function_has_a_row():
    names = {r.name for r in ROWS}
    public = {name for name, f in vars(npm).items() if callable(f) and not name.startswith("_")
              and getattr(f, "__module__", None) == npm.__name__}
    assert {p for p in public if not any(n == p or n.startswith(p + "_") for n in names)} == set()


def test_manipulation_errors_name_the_problem():
    with pytest.raises(ValueError, match="axis 1 of shape"):
        npm.squeeze(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="mode 'wrap' is not supported"):
        npm.pad(np.ones(3), 1, "wrap")
    with pytest.raises(ValueError, match="out of range"):
        npm.flip(np.ones((2, 3)), 2)
