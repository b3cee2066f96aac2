"""Matrix products: matmul (batched, broadcasting) and the fused dense layer z = xW + b."""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.ops import compiled
from shendu.ops.activation import _relu_grad
from shendu.ops.shape import reshape
from shendu.tensor import Tensor, as_tensor


def _same_dtype(y, a, b):
    """NumPy multiplies two bfloat16 (ml_dtypes) matrices in float32: give the result the operands' dtype."""
    return y.astype(a.dtype) if y.dtype != a.dtype and a.dtype == b.dtype else y


class MatMul(Function):
    """y = a @ b;   da = dy @ bᵀ, db = aᵀ @ dy (batched over leading axes)"""
    def forward(self, a, b):
        self.save(a, b)
        return _same_dtype(_product(a, b), a, b)

    def backward(self, gy):
        a, b = self.saved
        xp = backend.xp
        ga = _product(gy, xp.swapaxes(b, -1, -2)) if self.needs[0] else None
        gb = _product(xp.swapaxes(a, -1, -2), gy) if self.needs[1] else None
        return ga, gb


def _product(a, b):
    """a @ b; a product of two same-dtype float matrices through ``compiled.product`` (split over shendu's
    threads in a step that runs them)."""
    if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.dtype.kind == "f":
        return compiled.product(a, b)
    return a @ b


def _column_sums(g):
    """Σ over the rows of g (the bias gradient): a GEMV ones @ g for many rows, which ran ~4x faster than
    NumPy's .sum(axis=0) on a (65536, 32) float32 gradient (as Conv2D's bias gradient)."""
    xp = backend.xp
    if g.ndim == 2 and g.shape[0] >= 1024 and g.dtype.char in "fd":      # float16: NumPy's sum (no BLAS)
        return xp.ones(g.shape[0], g.dtype) @ g
    return g.sum(axis=0)


class Linear(Function):
    """z = x W + b  (x: (..., in), W: (in, out), b: (out,));   dx = dz Wᵀ, dW = xᵀ dz, db = Σ dz

    With ``relu`` the dense layer's activation a = max(z, 0) is fused in: written over z, and backward
    first turns da into dz = da · (a > 0), ReLU's own rule (ops/activation.py). One op instead of two.
    """
    relu = False

    def forward(self, x, W, *b):
        z = _same_dtype(_product(x.reshape(-1, x.shape[-1]), W).reshape(*x.shape[:-1], W.shape[-1]), x, W)
        if b:
            z += b[0]
        if self.relu:
            backend.xp.maximum(z, 0, out=z)         # z is this op's own array
            self.save(x, W, z)
        else:
            self.save(x, W)
        return z

    def backward(self, gz):
        x, W = self.saved[:2]
        if self.relu:
            gz = _relu_grad(self.saved[2], gz)
        x2 = x.reshape(-1, x.shape[-1])
        gz2 = gz.reshape(-1, gz.shape[-1])
        gx = _product(gz2, W.T).reshape(x.shape) if self.needs[0] else None
        gW = _product(x2.T, gz2) if self.needs[1] else None
        if len(self.needs) == 3:
            return gx, gW, _column_sums(gz2)
        return gx, gW


def matmul(a, b) -> Tensor:
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs arrays with at least one axis, got shapes {a.shape} and {b.shape}; use * for scalars.")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(
            f"matmul: shapes {a.shape} @ {b.shape} do not fit: the last axis of the left operand "
            f"({a.shape[-1]}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} axis of the right "
            f"operand ({b.shape[-2 if b.ndim > 1 else 0]}).")
    if a.ndim == 1 or b.ndim == 1:       # vectors: lift to matrices, multiply, drop the axis again
        a2 = reshape(a, (1, -1)) if a.ndim == 1 else a
        b2 = reshape(b, (-1, 1)) if b.ndim == 1 else b
        y = MatMul.apply(a2, b2)
        shape = y.shape[:-2] + (() if a.ndim == 1 else y.shape[-2:-1]) + (() if b.ndim == 1 else y.shape[-1:])
        return reshape(y, shape)
    return MatMul.apply(a, b)


def linear(x, kernel, bias=None, relu: bool = False) -> Tensor:
    """The dense layer's affine map z = x @ kernel + bias, fused into one op (with ``relu``: max(z, 0) too)."""
    x, kernel = as_tensor(x), as_tensor(kernel)
    if x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1]} features but the kernel "
                         f"{kernel.shape} expects {kernel.shape[0]}.")
    if bias is None:
        return Linear.apply(x, kernel, relu=relu)
    return Linear.apply(x, kernel, bias, relu=relu)


