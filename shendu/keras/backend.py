"""``keras.backend``: session and float-type helpers."""
from shendu.backend import set_floatx as _set_floatx
from shendu.layers.base import clear_session  # noqa: F401


def floatx() -> str:
    from shendu import backend
    return backend.xp.dtype(backend.floatx).name


def set_floatx(value) -> None:
    _set_floatx(value)


def epsilon() -> float:
    return 1e-7
