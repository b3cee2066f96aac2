"""shendu/numpy_api/control.py: cond, switch, while_loop, fori_loop, scan, map, vectorized_map, run eagerly
and differentiable through their bodies."""
from __future__ import annotations

import numpy as np

import shendu as sd
from shendu import numpy_api as npx
from shendu.testing import gradcheck


def test_cond_and_switch_pick_a_branch():
    assert npx.cond(sd.tensor(True), lambda: 1, lambda: 2) == 1
    assert npx.cond(np.array(0), lambda: 1, lambda: 2) == 2
    branches = [lambda x: x + 1, lambda x: x * 10]
    assert npx.switch(1, branches, 3) == 30
    assert npx.switch(7, branches, 3) == 30        # clamped into range, as Keras
    assert npx.switch(-2, branches, 3) == 4


def test_loops_match_python_and_carry_gradients():
    assert npx.fori_loop(0, 4, lambda i, v: v + i, 0) == 6
    assert npx.while_loop(lambda i: i < 5, lambda i: i + 2, 0) == 6
    assert npx.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, s * 2), (0, 1)) == (3, 8)
    assert npx.while_loop(lambda i: i < 100, lambda i: i + 1, 0, maximum_iterations=4) == 4

    def cumulative(x):
        carry, ys = npx.scan(lambda c, v: (c + v, c * v), sd.tensor(np.zeros(2)), x)
        return carry + ys.sum(axis=0)
    assert gradcheck(cumulative, np.random.default_rng(0).normal(size=(4, 2)))


def test_scan_map_and_vectorized_map_stack_results():
    xs = np.arange(6.0).reshape(3, 2)
    carry, ys = npx.scan(lambda c, x: (c + x.sum(), x * 2), 0.0, xs)
    assert float(carry) == 15.0
    np.testing.assert_array_equal(ys.numpy(), xs * 2)
    _, rev = npx.scan(lambda c, x: (c, c + x), sd.tensor(1.0), sd.tensor(np.arange(3.0)), reverse=True)
    np.testing.assert_array_equal(rev.numpy(), [1.0, 2.0, 3.0])
    carry, none = npx.scan(lambda c, _: (c + 1, None), 0, length=3)
    assert carry == 3 and none is None
    np.testing.assert_array_equal(npx.map(lambda r: r.sum(), xs).numpy(), [1.0, 5.0, 9.0])
    out = npx.vectorized_map(lambda pair: pair[0] * pair[1], (xs, xs))
    np.testing.assert_array_equal(out.numpy(), xs * xs)
