"""shendu/ops/indexing.py: scatter_add, the adjoint of gathering."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, assert_every_op_has_a_row, cases, check_row

from shendu import ops
from shendu.ops import indexing


def _scatter_ref(index, shape):
    def ref(values):
        out = np.zeros(shape)
        np.add.at(out, index, values)
        return out
    return ref


_REPEATED = (np.array([0, 2, 0, 3]),)                                # row 0 receives two values
_PAIRS = (np.array([0, 1, 1]), np.array([2, 0, 2]))

ROWS = [
    Row("scatter_add_rows", lambda v: ops.scatter_add(_REPEATED, v, (4, 3)), _scatter_ref(_REPEATED, (4, 3)),
        [((4, 3),)]),
    Row("scatter_add_vector", lambda v: ops.scatter_add(_REPEATED, v, (5,)), _scatter_ref(_REPEATED, (5,)),
        [((4,),)]),
    Row("scatter_add_pairs", lambda v: ops.scatter_add(_PAIRS, v, (2, 3, 2)), _scatter_ref(_PAIRS, (2, 3, 2)),
        [((3, 2),)]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_indexing_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_indexing_op_has_a_row():
    assert_every_op_has_a_row(indexing, ROWS)
