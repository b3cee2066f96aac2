"""Control flow with ``keras.ops``'s names: cond, switch, while_loop, fori_loop, scan, map, vectorized_map.

shendu runs eagerly, so each is the plain Python loop or branch it describes; values flowing through
stay differentiable because every step records its ops as usual.
"""
from __future__ import annotations

from shendu import ops
from shendu.numpy_api.creation import convert_to_tensor


def _tree_map(fn, tree):
    if isinstance(tree, (list, tuple)):
        return type(tree)(_tree_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def _leaves(tree) -> list:
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _leaves(t)]
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    return [tree]


def cond(pred, true_fn, false_fn):
    """true_fn() if pred else false_fn()."""
    return true_fn() if bool(convert_to_tensor(pred).data) else false_fn()


def switch(index, branches, *operands):
    """branches[index](*operands), the index clamped into range as in Keras."""
    i = int(convert_to_tensor(index).data)
    return branches[min(max(i, 0), len(branches) - 1)](*operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Run ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` holds (at most maximum_iterations times)."""
    single = not isinstance(loop_vars, (list, tuple))
    state = (loop_vars,) if single else tuple(loop_vars)
    steps = 0
    while bool(convert_to_tensor(cond(*state)).data):
        if maximum_iterations is not None and steps >= maximum_iterations:
            break
        out = body(*state)
        state = (out,) if single else tuple(out) if isinstance(out, (list, tuple)) else (out,)
        steps += 1
    return state[0] if single else type(loop_vars)(state)


def fori_loop(lower, upper, body_fun, init_val):
    """val = body_fun(i, val) for i in range(lower, upper)."""
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """carry, y = f(carry, x) over the leading axis of xs; returns (final carry, stacked ys)."""
    if xs is None:
        if length is None:
            raise ValueError("scan: give xs or length.")
        n = int(length)
    else:
        n = _leaves(xs)[0].shape[0]
    steps = range(n - 1, -1, -1) if reverse else range(n)
    carry, ys = init, []
    for i in steps:
        x = None if xs is None else _tree_map(lambda a: convert_to_tensor(a)[i], xs)
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys or ys[0] is None:
        return carry, None
    return carry, _stack(ys)


def _stack(items):
    first = items[0]
    if isinstance(first, (list, tuple)):
        return type(first)(_stack([it[k] for it in items]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([it[k] for it in items]) for k in first}
    return ops.stack([convert_to_tensor(it) for it in items], 0)


def map(f, xs):
    """[f(x) for x in xs] stacked (along the leading axis)."""
    n = _leaves(xs)[0].shape[0]
    return _stack([f(_tree_map(lambda a: convert_to_tensor(a)[i], xs)) for i in range(n)])


def vectorized_map(function, elements):
    """``function`` on each slice along the leading axis, stacked (run as a loop)."""
    return map(function, elements)
