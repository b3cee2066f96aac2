"""``keras.backend``: session and float-type helpers, and tf.keras 2's get_value / set_value."""
import numpy as np

from shendu.backend import set_floatx as _set_floatx
from shendu.layers.base import clear_session  # noqa: F401


def floatx() -> str:
    from shendu import backend
    return backend.xp.dtype(backend.floatx).name


def set_floatx(value) -> None:
    _set_floatx(value)


def epsilon() -> float:
    return 1e-7


def get_value(x):
    """The value of a tensor or variable as NumPy (a number stays a number): ``get_value(model.optimizer.lr)``."""
    if hasattr(x, "numpy"):
        return x.numpy()
    return x if isinstance(x, (int, float)) else np.asarray(x)


def set_value(x, value) -> None:
    """Assign ``value`` to a variable in place: ``set_value(model.optimizer.lr, 0.001)`` sets the rate,
    ``set_value(layer.kernel, array)`` a weight."""
    if hasattr(x, "assign"):
        x.assign(value)
        return
    from shendu.tensor import Tensor
    if not isinstance(x, Tensor):
        raise TypeError(f"set_value expects a variable (a weight Tensor or optimizer.learning_rate), got "
                        f"{type(x).__name__}.")
    value = np.asarray(value)
    if value.shape != tuple(x.shape):
        raise ValueError(f"set_value: the variable has shape {tuple(x.shape)} but the value has shape {value.shape}.")
    from shendu import backend
    x.data[...] = backend.asarray(value).astype(x.dtype)
