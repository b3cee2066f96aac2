"""Objects to and from Keras 3's config dicts, looked up only in registries (never imported).

Every object in a ``.keras`` file's ``config.json`` is a dict::

    {"module": "keras.layers", "class_name": "Dense", "config": {...constructor args...},
     "registered_name": None, "build_config": {"input_shape": [None, 784]}}

Loading finds ``class_name`` in ``custom_objects`` or in the one registry (``registry``: every
``Layer`` subclass exported by ``shendu.layers``, the model classes ``shendu.models`` registers
there, and the initializers, regularizers, optimizers, losses, metrics and activations). The
``module`` is only a hint: nothing named in a file is imported, unpickled or evaluated, so a file
cannot run code (Keras's ``safe_mode``). A model rebuilds itself: ``Sequential.from_config`` and
``Functional.from_config`` call back into ``deserialize_layer`` for their layers.
"""
from __future__ import annotations

import inspect
import types
import warnings

import numpy as np

from shendu import activations, backend, initializers, losses, metrics, optimizers, regularizers
from shendu.layers.base import Layer
from shendu.layers.core import Lambda, TensorOp
from shendu.layers.symbolic import KerasTensor
from shendu.registration import get_registered_name, known_objects
from shendu.saving.registry import function_tables, is_model, keras_module, layer_registry, model_class, written_as
from shendu.tensor import Tensor

# Keras 3 config keys that shendu's layers have no use for; dropped silently when a file has them
_KERAS_ONLY_KEYS = {"quantization_config", "ragged", "optional", "synchronized", "lora_rank", "lora_alpha",
                    "autocast", "implementation", "time_major"}
_MODEL_CLASSES = ("Sequential", "Functional", "Model")      # found in the registry, where models/ puts them


class LoadError(ValueError):
    """A file (or config) that cannot be turned back into a model; the message says what and where."""


class UnknownObjectError(LoadError):
    """A class or function named in a file that shendu does not have and custom_objects does not give."""


# ----------------------------------------------------------------------------------- serialize

def serialize_function(fn) -> dict:
    """A function as Keras writes one: library functions under their Keras module, others by name."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    for module, table in function_tables():
        if table.get(name) is fn:
            return {"module": module, "class_name": "function", "config": name, "registered_name": name}
    return {"module": getattr(fn, "__module__", None) or "builtins", "class_name": "function", "config": name,
            "registered_name": get_registered_name(fn)}


def serialize_layer(layer) -> dict:
    """One layer (or nested model) as Keras 3's dict, with its ``build_config``."""
    if isinstance(layer, TensorOp):
        raise ValueError(
            f"Cannot save '{layer.name}': it is arithmetic written directly on symbolic tensors (x + y, x[...]), "
            "which is replayed from a Python closure that a file cannot hold. Use a layer instead, e.g. "
            "layers.Add()([x, y]) or layers.Lambda(fn) with fn passed back in custom_objects when loading.")
    base = type(layer).__dict__.get("_functional_base")
    model_entry = written_as(layer)             # Sequential, Functional: as the model classes registered them
    if model_entry is not None:
        class_name, module, registered_name = model_entry
        if base is not None:                    # class CustomModel(Model) built functionally
            class_name, module, registered_name = base.__name__, base.__module__, base.__name__
        entry = {"module": module, "class_name": class_name, "config": layer.get_config(),
                 "registered_name": registered_name}
        build_config = layer.get_build_config()
        if build_config is not None:
            entry["build_config"] = _jsonable(build_config)
        return entry
    name = type(layer).__name__
    known = layer_registry().get(name) is type(layer)
    config = _jsonable(layer.get_config())
    if isinstance(layer, Lambda):
        config["function"] = serialize_function(layer.function)
        if config["function"]["config"] == "<lambda>":
            warnings.warn(f"Lambda layer '{layer.name}' wraps a Python lambda; a file holds only its name, so loading "
                          f"needs it back: custom_objects={{'{layer.name}': fn}}. Prefer a named function.",
                          stacklevel=4)
    entry = {"module": "keras.layers" if known else type(layer).__module__, "class_name": name,
             "config": config, "registered_name": None if known else get_registered_name(type(layer))}
    build_config = _build_config(layer)
    if build_config is not None:
        entry["build_config"] = build_config
    return entry


