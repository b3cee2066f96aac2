"""Gathering, scattering and selecting with NumPy's (and ``keras.ops``'s) names: take, take_along_axis,
where, slice, slice_update, scatter, sort, top_k, ...

Gathers are ``getitem`` (whose gradient scatters back) and scatters are ``scatter_add`` (whose gradient
gathers), so values stay differentiable; indices, orders and masks are integer or boolean constants.
"""
from __future__ import annotations

import builtins

from shendu import backend, ops
from shendu.numpy_api.creation import convert_to_tensor
from shendu.numpy_api.math import _operands
from shendu.ops.indexing import scatter_add
from shendu.tensor import Tensor


def _t(x) -> Tensor:
    return convert_to_tensor(x)


def _ints(indices):
    index = convert_to_tensor(indices).data
    if index.dtype.kind == "f":
        index = index.astype("int64")
    return index


def _const(array) -> Tensor:
    return Tensor._wrap(array, False)


def get_item(x, key) -> Tensor:
    return ops.getitem(_t(x), key)


def take(x, indices, axis=None) -> Tensor:
    """x's entries at ``indices`` along ``axis`` (of the flattened x when None); negative indices count
    from the end."""
    x = _t(x)
    index = _ints(indices)
    if axis is None:
        return ops.getitem(ops.reshape(x, (-1,)), index)
    axis = axis % x.ndim
    return ops.getitem(x, (builtins.slice(None),) * axis + (index,))


def take_along_axis(x, indices, axis=None) -> Tensor:
    """y[..., i, ...] = x[..., indices[..., i, ...], ...] along ``axis``; x and indices broadcast on the others."""
    x = _t(x)
    index = _ints(indices)
    if axis is None:
        x, index, axis = ops.reshape(x, (-1,)), index.reshape(-1), 0
    axis = axis % x.ndim
    if index.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices need as many axes as x ({x.shape}), got {index.shape}.")
    xp = backend.xp
    shape = [max(a, b) if i != axis else None for i, (a, b) in enumerate(zip(x.shape, index.shape))]
    x_shape = [n if i == axis else shape[i] for i, n in enumerate(x.shape)]
    if tuple(x_shape) != x.shape:
        x = ops.broadcast_to(x, x_shape)
    index = xp.broadcast_to(index, [index.shape[axis] if i == axis else n for i, n in enumerate(shape)])
    grid = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
    grid[axis] = index
    return ops.getitem(x, tuple(grid))


def where(condition, x1=None, x2=None):
    """x1 where ``condition`` holds, else x2 (the condition gets no gradient); with only the condition,
    the indices where it holds (as ``nonzero``)."""
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError("where: give both x1 and x2, or neither (then it returns the indices where the "
                         "condition holds).")
    cond = convert_to_tensor(condition).data.astype(bool)
    return ops.where(cond, *_operands(x1, x2))


def nonzero(x) -> tuple:
    """One int tensor per axis: the indices of the nonzero entries (constants)."""
    return tuple(_const(i) for i in backend.xp.nonzero(convert_to_tensor(x).data))


def select(condlist, choicelist, default=0) -> Tensor:
    """The first choice whose condition holds, else ``default``, elementwise (conditions get no gradient)."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: {len(condlist)} conditions but {len(choicelist)} choices.")
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        out = where(cond, choice, out)
    return out if isinstance(out, Tensor) else convert_to_tensor(out)


def _box(x, start_indices, shape):
    starts = [int(s) for s in convert_to_tensor(start_indices).data.reshape(-1).tolist()]
    if len(starts) != x.ndim or len(shape) != x.ndim:
        raise ValueError(f"slice: start_indices {starts} and shape {tuple(shape)} need one entry per axis of "
                         f"x (shape {x.shape}).")
    return tuple(builtins.slice(s, s + int(n)) for s, n in zip(starts, shape))


def slice(inputs, start_indices, shape) -> Tensor:
    """The block of ``shape`` starting at ``start_indices``."""
    x = _t(inputs)
    return ops.getitem(x, _box(x, start_indices, tuple(shape)))


def slice_update(inputs, start_indices, updates) -> Tensor:
    """``inputs`` with the block at ``start_indices`` replaced by ``updates`` (gradients reach both)."""
    x, u = _t(inputs), _t(updates)
    box = _box(x, start_indices, u.shape)
    pads = [(b.start, n - b.stop) for b, n in zip(box, x.shape)]
    mask = backend.xp.zeros(x.shape, bool)
    mask[box] = True
    return ops.where(mask, ops.pad(ops.cast(u, x.dtype), pads), x)


def _scatter_index(indices):
    index = _ints(indices)
    if index.ndim == 1:
        index = index[:, None]
    return tuple(index[..., k] for k in range(index.shape[-1]))


def scatter(indices, values, shape) -> Tensor:
    """zeros(shape) with ``values`` added at ``indices`` ((n, k): each row addresses the first k axes);
    repeated indices add up."""
    values = _t(values)
    return scatter_add(_scatter_index(indices), values, shape)


def scatter_update(inputs, indices, updates, reduction=None) -> Tensor:
    """``inputs`` with the entries at ``indices`` replaced by ``updates`` (``reduction='add'``: added to)."""
    x, u = _t(inputs), _t(updates)
    index = _scatter_index(indices)
    added = scatter_add(index, ops.cast(u, x.dtype), x.shape)
    if reduction == "add":
        return ops.add(x, added)
    if reduction is not None:
        raise ValueError(f"scatter_update: reduction {reduction!r} is not supported; use None (replace) or 'add'.")
    mask = backend.xp.zeros(x.shape, bool)
    mask[index] = True
    return ops.where(mask, added, x)


def argsort(x, axis=-1) -> Tensor:
    """The indices that sort x along ``axis`` (stable; an int32 constant)."""
    data = convert_to_tensor(x).data
    if axis is None:
        data, axis = data.reshape(-1), 0
    return _const(backend.xp.argsort(data, axis=axis, kind="stable").astype("int32"))


def sort(x, axis=-1) -> Tensor:
    """x sorted along ``axis``; the gradient goes back to where each value came from."""
    x = _t(x)
    if axis is None:
        x, axis = ops.reshape(x, (-1,)), 0
    return take_along_axis(x, argsort(x, axis), axis)


def top_k(x, k, sorted=True) -> tuple:
    """(values, indices) of the k largest entries along the last axis, largest first (ties: lower index first)."""
    x = _t(x)
    order = backend.xp.argsort(-x.data, axis=-1, kind="stable")[..., :int(k)]
    if not sorted:
        order = backend.xp.sort(order, axis=-1)
    return take_along_axis(x, order, -1), _const(order.astype("int32"))


def in_top_k(targets, predictions, k) -> Tensor:
    """Whether each target's prediction is among the k largest of its row (a boolean constant)."""
    p = convert_to_tensor(predictions).data
    t = _ints(targets)
    score = backend.xp.take_along_axis(p, t[:, None], axis=-1)
    return _const((p > score).sum(axis=-1) < int(k))


