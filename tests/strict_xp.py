"""A strict array module for tests: NumPy underneath, but arrays behave like CuPy's device arrays.

- An array refuses implicit conversion to NumPy (``numpy.asarray(a)``, ``numpy.exp(a)``, ``a + numpy_array``
  raise TypeError, as CuPy's do); ``a.get()`` is the explicit way to the host.
- The module's functions refuse NumPy arrays (CuPy's do too); ``asarray``/``array`` move host data in.
- Every move between host and "device" is counted in ``transfers``: ``asarray`` of host data, ``get()``,
  ``float()``/``int()``/``bool()``/``item()``/``tolist()`` of an array, NumPy arrays used as indices.

Use it with ``shendu.set_backend(strict_xp.module)``. If shendu runs a suite on it, the code path really
goes through ``backend.xp`` (and so would run on CuPy), and the transfer counts say how often data
crosses to the host.
"""
from __future__ import annotations

import operator
import types

import numpy as np

transfers = {"to_device": 0, "to_host": 0}
where: list | None = None       # set to [] to record the shendu line behind each transfer


def reset_transfers(record: bool = False) -> None:
    global where
    transfers["to_device"] = transfers["to_host"] = 0
    where = [] if record else None


def _count(kind: str) -> None:
    transfers[kind] += 1
    if where is not None:
        import traceback
        frames = [f for f in traceback.extract_stack()[:-2] if "/shendu/" in f.filename]
        if frames:
            where.append((kind, f"{frames[-1].filename.split('/shendu/')[-1]}:{frames[-1].lineno}"))


class StrictArray:
    """A NumPy array that must not silently become one."""
    __slots__ = ("_a",)
    __array_priority__ = 10000
    __array_ufunc__ = None          # NumPy's operators and ufuncs defer to us, and we refuse them
    __hash__ = None

    def __init__(self, a: np.ndarray):
        self._a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (as in CuPy); use .get() "
                        "(shendu: backend.to_numpy) to copy an array to the host.")

    def get(self):
        _count("to_host")
        return self._a.copy()

    # host values of a size-1 array: allowed, but each one is a device-to-host copy (a sync on a GPU)
    def _host_scalar(self, kind):
        _count("to_host")
        return kind(self._a)

    def __float__(self):
        return self._host_scalar(float)

    def __int__(self):
        return self._host_scalar(int)

    def __index__(self):
        return self._host_scalar(operator.index)

    def __bool__(self):
        return self._host_scalar(bool)

    def __complex__(self):
        return self._host_scalar(complex)

    def item(self, *args):
        _count("to_host")
        return self._a.item(*args)

    def tolist(self):
        _count("to_host")
        return self._a.tolist()

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self._a)):
            yield wrap(self._a[i])

    def __repr__(self):
        return f"strict_array({self._a!r})"

    def __getitem__(self, index):
        return wrap(self._a[unwrap_index(index)])

    def __setitem__(self, index, value):
        self._a[unwrap_index(index)] = unwrap(value, "__setitem__")

    def __getattr__(self, name):
        if name.startswith("__"):       # no __array_interface__ / __array_struct__: NumPy must not read us
            raise AttributeError(name)
        value = getattr(self._a, name)
        if callable(value):
            return _wrapped_function(value, f"ndarray.{name}")
        return wrap(value) if isinstance(value, np.ndarray) else value

    @property
    def T(self):
        return StrictArray(self._a.T)

    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size


def _binary(op, reflected=False):
    def method(self, other):
        other = unwrap(other, op.__name__)
        return wrap(op(other, self._a) if reflected else op(self._a, other))
    return method


