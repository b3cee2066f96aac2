"""A model's ``compile()`` arguments in a file, both ways: Keras 3's ``get_compile_config()`` and
``compile_from_config()`` (the optimizer, the loss and the metrics as serialized objects)."""
from __future__ import annotations

import inspect
import warnings

from shendu import optimizers
from shendu.saving.config import Context, deserialize_keras_object, serialize_keras_object
from shendu.saving.registry import model_class


def compile_config_of(model):
    """Keras 3's ``get_compile_config()``: compile()'s arguments, serialized; None if not compiled."""
    if not getattr(model, "_compiled", False):
        return None
    names = model._output_names()

    def per_output(specs):
        if len(names) == 1:
            return specs[0]
        if all(s is None for s in specs):
            return None
        return {n: s for n, s in zip(names, specs)}

    weights = list(getattr(model, "_loss_weights", []) or [])
    return {"optimizer": optimizers.serialize(model.optimizer) if model.optimizer is not None else None,
            "loss": serialize_keras_object(model.loss),
            "loss_weights": None if all(w == 1.0 for w in weights) else weights,
            "metrics": serialize_keras_object(per_output(model._metric_specs)),
            "weighted_metrics": serialize_keras_object(per_output(model._weighted_specs)),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def compile_from_config(model, config: dict, ctx: Context) -> None:
    """Keras 3's ``compile_from_config``: rebuild optimizer, loss and metrics, then compile."""
    if type(model).compile is not model_class("Model").compile:
        warnings.warn(f"compile() was not called while loading '{model.name}': its class overrides compile(), whose "
                      "arguments the file does not hold. Call model.compile(...) after loading.", stacklevel=3)
        return
    args = {}
    if config.get("optimizer") is not None:
        args["optimizer"] = deserialize_keras_object(config["optimizer"], ctx, kind="optimizer")
    for key, kind in (("loss", "loss"), ("metrics", "metric"), ("weighted_metrics", "metric")):
        value = config.get(key)
        if value is not None:
            args[key] = _deserialize_spec(value, ctx, kind)
    if config.get("loss_weights") is not None:
        args["loss_weights"] = config["loss_weights"]
    accepted = set(inspect.signature(model.compile).parameters)
    args.update({k: v for k, v in config.items() if k not in args and k in accepted and k not in
                 ("optimizer", "loss", "metrics", "weighted_metrics", "loss_weights")})
    model.compile(**args)


def _deserialize_spec(value, ctx, kind):
    """A loss/metric spec keeps its shape (name, list, dict by output); objects inside are rebuilt."""
    if isinstance(value, str):
        return ctx.custom(value) or value
    if isinstance(value, list):
        return [_deserialize_spec(v, ctx, kind) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _deserialize_spec(v, ctx, kind) for k, v in value.items()}
    return deserialize_keras_object(value, ctx, kind=kind)
