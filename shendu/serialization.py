"""Keras 3's object-config convention for one family at a time: initializers, regularizers, losses,
metrics, optimizers and the layers that nest one object (an RNN's cell, a wrapper's layer).

An object serialises to ``{"module", "class_name", "config", "registered_name"}``; deserialising
looks the class up in the family's own name table (never imports or executes anything named in a
file). These modules sit below ``saving``, so they cannot use its (de)serializer; ``saving.config``
is the one that handles any object, whole models included, through ``saving.registry``.
"""
from __future__ import annotations

from shendu.missing import did_you_mean


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


def deserialize_or_function(config, table: dict, unknown, custom_objects=None):
    """The inverse of ``serialize_or_function`` over a name table: a name gives the function (or a
    default instance of the class), a class config its instance; a wrapped ``fn`` is resolved too.
    ``unknown(name)`` builds the error for a name the table lacks."""
    table = {**table, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in table:
            raise unknown(config)
        obj = table[config]
        return obj() if isinstance(obj, type) else obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize expects a name or a dict with 'class_name' and 'config', got {config!r}.")
    if config["class_name"] == "function":
        return deserialize_or_function(config["config"], table, unknown)
    cls = table.get(config["class_name"])
    if not isinstance(cls, type):
        raise unknown(config["class_name"])
    inner = dict(config.get("config") or {})
    if isinstance(inner.get("fn"), (dict, str)):     # a wrapped function, maybe one of custom_objects
        inner["fn"] = deserialize_or_function(inner["fn"], table, unknown)
    return cls.from_config(inner)


def get_object(identifier, table: dict, unknown, deserialize):
    """Keras's ``get``: None stays None, a dict is deserialized, a name from ``table`` gives its function
    (or a default instance of its class), a class is instantiated and any other callable passes through."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in table:
            raise unknown(identifier)
        identifier = table[identifier]
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise unknown(identifier)


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
        raise ValueError(f"Unknown {kind} {name!r}.{did_you_mean(name, valid)} Valid {kind} identifiers are: "
                         f"{', '.join(valid)}.")
    if config is None:
        return cls()
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
