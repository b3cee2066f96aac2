"""Teaching errors for names TensorFlow or Keras documents that shendu does not provide.

A namespace (``shendu``, ``shendu.keras.ops``, ``shendu.math``, ...) installs ``missing_names(...)`` as
its module ``__getattr__``: a documented name raises ``UnsupportedError`` saying why and what to use
instead; a misspelt one raises an AttributeError that suggests the nearest names.
"""
from __future__ import annotations

import difflib


class UnsupportedError(AttributeError, NotImplementedError):
    """A documented TensorFlow/Keras name without a meaning in shendu. It is an AttributeError (so
    ``hasattr`` and ``getattr(module, name, default)`` still work) and a NotImplementedError."""


def missing_names(namespace: str, table: dict, module_globals: dict):
    """A module ``__getattr__`` for ``namespace``: names in ``table`` raise UnsupportedError with the
    table's hint; other names an AttributeError listing the closest names the module does have."""
    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(f"module {namespace!r} has no attribute {name!r}")
        if name in table:
            raise UnsupportedError(f"{namespace}.{name} is not available in shendu: {table[name]}")
        known = [n for n in module_globals if not n.startswith("_")] + list(table)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.7)
        hint = f" Did you mean {' or '.join(f'{namespace}.{c}' for c in close)}?" if close else ""
        raise AttributeError(f"{namespace} has no attribute {name!r}.{hint} "
                             f"dir({namespace.split('.')[-1]}) lists what it provides.")
    return __getattr__


def did_you_mean(name, candidates) -> str:
    """" Did you mean 'relu'?" for the valid names closest to a misspelt ``name`` (case-insensitive), else ""."""
    if not isinstance(name, str):
        return ""
    by_lower = {}
    # a lower-case name is shown its snake_case spelling ('adam'), a capitalised one the class ('Adam')
    for candidate in sorted(map(str, candidates), key=lambda c: (c == c.lower()) != name.islower()):
        by_lower.setdefault(candidate.lower(), candidate)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(by_lower[c]) for c in close)}?" if close else ""
