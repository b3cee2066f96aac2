"""Registered custom objects, as Keras 3 keeps them: ``@register_keras_serializable(package)`` names a
class or function ``"package>Name"`` in saved files, and loading finds it there without
``custom_objects``; ``custom_object_scope({...})`` lends names for the duration of a ``with`` block."""
from __future__ import annotations

import inspect
import threading

_REGISTERED: dict = {}           # "package>Name" -> class or function
_NAMES: dict = {}                # class or function -> "package>Name"
_scopes = threading.local()


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: register a class (which must have ``get_config``) or a function as ``package>name``."""
    def decorator(obj):
        registered = f"{package}>{name or obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register {obj.__name__}: a class needs a get_config() method to be saved "
                             "and rebuilt from its config.")
        if registered in _REGISTERED:         # a new object under a taken name replaces the old one, as in Keras 3
            _NAMES.pop(_REGISTERED[registered], None)
        _REGISTERED[registered] = obj
        _NAMES[obj] = registered
        return obj
    return decorator


def get_registered_name(obj) -> str:
    """``"package>Name"`` for a registered object, else its ``__name__``."""
    return _NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_custom_objects() -> dict:
    """The registered objects by their registered names; writing to the dict registers a name globally,
    as in Keras."""
    return _REGISTERED


def _lent() -> dict:
    out = dict(_REGISTERED)
    for scope in getattr(_scopes, "stack", []):
        out.update(scope)
    return out


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects: dict | None = None):
    """The object saved under ``name``: open scopes and the registry, then custom_objects, then module_objects."""
    lent = _lent()
    if name in lent:
        return lent[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}): load_model(path)`` lends names inside the block."""

    def __init__(self, *custom_objects):
        self.custom_objects = {}
        for objects in custom_objects:
            if objects is not None:
                self.custom_objects.update(objects)

    def __enter__(self):
        if not hasattr(_scopes, "stack"):
            _scopes.stack = []
        _scopes.stack.append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _scopes.stack.pop()


custom_object_scope = CustomObjectScope


def known_objects() -> dict:
    """What a load may use besides its own custom_objects: the registry and the open scopes."""
    return _lent()


def find(name: str):
    """The object registered (or lent by an open scope) as ``name``, or as ``package>name`` when only one
    package has that name; None if there is none."""
    lent = _lent()
    if name in lent:
        return lent[name]
    matches = [obj for key, obj in lent.items() if key.endswith(">" + name)]
    return matches[0] if len(matches) == 1 else None
