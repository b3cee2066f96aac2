"""The stack of open ``strategy.scope()`` blocks: the one piece of shendu.distribute that the training loop
needs at import time (the strategies, collectives and mpi4py load only when a script uses them)."""
from __future__ import annotations

scopes: list = []


def current():
    """The strategy of the innermost open ``scope()``, or None."""
    return scopes[-1] if scopes else None
