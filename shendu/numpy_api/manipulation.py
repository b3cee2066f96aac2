"""Shape manipulation with NumPy's (and ``keras.ops``'s) names: reshape, transpose, tile, repeat, flip, pad, ...

Everything here moves values without changing them, so every function is composed from the
differentiable primitives (reshape, transpose, getitem, concatenate, stack, pad, broadcast_to).
"""
from __future__ import annotations

import numbers

from shendu import backend, ops
from shendu.numpy_api.creation import convert_to_tensor
from shendu.tensor import Tensor


def _t(x) -> Tensor:
    return convert_to_tensor(x)


def _axis(axis, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"axis {axis} is out of range for a tensor with {ndim} axes.")
    return axis % ndim if ndim else 0


def _common(xs) -> list:
    """Tensors with one dtype (ints meeting floats become the float type), as concatenation needs."""
    xs = [_t(x) for x in xs]
    floats = [x.dtype for x in xs if x.dtype.kind == "f"]
    if floats and any(x.dtype != floats[0] for x in xs):
        target = max(floats, key=lambda d: d.itemsize)
        xs = [ops.cast(x, target) for x in xs]
    return xs


def reshape(x, newshape) -> Tensor:
    newshape = (newshape,) if isinstance(newshape, numbers.Integral) else tuple(newshape)
    return ops.reshape(_t(x), tuple(-1 if n is None else int(n) for n in newshape))


def transpose(x, axes=None) -> Tensor:
    return ops.transpose(_t(x), axes)