def searchsorted(sorted_sequence, values, side="left") -> Tensor:
    """Insertion points that keep the 1-D sequence sorted (an int32 constant)."""
    seq, v = convert_to_tensor(sorted_sequence).data, convert_to_tensor(values).data
    return _const(backend.xp.searchsorted(seq, v, side=side).astype("int32"))


def digitize(x, bins) -> Tensor:
    """The bin index of each value (an int32 constant)."""
    return _const(backend.xp.digitize(convert_to_tensor(x).data, convert_to_tensor(bins).data).astype("int32"))


def bincount(x, weights=None, minlength=0, sparse=False) -> Tensor:
    """Counts (or summed ``weights``) per integer value of x; differentiable in the weights."""
    if sparse:
        raise ValueError("bincount: shendu has no sparse tensors; use sparse=False.")
    index = _ints(x)
    if index.ndim != 1:
        raise ValueError(f"bincount expects a 1-D tensor of non-negative ints, got shape {index.shape}.")
    length = max(int(index.max()) + 1 if index.size else 0, int(minlength))
    if weights is None:
        return _const(backend.xp.bincount(index, minlength=length).astype("int32"))
    return scatter_add((index,), _t(weights), (length,))


def unravel_index(indices, shape) -> tuple:
    """Flat indices as one index tensor per axis of ``shape`` (constants)."""
    return tuple(_const(i) for i in backend.xp.unravel_index(_ints(indices), tuple(int(n) for n in shape)))


def isin(x1, x2, assume_unique=False, invert=False) -> Tensor:
    """Whether each entry of x1 occurs in x2 (a boolean constant)."""
    return _const(backend.xp.isin(convert_to_tensor(x1).data, convert_to_tensor(x2).data,
                                  assume_unique=assume_unique, invert=invert))


def segment_sum(data, segment_ids, num_segments=None, sorted=False) -> Tensor:
    """out[s] = Σ data[i] over the i with segment_ids[i] = s (differentiable in data)."""
    x = _t(data)
    ids = _ints(segment_ids)
    n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
    keep = (ids >= 0) & (ids < n)
    return scatter_add((ids[keep],), ops.getitem(x, keep) if not keep.all() else x, (n, *x.shape[1:]))


def segment_max(data, segment_ids, num_segments=None, sorted=False) -> Tensor:
    """out[s] = max data[i] over the i in segment s (the dtype's lowest value for an empty segment);
    the gradient goes to each segment's maximum."""
    x = _t(data)
    ids = _ints(segment_ids)
    n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
    low = backend.xp.finfo(x.dtype).min if x.dtype.kind == "f" else backend.xp.iinfo(x.dtype).min
    rows = []
    for s in range(n):
        members = backend.xp.nonzero(ids == s)[0]
        if members.size:
            rows.append(ops.max(ops.getitem(x, members), 0))
        else:
            rows.append(Tensor._wrap(backend.xp.full(x.shape[1:], low, x.dtype), False))
    return ops.stack(rows, 0)


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None,
           size=None, fill_value=None):
    """The distinct values (constants), as ``numpy.unique``; ``size`` pads or cuts to a fixed length."""
    out = backend.xp.unique(convert_to_tensor(x).data, return_index=return_index, return_inverse=return_inverse,
                            return_counts=return_counts, axis=axis)
    parts = list(out) if isinstance(out, tuple) else [out]
    if size is not None:
        values = parts[0]
        fill = values.min() if fill_value is None and values.size else (fill_value or 0)
        if values.shape[0] < size:
            pad = backend.xp.full((size - values.shape[0],) + values.shape[1:], fill, values.dtype)
            values = backend.xp.concatenate([values, pad])
        parts[0] = values[:size]
    parts = [_const(p) for p in parts]
    return parts[0] if len(parts) == 1 else tuple(parts)