def _inplace(op):
    def method(self, other):
        self._a = op(self._a, unwrap(other, op.__name__))
        return self
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
              "rshift"):
    _op = getattr(operator, _name + "_" if _name in ("and", "or") else _name)
    setattr(StrictArray, f"__{_name}__", _binary(_op))
    setattr(StrictArray, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(StrictArray, f"__i{_name}__", _inplace(getattr(operator, "i" + _name)))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(StrictArray, f"__{_name}__", _binary(getattr(operator, _name)))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(StrictArray, f"__{_name}__", (lambda op: lambda self: wrap(op(self._a)))(getattr(operator, _name)))


def unwrap(value, where):
    """The NumPy array behind a strict one; a raw NumPy array is refused, as CuPy refuses host arrays."""
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"strict backend: {where} got a NumPy array; CuPy would refuse a host array here. "
                        "Move it to the device once with backend.xp.asarray (or keep it on the device).")
    if isinstance(value, (list, tuple)):
        return type(value)(unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v, where) for k, v in value.items()}
    return value


def unwrap_index(index):
    if isinstance(index, tuple):
        return tuple(unwrap_index(i) for i in index)
    if isinstance(index, StrictArray):
        return index._a
    if isinstance(index, np.ndarray):          # a host index array: CuPy copies it to the device
        _count("to_device")
        return index
    return index


def wrap(value):
    """Results as strict arrays; NumPy scalars as 0-d arrays (CuPy's reductions return 0-d arrays)."""
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):
        return StrictArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def _wrapped_function(fn, name):
    def call(*args, **kwargs):
        out = kwargs.get("out")
        args = unwrap(list(args), name)
        kwargs = {k: unwrap(v, name) for k, v in kwargs.items()}
        result = fn(*args, **kwargs)
        return out if isinstance(out, StrictArray) else wrap(result)      # out= writes into the strict array
    call.__name__ = getattr(fn, "__name__", name)
    return call


def _to_device(data, dtype=None, copy=False, **kwargs):
    if isinstance(data, StrictArray):
        a = data._a.astype(dtype) if dtype is not None and data._a.dtype != dtype else data._a
        return StrictArray(a.copy() if copy and a is data._a else a)
    if isinstance(data, (list, tuple)) and any(isinstance(v, StrictArray) for v in data):
        return StrictArray(np.array([unwrap(v, "asarray") for v in data], dtype=dtype))
    _count("to_device")
    return StrictArray(np.array(data, dtype=dtype, copy=True, **kwargs))


class _Ufunc:
    """A ufunc on strict arrays, with ``at``/``reduce``/``accumulate``/``outer`` (CuPy 13 has ``add.at``)."""

    def __init__(self, ufunc, name):
        self._ufunc, self.__name__ = ufunc, name
        self._call = _wrapped_function(ufunc, name)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def at(self, a, indices, b=None):
        if not isinstance(a, StrictArray):
            raise TypeError(f"strict backend: {self.__name__}.at needs a strict array to update")
        args = (unwrap_index(indices),) + (() if b is None else (unwrap(b, self.__name__ + ".at"),))
        self._ufunc.at(a._a, *args)

    def __getattr__(self, name):
        return _wrapped_function(getattr(self._ufunc, name), f"{self.__name__}.{name}")


class _Namespace(types.ModuleType):
    """A module whose functions take and return strict arrays; types and constants pass through."""

    def __init__(self, name, source):
        super().__init__(name)
        self._source = source

    def __getattr__(self, name):
        value = getattr(self._source, name)
        if isinstance(value, (type, np.dtype)) or not callable(value):
            if isinstance(value, types.ModuleType):
                return _Namespace(f"{self.__name__}.{name}", value)
            return value
        if isinstance(value, np.ufunc):
            return _Ufunc(value, f"{self.__name__}.{name}")
        return _wrapped_function(value, f"{self.__name__}.{name}")


class _Random(_Namespace):
    def default_rng(self, seed=None):
        return _Namespace("strict.Generator", np.random.default_rng(seed))


module = _Namespace("strict", np)
module.ndarray = StrictArray
module.asarray = _to_device
module.array = lambda data, dtype=None, copy=True, **kw: _to_device(data, dtype, copy=True, **kw)
module.ascontiguousarray = lambda data, dtype=None: _to_device(data, dtype)
module.random = _Random("strict.random", np.random)
module.isscalar = np.isscalar
try:
    import scipy.special
    module.special = _Namespace("strict.special", scipy.special)     # as cupyx.scipy.special
except ImportError:  # pragma: no cover - scipy comes with scikit-learn
    pass
module.get_array_module = lambda *args: module