def _positional_names(fn) -> list[str]:
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _build_config(layer):
    """Keras's ``get_build_config()``: {"input_shape": ...}, or {"shapes_dict": {"query_shape": ...,
    "value_shape": ...}} for a layer built from several inputs (taken from its first call)."""
    shape = getattr(layer, "_build_shape", None)
    if not layer.built or shape is None:
        return None
    if len(_positional_names(layer.build)) <= 1:
        return {"input_shape": _jsonable(shape)}
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes:
        return None                        # Keras then builds the layer when the graph calls it
    names = _positional_names(layer.call)
    shapes = {f"{name}_shape": list(arg.shape) for name, arg in zip(names, nodes[0].args)
              if isinstance(arg, KerasTensor)}
    return {"shapes_dict": shapes} if len(shapes) > 1 else {"input_shape": _jsonable(shape)}


def serialize_keras_object(obj):
    """Keras 3's config for ``obj``: plain values stay, containers recurse, objects become
    ``{"module", "class_name", "config", "registered_name"}`` dicts, functions are saved by name."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.item()
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, Layer):
        return serialize_layer(obj)
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return serialize_function(obj)
    if hasattr(obj, "get_config"):
        name = type(obj).__name__
        return {"module": keras_module(obj), "class_name": name, "config": _jsonable(obj.get_config()),
                "registered_name": None}
    if callable(obj):
        return serialize_function(obj)
    raise TypeError(f"Cannot serialize {obj!r} ({type(obj).__name__}): it has no get_config() and is not a "
                    "plain value, a list/dict, an array or a function.")


def _jsonable(value):
    """A get_config() result with every leaf JSON-ready (tuples to lists, NumPy scalars to numbers)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return serialize_keras_object(value)


# ----------------------------------------------------------------------------------- deserialize

class Context:
    """What a load knows: the custom objects, safe mode, and where it is (for error messages)."""

    def __init__(self, custom_objects=None, safe_mode=True, source="the config"):
        # registered objects and open custom_object_scopes first, so that the call's own custom_objects win
        self.custom_objects = {**known_objects(), **dict(custom_objects or {})}
        self.safe_mode = safe_mode
        self.source = source

    def custom(self, *names):
        for name in names:
            if isinstance(name, str) and name in self.custom_objects:
                return self.custom_objects[name]
        return None


def _special(config: dict):
    """Keras's built-in value encodings (data, never code)."""
    name, inner = config["class_name"], config.get("config") or {}
    if name in ("__numpy__", "__tensor__"):
        return np.array(inner["value"], dtype=inner.get("dtype"))
    if name == "__bytes__":
        return inner["value"].encode("utf-8")
    if name == "__ellipsis__":
        return Ellipsis
    if name == "__slice__":
        return slice(inner.get("start"), inner.get("stop"), inner.get("step"))
    return None


def resolve_function(config, ctx: Context, what: str = "function"):
    """The callable a function config names: custom_objects first, then the library's tables."""
    if isinstance(config, dict):
        name, registered = config.get("config"), config.get("registered_name")
    else:
        name, registered = config, None
    found = ctx.custom(registered, name)
    if found is not None:
        return found
    for _module, table in function_tables():
        if name in table:
            return table[name]
    raise UnknownObjectError(
        f"{ctx.source} names the {what} {name!r}, which is not a shendu function. Functions are saved by name "
        f"only (a file never carries code), so pass it when loading: custom_objects={{{name!r}: {name}}}.")


def _resolve_nested(value, ctx: Context, key: str = "", parent_takes_custom_objects: bool = False):
    """Inside a layer's config: function configs and custom names become their objects; a nested
    layer config (a wrapper's ``layer``, an RNN's ``cell``) stays a dict, cleaned of Keras-only keys,
    for the wrapper's own ``from_config``; everything else is left for the layer's constructor."""
    if isinstance(value, list):
        return [_resolve_nested(v, ctx, "", parent_takes_custom_objects) for v in value]
    if isinstance(value, str):
        if key.endswith("activation") and value in ctx.custom_objects:
            return ctx.custom_objects[value]
        return value
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    class_name = value["class_name"]
    if class_name.startswith("__") and class_name.endswith("__"):
        if class_name == "__lambda__":
            raise LoadError(_lambda_message(ctx, key))
        special = _special(value)
        return special if special is not None else value
    if class_name == "function":
        return resolve_function(value, ctx)
    if class_name in layer_registry() and isinstance(value.get("config"), dict) and \
            ctx.custom(value.get("registered_name"), class_name) is None:
        # a nested layer (the one a wrapper wraps): left as a dict for the wrapper's from_config,
        # with the Keras-only keys shendu's layer would reject taken out
        cls = layer_registry()[class_name]
        inner = {k: _resolve_nested(v, ctx, k, parent_takes_custom_objects) for k, v in value["config"].items()}
        name = inner.get("name", "?")
        return {**value, "config": _drop_unknown_keys(cls, inner, name, ctx)}
    custom = ctx.custom(value.get("registered_name"), class_name)
    if custom is not None:
        if _is_layer_class(custom):
            # a custom layer nested in a wrapper: built here, since shendu's wrappers look up only shendu.layers
            return deserialize_layer(value, ctx) if not parent_takes_custom_objects else value
        if isinstance(custom, type) and hasattr(custom, "from_config"):
            return custom.from_config(value.get("config") or {})
        return custom
    return value


