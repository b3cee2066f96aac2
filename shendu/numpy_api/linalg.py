"""Products and linear algebra with NumPy's (and ``keras.ops``'s) names: matmul, dot, tensordot, einsum,
norm, inv, solve, det, ...

matmul, einsum, inv, solve and det are differentiable primitives (``shendu.ops.linalg``); dot, tensordot,
inner, outer and norm are composed from them. Factorizations (cholesky, qr, svd, eig, eigh, lstsq, pinv,
matrix_rank) return constants: shendu has no gradient for them, and their docstrings say so.
"""
from __future__ import annotations

import numbers

from shendu import backend, ops
from shendu.numpy_api.creation import convert_to_tensor
from shendu.numpy_api.math import _float, _operands
from shendu.numpy_api.manipulation import tril, triu
from shendu.ops import linalg as lops
from shendu.tensor import Tensor


def _matching(x1, x2):
    a, b = _operands(convert_to_tensor(x1), convert_to_tensor(x2))
    return a, b


def matmul(x1, x2) -> Tensor:
    a, b = _matching(x1, x2)
    return ops.matmul(a, b)


def _letters(n, start=0):
    return "abcdefghijklmnopqrstuvwxyz"[start:start + n]


def einsum(subscripts, *operands, **kwargs) -> Tensor:
    """Einstein summation, e.g. ``einsum('bij,bjk->bik', a, b)``; differentiable in every operand."""
    if kwargs:
        raise TypeError(f"einsum: shendu takes no keyword arguments (got {sorted(kwargs)}).")
    xs = [convert_to_tensor(x) for x in operands]
    floats = [x.dtype for x in xs if x.dtype.kind == "f"]
    if floats:
        xs = [ops.cast(x, floats[0]) if x.dtype.kind != "f" else x for x in xs]
    return lops.einsum(subscripts, *xs)


def tensordot(x1, x2, axes=2) -> Tensor:
    """Sum over x1's last ``axes`` axes and x2's first ones (or the two lists of axes given)."""
    a, b = _matching(x1, x2)
    if isinstance(axes, numbers.Integral):
        a_axes, b_axes = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = [a_axes] if isinstance(a_axes, numbers.Integral) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, numbers.Integral) else list(b_axes)
    a_axes, b_axes = [i % a.ndim for i in a_axes], [i % b.ndim for i in b_axes]
    ta, tb = list(_letters(a.ndim)), list(_letters(b.ndim, a.ndim))
    for i, j in zip(a_axes, b_axes):
        tb[j] = ta[i]
    out = [c for i, c in enumerate(ta) if i not in a_axes] + [c for j, c in enumerate(tb) if j not in b_axes]
    return lops.einsum("".join(ta) + "," + "".join(tb) + "->" + "".join(out), a, b)


def dot(x1, x2) -> Tensor:
    """NumPy's dot: a product for scalars, matmul for vectors and matrices, else the sum over x1's last
    axis and x2's second-to-last."""
    a, b = _matching(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return ops.mul(a, b)
    if b.ndim <= 2:
        return ops.matmul(a, b)
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 2]))


def inner(x1, x2) -> Tensor:
    """The sum over the last axes of both."""
    a, b = _matching(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return ops.mul(a, b)
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


def outer(x1, x2) -> Tensor:
    a, b = _matching(x1, x2)
    return ops.mul(ops.reshape(a, (-1, 1)), ops.reshape(b, (1, -1)))


def vdot(x1, x2) -> Tensor:
    a, b = _matching(x1, x2)
    return ops.sum(ops.mul(ops.reshape(a, (-1,)), ops.reshape(b, (-1,))))


def kron(x1, x2) -> Tensor:
    """The Kronecker product: every entry of x1 times the whole of x2, laid out blockwise."""
    a, b = _matching(x1, x2)
    n = max(a.ndim, b.ndim)
    a = ops.reshape(a, (1,) * (n - a.ndim) + a.shape)
    b = ops.reshape(b, (1,) * (n - b.ndim) + b.shape)
    spread_a = ops.reshape(a, [d for s in a.shape for d in (s, 1)])      # (p1, 1, p2, 1, ...)
    spread_b = ops.reshape(b, [d for s in b.shape for d in (1, s)])      # (1, q1, 1, q2, ...)
    y = ops.mul(spread_a, spread_b)
    return ops.reshape(y, [p * q for p, q in zip(a.shape, b.shape)])


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None) -> Tensor:
    """The cross product of 3-vectors along the last axes: (a2 b3 - a3 b2, a3 b1 - a1 b3, a1 b2 - a2 b1)."""
    a, b = _matching(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    if (axisa, axisb, axisc) != (-1, -1, -1) and not (a.ndim and axisa % a.ndim == a.ndim - 1
                                                      and axisb % b.ndim == b.ndim - 1):
        raise ValueError("cross: shendu computes the cross product along the last axis only; move the vector "
                         "axis last with ops.moveaxis.")
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"cross expects 3-vectors on the last axis, got shapes {a.shape} and {b.shape}.")
    a1, a2, a3 = (a[..., i] for i in range(3))
    b1, b2, b3 = (b[..., i] for i in range(3))
    return ops.stack([a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1], -1)