def expand_dims(x, axis) -> Tensor:
    x = _t(x)
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    axes = sorted(a % out_ndim for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return ops.reshape(x, shape)


def squeeze(x, axis=None) -> Tensor:
    x = _t(x)
    if axis is None:
        return ops.reshape(x, [n for n in x.shape if n != 1])
    axes = {_axis(a, x.ndim) for a in ((axis,) if isinstance(axis, numbers.Integral) else axis)}
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1.")
    return ops.reshape(x, [n for i, n in enumerate(x.shape) if i not in axes])


def concatenate(xs, axis=0) -> Tensor:
    xs = _common(xs)
    if axis is None:
        return ops.concatenate([ops.reshape(x, (-1,)) for x in xs], 0)
    return ops.concatenate(xs, axis)


def append(x1, x2, axis=None) -> Tensor:
    return concatenate([x1, x2], axis)


def stack(x, axis=0) -> Tensor:
    return ops.stack(_common(x), axis)


def hstack(xs) -> Tensor:
    xs = _common(xs)
    return ops.concatenate(xs, 0 if xs[0].ndim == 1 else 1)


def vstack(xs) -> Tensor:
    return ops.concatenate([ops.reshape(x, (1, -1)) if x.ndim == 1 else x for x in _common(xs)], 0)


def dstack(xs) -> Tensor:
    def at_least_3d(x):
        return ops.reshape(x, (1, -1, 1) if x.ndim == 1 else (*x.shape, 1) if x.ndim == 2 else x.shape)
    return ops.concatenate([at_least_3d(x) for x in _common(xs)], 2)


def unstack(x, num=None, axis=0) -> list:
    x = _t(x)
    axis = _axis(axis, x.ndim)
    if num is not None and num != x.shape[axis]:
        raise ValueError(f"unstack: num={num} but axis {axis} of shape {x.shape} has {x.shape[axis]} entries.")
    return [ops.getitem(x, (slice(None),) * axis + (i,)) for i in range(x.shape[axis])]


def split(x, indices_or_sections, axis=0) -> list:
    """Equal sections (an int) or cuts at the given indices, as ``numpy.split``."""
    x = _t(x)
    sections = indices_or_sections
    if not isinstance(sections, numbers.Integral):
        sections = [int(i) for i in sections]
    return list(ops.split(x, sections, _axis(axis, x.ndim)))


def array_split(x, indices_or_sections, axis=0) -> list:
    """Like ``split``, but an int need not divide the axis: the first pieces get one more."""
    x = _t(x)
    axis = _axis(axis, x.ndim)
    if isinstance(indices_or_sections, numbers.Integral):
        n, k = x.shape[axis], int(indices_or_sections)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        cuts, total = [], 0
        for s in sizes[:-1]:
            total += s
            cuts.append(total)
        indices_or_sections = cuts
    return split(x, indices_or_sections, axis)


def _sections_split(x, indices_or_sections, axis, name, min_ndim):
    x = _t(x)
    if x.ndim < min_ndim:
        raise ValueError(f"{name} needs a tensor with at least {min_ndim} axes, got shape {x.shape}.")
    return split(x, indices_or_sections, axis)


def hsplit(x, indices_or_sections) -> list:
    x = _t(x)
    return split(x, indices_or_sections, 0 if x.ndim == 1 else 1)


def vsplit(x, indices_or_sections) -> list:
    return _sections_split(x, indices_or_sections, 0, "vsplit", 2)


def dsplit(x, indices_or_sections) -> list:
    return _sections_split(x, indices_or_sections, 2, "dsplit", 3)


def broadcast_to(x, shape) -> Tensor:
    return ops.broadcast_to(_t(x), tuple(shape))


def tile(x, repeats) -> Tensor:
    """x repeated ``repeats`` times along each axis: reshape to (1, n1, 1, n2, ...), broadcast, reshape back."""
    x = _t(x)
    reps = (repeats,) if isinstance(repeats, numbers.Integral) else tuple(int(r) for r in repeats)
    ndim = max(x.ndim, len(reps))
    reps = (1,) * (ndim - len(reps)) + reps
    shape = (1,) * (ndim - x.ndim) + tuple(x.shape)
    interleaved = [d for n in shape for d in (1, n)]
    target = [d for r, n in zip(reps, shape) for d in (r, n)]
    y = ops.broadcast_to(ops.reshape(x, interleaved), target)
    return ops.reshape(y, [r * n for r, n in zip(reps, shape)])


def repeat(x, repeats, axis=None) -> Tensor:
    """Each element repeated ``repeats`` times (an int, or one count per element) along ``axis``."""
    x = _t(x)
    if axis is None:
        x, axis = ops.reshape(x, (-1,)), 0
    axis = _axis(axis, x.ndim)
    if isinstance(repeats, numbers.Integral) or getattr(repeats, "ndim", 1) == 0:
        r = int(repeats)
        moved = ops.expand_dims(x, axis + 1)
        shape = list(moved.shape)
        shape[axis + 1] = r
        y = ops.broadcast_to(moved, shape)
        out = list(x.shape)
        out[axis] *= r
        return ops.reshape(y, out)
    counts = convert_to_tensor(repeats).data
    index = backend.xp.repeat(backend.xp.arange(x.shape[axis]), counts)
    return ops.getitem(x, (slice(None),) * axis + (index,))


def flip(x, axis=None) -> Tensor:
    x = _t(x)
    axes = range(x.ndim) if axis is None else ((axis,) if isinstance(axis, numbers.Integral) else axis)
    axes = {_axis(a, x.ndim) for a in axes}
    return ops.getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim)))


def fliplr(x) -> Tensor:
    return flip(x, 1)


def flipud(x) -> Tensor:
    return flip(x, 0)


def roll(x, shift, axis=None) -> Tensor:
    """Entries moved ``shift`` places along ``axis`` (wrapping around); the whole tensor flattened when None."""
    x = _t(x)
    if axis is None:
        return ops.reshape(roll(ops.reshape(x, (-1,)), shift, 0), x.shape)
    shifts = (shift,) if isinstance(shift, numbers.Integral) else tuple(shift)
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    for s, a in zip(shifts, axes):
        a = _axis(a, x.ndim)
        n = x.shape[a]
        index = (backend.xp.arange(n) - int(s)) % n
        x = ops.getitem(x, (slice(None),) * a + (index,))
    return x


