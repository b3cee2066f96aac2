"""``shendu.numpy_api``: NumPy's functions over shendu Tensors, with Keras 3's ``keras.ops`` signatures
(``arange(start, stop=None, step=None, dtype=None)``, ``clip(x, x_min, x_max)``, ...), differentiable
through shendu's autograd wherever the math allows.

One module per family: ``creation``, ``math`` (elementwise, comparison, logic), ``reduction``,
``manipulation`` (shapes), ``indexing``, ``linalg`` and ``control`` (cond, while_loop, scan, ...). A function
that is not composed from differentiable ops (an index, a comparison, a factorization) says so in its docstring.
"""
from shendu.numpy_api import control, creation, indexing, linalg, manipulation, math, reduction

_FAMILIES = (creation, math, reduction, manipulation, indexing, linalg, control)

# every public function defined in a family module (aliases such as ``absolute = abs`` included)
__all__ = sorted({name for module in _FAMILIES for name, value in vars(module).items()
                  if not name.startswith("_") and callable(value) and not isinstance(value, type)
                  and getattr(value, "__module__", None) == module.__name__})
globals().update({name: getattr(module, name) for module in _FAMILIES for name in __all__
                  if name in vars(module) and getattr(vars(module)[name], "__module__", None) == module.__name__})