def _lambda_message(ctx, what):
    return (f"{ctx.source}: {what} holds a Python lambda saved as bytecode. shendu never runs code stored in a "
            "file (Keras's safe_mode; shendu refuses even with safe_mode=False). Pass the function itself when "
            "loading: custom_objects={'<layer name or function name>': fn}.")


def _init_names(init) -> tuple[set, bool]:
    params = inspect.signature(init).parameters.values()
    return ({p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)},
            any(p.kind == p.VAR_KEYWORD for p in params))


def _accepted_keys(cls) -> set | None:
    """Constructor argument names of a Layer class: its own, its bases' while they pass **kwargs on,
    and the base Layer's (name, trainable, dtype, input_shape, ...); None for other classes."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        return None
    names = _init_names(Layer.__init__)[0] | Layer._ALLOWED_KWARGS
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is Layer:
            continue
        own, passes_on = _init_names(init)
        names |= own
        if not passes_on:
            break
    return names


def _lambda_config(config: dict, layer_name: str, ctx: Context) -> dict:
    """Lambda: the function comes from custom_objects (by function name or layer name), never from the file."""
    fn_config = config.get("function")
    if isinstance(fn_config, dict) and fn_config.get("class_name") == "__lambda__":
        fn, fn_name = ctx.custom(layer_name), "<lambda>"
    elif isinstance(fn_config, dict):
        fn_name = fn_config.get("config")
        fn = ctx.custom(fn_config.get("registered_name"), fn_name, layer_name)
        if fn is None and str(fn_config.get("module", "")).startswith("keras."):
            fn = resolve_function(fn_config, ctx)       # a library function, e.g. keras.activations.relu
    else:
        fn_name = fn_config
        fn = ctx.custom(fn_name, layer_name)
    if fn is None:
        shown = fn_name if fn_name and fn_name != "<lambda>" else "fn"
        key = fn_name if fn_name and fn_name != "<lambda>" else layer_name
        raise UnknownObjectError(
            f"{ctx.source}: Lambda layer '{layer_name}' wraps the Python function {fn_name!r}. A file stores only "
            f"its name, and shendu never runs code from a file (Keras's safe_mode: lambdas are not deserialized). "
            f"Pass the function when loading: load_model(path, custom_objects={{{key!r}: {shown}}}).")
    config = dict(config)
    config["function"] = fn
    output_shape = config.get("output_shape")
    if isinstance(output_shape, dict):
        config["output_shape"] = ctx.custom(output_shape.get("config"))
    elif isinstance(output_shape, list):
        config["output_shape"] = tuple(output_shape)
    config.pop("mask", None)
    return config


def deserialize_layer(entry: dict, ctx: Context | None = None, build: bool = True):
    """A layer from its Keras dict: the class from the registry or custom_objects, then ``from_config``;
    ``build_config`` creates its weights unless ``build`` is False (a model's graph builds its layers)."""
    ctx = ctx or Context()
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise LoadError(f"{ctx.source}: expected a layer entry {{'class_name': ..., 'config': {{...}}}}, got {entry!r}.")
    class_name = entry["class_name"]
    inner = entry.get("config") or {}
    layer_name = inner.get("name", entry.get("name", "?")) if isinstance(inner, dict) else "?"
    cls = ctx.custom(entry.get("registered_name"), class_name)
    registry = layer_registry()
    if cls is None:
        cls = registry.get(class_name)
    if cls is None:
        shendu_names = ", ".join(sorted(k for k, v in registry.items() if k == v.__name__))
        raise UnknownObjectError(
            f"{ctx.source}: layer '{layer_name}' is of class {class_name!r} (module {entry.get('module')!r}), which "
            f"shendu does not have. If it is your own Layer subclass, pass it when loading: "
            f"load_model(path, custom_objects={{{class_name!r}: {class_name}}}); shendu never imports the module "
            f"named in a file. shendu's layers are: {shendu_names}.")
    if class_name in _MODEL_CLASSES or getattr(cls, "__name__", "") in _MODEL_CLASSES:
        return deserialize_model(entry, ctx)
    if not isinstance(inner, dict):
        raise LoadError(f"{ctx.source}: the config of layer '{layer_name}' ({class_name}) should be a dict, "
                        f"got {type(inner).__name__}.")
    takes_custom = hasattr(cls, "from_config") and "custom_objects" in inspect.signature(cls.from_config).parameters
    if isinstance(cls, type) and issubclass(cls, Lambda):
        config = _lambda_config(inner, layer_name, ctx)
    else:
        config = {k: _resolve_nested(v, ctx, k, takes_custom) for k, v in inner.items()}
    config = _drop_unknown_keys(cls, config, layer_name, ctx)
    try:
        if takes_custom:
            layer = cls.from_config(config, custom_objects=ctx.custom_objects)
        elif hasattr(cls, "from_config"):
            layer = cls.from_config(config)
        else:
            layer = cls(**config)
    except (TypeError, ValueError) as e:
        raise LoadError(f"{ctx.source}: rebuilding layer '{layer_name}' ({class_name}) from its config failed: {e} "
                        f"(config keys: {sorted(config)}).") from e
    build_config = entry.get("build_config")
    if build and build_config and not layer.built:
        _build_from_config(layer, build_config)
    return layer


def deserialize_model(config, custom_objects=None, safe_mode: bool = True, source: str = "the config"):
    """A model from Keras 3's config (the whole ``{"class_name", "config"}`` dict, or the inner
    ``config`` alone: then ``input_layers`` says Functional, else Sequential). The class comes from
    ``custom_objects`` or from the model classes registered by ``shendu.models``; its ``from_config``
    rebuilds it. Nothing named in the config is imported or executed."""
    ctx = custom_objects if isinstance(custom_objects, Context) else Context(custom_objects, safe_mode, source)
    if not isinstance(config, dict):
        raise LoadError(f"{ctx.source}: a model config must be a dict, got {type(config).__name__}.")
    if "class_name" in config and isinstance(config.get("config"), dict):
        class_name, inner = config["class_name"], config["config"]
    else:
        inner = config
        class_name = "Functional" if "input_layers" in config else "Sequential"
    custom = ctx.custom(config.get("registered_name"), class_name)
    cls = custom or model_class(class_name)
    if cls is None and class_name in _MODEL_CLASSES:
        raise LoadError(f"{ctx.source}: the model is a {class_name}, but no model class is registered yet: they "
                        "register themselves when shendu.models is imported. Import shendu (or shendu.models) "
                        "before loading a model.")
    if cls is None or (custom is None and class_name != "Sequential" and "layers" not in inner):
        raise LoadError(
            f"{ctx.source}: the model is of class {class_name!r}, which is neither Sequential nor Functional. A "
            f"subclassed model can be loaded only with its class: custom_objects={{{class_name!r}: {class_name}}} "
            "(it needs get_config() and from_config()).")
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        model = cls.from_config(inner, custom_objects=ctx)
    else:
        model = cls.from_config(inner)
    build_config = config.get("build_config")
    if custom is not None and build_config and not model.built:
        _build_from_config(model, build_config)
    return model


def input_layer_entry(batch_shape, dtype, name: str) -> dict:
    """An ``InputLayer`` as a model's config lists it (Keras 3 writes it from the ``Input`` call)."""
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": list(batch_shape), "dtype": dtype, "sparse": False, "ragged": False,
                       "name": name, "optional": False},
            "registered_name": None}