def moveaxis(x, source, destination) -> Tensor:
    x = _t(x)
    source = [_axis(a, x.ndim) for a in ((source,) if isinstance(source, numbers.Integral) else source)]
    destination = [_axis(a, x.ndim) for a in
                   ((destination,) if isinstance(destination, numbers.Integral) else destination)]
    order = [a for a in range(x.ndim) if a not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return ops.transpose(x, order)


def swapaxes(x, axis1, axis2) -> Tensor:
    x = _t(x)
    order = list(range(x.ndim))
    a, b = _axis(axis1, x.ndim), _axis(axis2, x.ndim)
    order[a], order[b] = order[b], order[a]
    return ops.transpose(x, order)


def ravel(x) -> Tensor:
    return ops.reshape(_t(x), (-1,))


def pad(x, pad_width, mode="constant", constant_values=None) -> Tensor:
    """Pad each axis by (before, after): 'constant' fills with ``constant_values`` (0); 'reflect',
    'symmetric' and 'edge' (Keras's 'reflect'/'symmetric', NumPy's 'edge') copy entries, so their gradient
    adds back into the copied positions."""
    x = _t(x)
    widths = backend.xp.broadcast_to(backend.xp.asarray(pad_width, dtype="int64"), (x.ndim, 2))
    widths = [(int(lo), int(hi)) for lo, hi in widths.tolist()]
    if mode == "constant":
        return ops.pad(x, widths, 0 if constant_values is None else constant_values)
    if mode not in ("reflect", "symmetric", "edge"):
        raise ValueError(f"pad: mode {mode!r} is not supported; use 'constant', 'reflect', 'symmetric' or 'edge'.")
    if constant_values is not None:
        raise ValueError(f"pad: constant_values is only used with mode='constant', not {mode!r}.")
    for axis, (lo, hi) in enumerate(widths):
        if lo or hi:
            index = backend.xp.pad(backend.xp.arange(x.shape[axis]), (lo, hi), mode=mode)
            x = ops.getitem(x, (slice(None),) * axis + (index,))
    return x


def diagonal(x, offset=0, axis1=0, axis2=1) -> Tensor:
    """The entries x[..., i, i + offset] of the (axis1, axis2) planes, on a new last axis."""
    x = _t(x)
    a, b = _axis(axis1, x.ndim), _axis(axis2, x.ndim)
    x = ops.transpose(x, [i for i in range(x.ndim) if i not in (a, b)] + [a, b])
    rows, cols = x.shape[-2], x.shape[-1]
    start_r, start_c = (0, offset) if offset >= 0 else (-offset, 0)
    n = max(0, min(rows - start_r, cols - start_c))
    i = backend.xp.arange(n)
    return ops.getitem(x, (Ellipsis, i + start_r, i + start_c))


def diag(x, k=0) -> Tensor:
    """The k-th diagonal of a matrix, or a matrix with a vector on its k-th diagonal."""
    x = _t(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError(f"diag expects a vector or a matrix, got shape {x.shape}.")
    m = x.shape[0]
    n = m + abs(k)
    index = backend.xp.full((n, n), m)              # entry m of the padded vector is a zero
    i = backend.xp.arange(m)
    index[(i, i + k) if k >= 0 else (i - k, i)] = i
    return ops.getitem(ops.pad(x, ((0, 1),)), index)


def diagflat(x, k=0) -> Tensor:
    return diag(ravel(x), k)


def trace(x, offset=0, axis1=0, axis2=1) -> Tensor:
    return ops.sum(diagonal(x, offset, axis1, axis2), -1)


def _triangle(x, k, lower):
    x = _t(x)
    rows, cols = x.shape[-2], x.shape[-1]
    mask = backend.xp.tri(rows, cols, k, dtype=bool)
    return ops.where(mask if lower else ~backend.xp.tri(rows, cols, k - 1, dtype=bool), x, 0)


def tril(x, k=0) -> Tensor:
    """x with the entries above the k-th diagonal set to 0."""
    return _triangle(x, k, True)


def triu(x, k=0) -> Tensor:
    """x with the entries below the k-th diagonal set to 0."""
    return _triangle(x, k, False)


def diff(a, n=1, axis=-1) -> Tensor:
    """The n-th difference along ``axis``: a[1:] - a[:-1], n times."""
    x = _t(a)
    axis = _axis(axis, x.ndim)
    for _ in range(int(n)):
        size = x.shape[axis]
        x = ops.sub(ops.getitem(x, (slice(None),) * axis + (slice(1, None),)),
                    ops.getitem(x, (slice(None),) * axis + (slice(None, size - 1),)))
    return x


def rot90(array, k=1, axes=(0, 1)) -> Tensor:
    """The plane ``axes`` turned by 90° k times (from the first axis towards the second)."""
    x = _t(array)
    a, b = (_axis(i, x.ndim) for i in axes)
    k = int(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip(x, (a, b))
    x = swapaxes(x, a, b)
    return flip(x, a) if k == 1 else flip(x, b)
