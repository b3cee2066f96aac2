"""Keras 3's object-config convention, shared by initializers, regularizers, layers and models.

An object serialises to ``{"module", "class_name", "config", "registered_name"}``; deserialising
looks the class up in an explicit registry (never imports or executes anything named in a file).
"""
from __future__ import annotations


def serialize(obj, module: str):
    """Keras 3's nested dict for ``obj`` (None stays None)."""
    if obj is None:
        return None
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}


def serialize_or_function(obj, module: str, base: type, kind: str):
    """Keras's dict for an instance of ``base``, or its ``function`` entry (by name) for a plain function."""
    if isinstance(obj, base):
        return serialize(obj, module)
    if callable(obj):
        return {"module": "builtins", "class_name": "function", "config": obj.__name__, "registered_name": "function"}
    raise TypeError(f"serialize expects a {kind} instance or a {kind.lower()} function, got {type(obj).__name__}.")


def lookup(kind: str, identifier, registry: dict, aliases: dict | None = None):
    """Find ``identifier`` (a class name, snake_case alias or config dict) in ``registry``.

    Unknown names raise a ValueError that lists every valid identifier.
    """
    aliases = aliases or {}
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        config = identifier.get("config", {}) or {}
    else:
        name, config = identifier, None
    key = aliases.get(name, aliases.get(str(name).lower(), name))
    cls = registry.get(key)
    if cls is None:
        valid = sorted(set(registry) | set(aliases))
        raise ValueError(f"Unknown {kind} {name!r}. Valid {kind} identifiers are: {', '.join(valid)}.")
    if config is None:
        return cls()
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