def _drop_unknown_keys(cls, config: dict, layer_name: str, ctx: Context) -> dict:
    accepted = _accepted_keys(cls) if isinstance(cls, type) else None
    if accepted is None:
        return config
    unknown = [k for k in config if k not in accepted]
    noisy = [k for k in unknown if k not in _KERAS_ONLY_KEYS and config[k] not in (None, False)]
    if noisy:
        warnings.warn(f"{ctx.source}: layer '{layer_name}' ({cls.__name__}) has config keys {noisy} that shendu's "
                      f"{cls.__name__} does not take; they are ignored.", stacklevel=3)
    return {k: v for k, v in config.items() if k not in unknown}


def _build_from_config(layer, build_config: dict) -> None:
    """Create a standalone layer's weights from its saved input shape (models are built by their graph)."""
    shape = build_config.get("input_shape")
    if is_model(layer, "Model") and shape is not None:
        dummy = Tensor._wrap(backend.xp.zeros(tuple(1 if d is None else d for d in shape), backend.floatx), False)
        layer(dummy, training=False)
        return
    shapes = build_config.get("shapes_dict")
    if shapes:                              # several inputs: build(query_shape=..., value_shape=...)
        shapes = {k: tuple(v) if v is not None else None for k, v in shapes.items()}
        layer._build_shape = next(iter(shapes.values()))
        layer.build(**shapes)
        layer.built = True
        return
    shape = build_config.get("input_shape")
    if shape is None:
        return
    shape = tuple(shape) if shape and not isinstance(shape[0], list) else [tuple(s) for s in shape]
    layer._build_shape = shape
    layer.build(shape)
    layer.built = True


