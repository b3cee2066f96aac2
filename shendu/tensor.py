"""Tensor: an array of the backend module plus what reverse-mode autodiff needs.

A tensor holds ``data`` (the array), ``requires_grad``, ``grad`` (filled by ``backward``) and
``creator`` (the op that made it, the link the gradient walks back along). Its operators
dispatch to the primitive ops in ``shendu.ops``; the math lives there, not here.
"""
from __future__ import annotations

from shendu import backend


class Tensor:
    """An n-dimensional array that can record the ops applied to it and backpropagate through them."""

    __array_priority__ = 1000   # NumPy defers to Tensor's reflected operators
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = backend.asarray(data, dtype)
        if requires_grad and not backend.is_float(self.data.dtype):
            raise TypeError(
                f"Only float tensors can require gradients, but this tensor has dtype {self.data.dtype}. "
                "Pass dtype='float32' (or float64) to make it differentiable.")
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self.creator = None
        self._index = 0
        self.name = name

    @classmethod
    def _wrap(cls, array, requires_grad):
        t = cls.__new__(cls)
        # only float results carry gradients (an argmax or a cast to int is a constant)
        requires_grad = requires_grad and (array.dtype.kind in "fc" or array.dtype.name == "bfloat16")
        t.data, t.requires_grad, t.grad, t.creator, t._index, t.name = array, requires_grad, None, None, 0, None
        return t

    # ---------------------------------------------------------------- array facts
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = backend.to_numpy(self.data).__repr__()
        body = body[body.index("(") + 1:body.rindex(")")] if body.startswith("array(") else body
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}{grad})"

    def numpy(self):
        """A NumPy copy of the values: a snapshot that later training steps or assigns do not change."""
        a = backend.to_numpy(self.data)
        return a.copy() if a is self.data else a

    def __array__(self, dtype=None, copy=None):
        a = backend.to_numpy(self.data)     # np.asarray(t) shares memory on the CPU; np.array(t) copies
        if copy:
            a = a.copy()
        return a if dtype is None else a.astype(dtype)

    # ---------------------------------------------------------------- a weight as a Keras variable
    path = None             # 'dense/kernel' for a layer's weight (set by Layer.add_weight)
    constraint = None

    @property
    def trainable(self) -> bool:
        """Whether an optimizer updates this weight; setting it also turns gradient tracking on or off."""
        return getattr(self, "_trainable", self.requires_grad)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        if backend.is_float(self.data.dtype):
            self.requires_grad = bool(value)

    @property
    def value(self) -> "Tensor":
        """The variable's current value as a tensor (this tensor: gradients flow through it)."""
        return self

    def _checked(self, value, method):
        if isinstance(value, Tensor):
            value = value.data
        elif hasattr(value, "numpy"):
            value = value.numpy()
        value = backend.asarray(value)
        if tuple(value.shape) != tuple(self.shape):
            raise ValueError(f"{method}: the shape of the variable '{self.path or self.name}' {tuple(self.shape)} "
                             f"and the shape of the value {tuple(value.shape)} must match.")
        return value

    def assign(self, value) -> "Tensor":
        """Overwrite the values in place (same shape; cast to this dtype); returns the variable."""
        new = self._checked(value, "assign")
        self.data[...] = new
        return self

    def assign_add(self, delta) -> "Tensor":
        """self += delta, in place."""
        self.data += self._checked(delta, "assign_add").astype(self.dtype, copy=False)
        return self

    def assign_sub(self, delta) -> "Tensor":
        """self -= delta, in place."""
        self.data -= self._checked(delta, "assign_sub").astype(self.dtype, copy=False)
        return self

    def item(self):
        return self.data.item()

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __index__(self):
        """An integer scalar tensor indexes a list, as TensorFlow's do: class_names[labels[i]]."""
        if self.data.ndim or self.data.dtype.kind not in "iub":
            raise TypeError(f"only an integer scalar tensor can be used as an index, got dtype {self.dtype} "
                            f"and shape {tuple(self.shape)}.")
        return int(self.data)

    def __bool__(self):
        return bool(self.data)

    def __hash__(self):
        return id(self)

    def detach(self) -> "Tensor":
        """The same values, cut from the graph."""
        return Tensor._wrap(self.data, False)

    def astype(self, dtype) -> "Tensor":
        return _ops().cast(self, dtype)

    # ---------------------------------------------------------------- autodiff
    def _accumulate(self, g):
        if self.grad is None:
            self.grad = Tensor._wrap(g, False)
        else:
            self.grad = Tensor._wrap(self.grad.data + g, False)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor: fill ``.grad`` of every leaf that requires it.

        ``grad`` is dL/dself; it may be omitted only for a scalar (then it is 1).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() was called on a tensor that does not require grad: nothing recorded how it "
                "was computed. Create the inputs with requires_grad=True (or shendu.tensor(x, "
                "requires_grad=True)) and make sure the computation is not inside shendu.no_grad().")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient works only for a scalar, but this tensor has shape "
                    f"{self.shape}. Reduce it first (loss.sum() or loss.mean()) or pass grad= with the "
                    f"same shape {self.shape}.")
            g = backend.xp.ones_like(self.data)
        else:
            g = grad.data if isinstance(grad, Tensor) else backend.asarray(grad, self.data.dtype)
            if g.shape != self.shape:
                raise ValueError(f"backward(grad=...) needs a gradient of shape {self.shape}, got {g.shape}.")
        from shendu.autograd import run_backward     # the engine sits above Tensor: it builds on it
        run_backward([self], [g], retain_graph=retain_graph)

    def zero_grad(self) -> None:
        self.grad = None

    # ---------------------------------------------------------------- operators
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().sub(self, other)

    def __rsub__(self, other):
        return _ops().sub(other, self)

    def __mul__(self, other):
        return _ops().mul(self, other)

    def __rmul__(self, other):
        return _ops().mul(other, self)

    def __truediv__(self, other):
        return _ops().div(self, other)

    def __rtruediv__(self, other):
        return _ops().div(other, self)

    def __pow__(self, other):
        return _ops().pow(self, other)

    def __rpow__(self, other):
        return _ops().pow(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __neg__(self):
        return _ops().neg(self)

    def __pos__(self):
        return self

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    # comparisons give plain boolean tensors: they have no gradient
    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(op(self.data, other), False)

    def __lt__(self, other):
        return self._compare(other, backend.xp.less)

    def __le__(self, other):
        return self._compare(other, backend.xp.less_equal)

    def __gt__(self, other):
        return self._compare(other, backend.xp.greater)

    def __ge__(self, other):
        return self._compare(other, backend.xp.greater_equal)

    def __eq__(self, other):
        return self._compare(other, backend.xp.equal)

    def __ne__(self, other):
        return self._compare(other, backend.xp.not_equal)

    # ---------------------------------------------------------------- methods
    @property
    def T(self):
        return _ops().transpose(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops().transpose(self, axes or None)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def sum(self, axis=None, keepdims=False):
        return _ops().sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops().mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops().max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops().min(self, axis, keepdims)

    def exp(self):
        return _ops().exp(self)

    def log(self):
        return _ops().log(self)

    def sqrt(self):
        return _ops().sqrt(self)

    def abs(self):
        return _ops().abs(self)

    def tanh(self):
        return _ops().tanh(self)

    def sigmoid(self):
        return _ops().sigmoid(self)

    def relu(self):
        return _ops().relu(self)

    def clip(self, low, high):
        return _ops().clip(self, low, high)


def _ops():
    import shendu.ops as ops
    return ops


def as_tensor(data, dtype=None) -> Tensor:
    """``data`` as a Tensor (no copy when it already is one)."""
    if isinstance(data, Tensor):
        return data
    return Tensor._wrap(backend.asarray(data, dtype), False)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Build a Tensor: float32 for Python floats, float64 kept when given, integers stay integers."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# ---------------------------------------------------------------- constants with TensorFlow's spellings
# (tf.ones_like(real_output) in the DCGAN tutorial's losses, tf.range(...) in the Transformer one)
def ones_like(x, dtype=None) -> Tensor:
    """A constant tensor of ones with the shape (and dtype, unless given) of ``x``."""
    return Tensor._wrap(backend.xp.ones_like(as_tensor(x).data, dtype=dtype), False)


def zeros_like(x, dtype=None) -> Tensor:
    """A constant tensor of zeros with the shape (and dtype, unless given) of ``x``."""
    return Tensor._wrap(backend.xp.zeros_like(as_tensor(x).data, dtype=dtype), False)


def arange(start, limit=None, delta=1, dtype=None) -> Tensor:
    """``tf.range``: start, start + delta, ... up to (not including) limit; ``arange(n)`` is 0..n-1."""
    if limit is None:
        start, limit = 0, start
    values = backend.xp.arange(start, limit, delta, dtype=dtype)
    return Tensor._wrap(values.astype(backend.floatx) if dtype is None and values.dtype.kind == "f" else values,
                        False)


def shape(x) -> tuple:
    """``tf.shape(x)``: the shape of ``x`` as a tuple of ints (shendu runs eagerly, so it is always known)."""
    return tuple(int(d) for d in (x.shape if hasattr(x, "shape") else backend.asarray(x).shape))
