"""The few places where ``fit``, ``evaluate`` and ``predict`` consult the model's distribution strategy.
Each is a pass-through for a model compiled outside any ``strategy.scope()``."""
from __future__ import annotations

import contextlib

from shendu.distribute import context


def _strategy(model):
    return model.__dict__.get("_distribute_strategy")


def on_compile(model) -> None:
    """A model compiled inside ``strategy.scope()`` remembers the strategy; its optimizer averages gradients."""
    current = context.current()
    object.__setattr__(model, "_distribute_strategy", current)
    if current is not None:
        model.optimizer = current.prepare_optimizer(model.optimizer)


def on_fit_begin(model, callbacks: list) -> list:
    strategy = _strategy(model)
    if strategy is None:
        return callbacks
    strategy.on_fit_begin(model)
    return strategy.worker_callbacks(callbacks)


def worker_callbacks(model, callbacks: list) -> list:
    strategy = _strategy(model)
    return callbacks if strategy is None else strategy.worker_callbacks(callbacks)


def shard(model, batches):
    strategy = _strategy(model)
    return batches if strategy is None else strategy.shard_batches(model, batches)


def summed_metrics(model):
    strategy = _strategy(model)
    return contextlib.nullcontext() if strategy is None else strategy.summed_metrics(model.metrics)


def gather_predictions(model, parts: list) -> list:
    strategy = _strategy(model)
    return parts if strategy is None else strategy.gather_predictions(parts)