def deserialize_keras_object(config, custom_objects=None, safe_mode: bool = True, kind: str | None = None):
    """The object a Keras config describes, from shendu's registries or ``custom_objects`` only.

    ``kind`` ('layer', 'initializer', 'regularizer', 'optimizer', 'loss', 'metric', 'activation')
    picks the registry; without it the ``module`` hint ('keras.layers', ...) decides.
    """
    ctx = custom_objects if isinstance(custom_objects, Context) else Context(custom_objects, safe_mode)
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, list):
        return [deserialize_keras_object(c, ctx, kind=kind) for c in config]
    if isinstance(config, str):
        custom = ctx.custom(config)
        if custom is not None:
            return custom
        return _by_kind(kind, config, ctx) if kind else config
    if not isinstance(config, dict):
        raise LoadError(f"{ctx.source}: cannot interpret {config!r} ({type(config).__name__}) as a Keras object.")
    if "class_name" not in config:
        return {k: deserialize_keras_object(v, ctx) for k, v in config.items()}
    class_name = config["class_name"]
    if class_name == "__lambda__":
        raise LoadError(_lambda_message(ctx, "the config"))
    special = _special(config)
    if special is not None:
        return special
    if class_name == "function":
        return resolve_function(config, ctx)
    custom = ctx.custom(config.get("registered_name"), class_name)
    if custom is not None:
        if isinstance(custom, type) and hasattr(custom, "from_config"):
            if _is_layer_class(custom):
                return deserialize_layer(config, ctx)
            return custom.from_config(config.get("config") or {})
        return custom
    kind = kind or _kind_from_module(config.get("module"), class_name)
    return _by_kind(kind, config, ctx)


def _is_layer_class(cls) -> bool:
    return isinstance(cls, type) and issubclass(cls, Layer)


def _kind_from_module(module, class_name) -> str:
    module = str(module or "")
    singular = {"layers": "layer", "initializers": "initializer", "regularizers": "regularizer",
                "optimizers": "optimizer", "losses": "loss", "metrics": "metric", "activations": "activation"}
    for plural, kind in singular.items():
        if f".{plural}" in module or module.endswith(plural):
            return kind
    if class_name in _MODEL_CLASSES or module in ("keras", "keras.models") or "models" in module:
        return "layer"
    return "layer" if class_name in layer_registry() else "unknown"


def _by_kind(kind, config, ctx: Context):
    name = config if isinstance(config, str) else config.get("class_name")
    try:
        if kind == "layer":
            return deserialize_layer(config, ctx)
        if kind == "initializer":
            return initializers.get(config)
        if kind == "regularizer":
            return regularizers.get(config)
        if kind == "optimizer":
            return optimizers.deserialize(config, custom_objects={k: v for k, v in ctx.custom_objects.items()
                                                                  if isinstance(v, type)})
        if kind == "loss":
            return losses.deserialize(config, ctx.custom_objects)
        if kind == "metric":
            return metrics.deserialize(config, ctx.custom_objects)
        if kind == "activation":
            return activations.get(config)
    except UnknownObjectError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise UnknownObjectError(
            f"{ctx.source}: cannot rebuild the {kind} {name!r}: {e} If it is your own class or function, pass "
            f"it when loading: custom_objects={{{name!r}: ...}}.") from e
    raise UnknownObjectError(
        f"{ctx.source}: {name!r} (module {config.get('module') if isinstance(config, dict) else None!r}) is not a "
        f"shendu layer, initializer, regularizer, optimizer, loss or metric. Pass it in custom_objects.")