def norm(x, ord=None, axis=None, keepdims=False) -> Tensor:
    """Vector norms (ord None/2, 1, inf, -inf, 0, p) and matrix norms ('fro', 1, -1, inf, -inf) as in NumPy;
    the matrix norms 'nuc', 2 and -2 need singular values and are constants (no gradient)."""
    x = _float(x)
    if axis is None:
        axis = tuple(range(x.ndim)) if ord is None else (tuple(range(x.ndim)) if x.ndim <= 2 else None)
        if axis is None:
            raise ValueError(f"norm: ord={ord!r} of a {x.ndim}-D tensor needs axis (one axis, or two for a matrix).")
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    axes = tuple(a % x.ndim for a in axes) if x.ndim else ()
    if ord is None or (ord == "fro" and len(axes) == 2) or (ord == 2 and len(axes) == 1):
        return ops.sqrt(ops.sum(ops.mul(x, x), axes, keepdims))
    if len(axes) == 1:
        a = ops.abs(x)
        if ord == float("inf"):
            return ops.max(a, axes, keepdims)
        if ord == -float("inf"):
            return ops.min(a, axes, keepdims)
        if ord == 0:
            return Tensor._wrap((x.data != 0).sum(axis=axes, keepdims=keepdims).astype(x.dtype), False)
        if ord == 1:
            return ops.sum(a, axes, keepdims)
        return ops.pow(ops.sum(ops.pow(a, float(ord)), axes, keepdims), 1.0 / float(ord))
    if len(axes) != 2:
        raise ValueError(f"norm: axis must name one axis (a vector norm) or two (a matrix norm), got {axis!r}.")
    r, c = axes
    if ord in (1, -1):
        col = ops.sum(ops.abs(x), r, True)
        y = (ops.max if ord == 1 else ops.min)(col, c, True)
    elif ord in (float("inf"), -float("inf")):
        row = ops.sum(ops.abs(x), c, True)
        y = (ops.max if ord > 0 else ops.min)(row, r, True)
    elif ord in ("nuc", 2, -2):
        y = Tensor._wrap(backend.xp.linalg.norm(x.data, ord, axes, keepdims=True), False)
    else:
        raise ValueError(f"norm: unknown matrix ord {ord!r}; use 'fro', 'nuc', 1, -1, 2, -2, inf or -inf.")
    return y if keepdims else ops.reshape(y, [n for i, n in enumerate(y.shape) if i not in axes])


def inv(x) -> Tensor:
    return lops.inv(_float(x))


def solve(a, b) -> Tensor:
    a, b = _matching(_float(a), _float(b))
    return lops.solve(a, b)


def solve_triangular(a, b, lower=False) -> Tensor:
    """Solve a x = b using only a's lower (or upper) triangle; differentiable through ``solve``."""
    a = _float(a)
    return solve(tril(a) if lower else triu(a), b)


def det(x) -> Tensor:
    return lops.det(_float(x))


def logdet(x) -> Tensor:
    """ln det x (for positive definite x), composed as log(det x)."""
    return ops.log(det(x))


def slogdet(x) -> tuple:
    """(sign, ln |det x|); the sign is a constant, the log differentiable."""
    d = det(x)
    return Tensor._wrap(backend.xp.sign(d.data), False), ops.log(ops.abs(d))


def _constant(fn, *args, **kwargs):
    out = fn(*args, **kwargs)
    if isinstance(out, tuple):
        return tuple(Tensor._wrap(o, False) for o in out)
    return Tensor._wrap(out, False)


def cholesky(x, upper=False) -> Tensor:
    """L with x = L Lᵀ (or U with x = Uᵀ U). A constant: shendu has no gradient for it."""
    L = _constant(backend.xp.linalg.cholesky, _float(x).data)
    return ops.transpose(L, list(range(L.ndim - 2)) + [L.ndim - 1, L.ndim - 2]) if upper else L


def qr(x, mode="reduced") -> tuple:
    """(Q, R). Constants: shendu has no gradient for it."""
    return _constant(backend.xp.linalg.qr, _float(x).data, mode=mode)


def svd(x, full_matrices=True, compute_uv=True):
    """(U, S, Vh), or S alone. Constants: shendu has no gradient for it."""
    return _constant(backend.xp.linalg.svd, _float(x).data, full_matrices=full_matrices, compute_uv=compute_uv)


def eig(x) -> tuple:
    """(eigenvalues, eigenvectors). Constants: shendu has no gradient for it."""
    return _constant(backend.xp.linalg.eig, _float(x).data)


def eigh(x) -> tuple:
    """(eigenvalues, eigenvectors) of a symmetric matrix. Constants: shendu has no gradient for it."""
    return _constant(backend.xp.linalg.eigh, _float(x).data)


def lstsq(a, b, rcond=None) -> Tensor:
    """The least-squares x minimizing |a x - b|. A constant: shendu has no gradient for it."""
    return Tensor._wrap(backend.xp.linalg.lstsq(_float(a).data, _float(b).data, rcond=rcond)[0], False)


def pinv(x, rcond=None) -> Tensor:
    """The Moore-Penrose pseudo-inverse. A constant: shendu has no gradient for it."""
    return Tensor._wrap(backend.xp.linalg.pinv(_float(x).data, **({} if rcond is None else {"rcond": rcond})),
                        False)


def matrix_rank(x, tol=None) -> Tensor:
    """The rank (an int constant)."""
    return Tensor._wrap(backend.xp.asarray(backend.xp.linalg.matrix_rank(_float(x).data, tol=tol), "int32"), False)


def cdist(x, y) -> Tensor:
    """Euclidean distances between the rows: out[..., i, j] = ‖x[..., i, :] - y[..., j, :]‖."""
    a, b = _matching(_float(x), _float(y))
    d = ops.sub(ops.expand_dims(a, -2), ops.expand_dims(b, -3))
    return ops.sqrt(ops.sum(ops.mul(d, d), -1))