# ---------------------------------------------------------------- einsum and the matrix inverse family

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _explicit(subscripts: str, shapes) -> tuple:
    """'ij,jk' -> (['ij', 'jk'], 'ik'): the output spelled out and '...' replaced by letters of its own."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the subscripts {subscripts!r} name {len(terms)} operands but "
                         f"{len(shapes)} were given.")
    free = [c for c in _LETTERS if c not in subscripts]
    n_ellipsis = max([len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes) if "..." in t] or [0])
    dots = "".join(free[:n_ellipsis])
    spelled = []
    for t, s in zip(terms, shapes):
        if "..." in t:
            t = t.replace("...", dots[n_ellipsis - (len(s) - len(t.replace("...", ""))):])
        spelled.append(t)
    if arrow:
        output = output.replace("...", dots)
    else:       # implicit mode: the letters that appear once, in alphabetical order, after the broadcast axes
        letters = "".join(spelled)
        output = dots + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in dots))
    return spelled, output


class Einsum(Function):
    """y = einsum(terms -> out, x1, x2, ...);
    dx_k = einsum(out, x_others -> term_k)(dy, ...): the same contraction with dy in x_k's place
    (letters only x_k has are broadcast back; a repeated letter in x_k writes onto its diagonal)"""
    def forward(self, *xs):
        self.save(*xs)
        return backend.xp.einsum(",".join(self.terms) + "->" + self.output, *xs)

    def backward(self, gy):
        xp = backend.xp
        xs = self.saved
        grads = []
        for k, (x, term) in enumerate(zip(xs, self.terms)):
            if not self.needs[k]:
                grads.append(None)
                continue
            others = [(t, o) for i, (t, o) in enumerate(zip(self.terms, xs)) if i != k]
            unique = "".join(dict.fromkeys(term))
            known = set(self.output).union(*[set(t) for t, _ in others])
            sizes = dict(zip(term, x.shape))
            ones = [(c, xp.ones(sizes[c], x.dtype)) for c in unique if c not in known]
            terms = [self.output] + [t for t, _ in others] + [c for c, _ in ones]
            g = xp.einsum(",".join(terms) + "->" + unique, gy, *[o for _, o in others], *[o for _, o in ones])
            if unique != term:      # 'ii': write the gradient onto the diagonal (einsum gives a writable view)
                gx = xp.zeros(x.shape, x.dtype)
                xp.einsum(term + "->" + unique, gx)[...] += g
                g = gx
            grads.append(g)
        return tuple(grads)


def einsum(subscripts: str, *operands) -> Tensor:
    """Einstein summation: ``einsum('ij,jk->ik', a, b)`` is ``a @ b``; implicit output and '...' as in NumPy."""
    xs = [as_tensor(x) for x in operands]
    terms, output = _explicit(subscripts, [x.shape for x in xs])
    for t, x in zip(terms, xs):
        if len(t) != x.ndim:
            raise ValueError(f"einsum: the term {t!r} names {len(t)} axes but its operand has shape {x.shape}.")
    return Einsum.apply(*xs, terms=terms, output=output)


class Inv(Function):
    """Y = A⁻¹ (batched over leading axes);   dA = -Yᵀ dY Yᵀ"""
    def forward(self, A):
        Y = backend.xp.linalg.inv(A)
        self.save(Y)
        return Y

    def backward(self, gY):
        (Y,) = self.saved
        Yt = backend.xp.swapaxes(Y, -1, -2)
        return -(Yt @ gY @ Yt)


class Solve(Function):
    """x = A⁻¹ b (the solution of A x = b);   db = A⁻ᵀ dx, dA = -db xᵀ"""
    def forward(self, A, b):
        xp = backend.xp
        self.vector = b.ndim == 1
        x = xp.linalg.solve(A, b)
        self.save(A, x)
        return x

    def backward(self, gx):
        xp = backend.xp
        A, x = self.saved
        At = xp.swapaxes(A, -1, -2)
        if self.vector:
            gb = xp.linalg.solve(At, gx[..., None])[..., 0]
            return -gb[..., :, None] * x[..., None, :], gb
        gb = xp.linalg.solve(At, gx)
        return -(gb @ xp.swapaxes(x, -1, -2)), gb


class Det(Function):
    """y = det A;   dA = dy y A⁻ᵀ"""
    def forward(self, A):
        y = backend.xp.linalg.det(A)
        self.save(A, y)
        return y

    def backward(self, gy):
        xp = backend.xp
        A, y = self.saved
        return (gy * y)[..., None, None] * xp.swapaxes(xp.linalg.inv(A), -1, -2)


def _square(op, A):
    A = as_tensor(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{op} expects square matrices (..., n, n), got shape {A.shape}.")
    return A


def inv(A) -> Tensor:
    return Inv.apply(_square("inv", A))


def solve(A, b) -> Tensor:
    """The x with A x = b; ``b`` is (..., n) or (..., n, k)."""
    return Solve.apply(_square("solve", A), as_tensor(b))


def det(A) -> Tensor:
    return Det.apply(_square("det", A))
