"""``clone_model``: the same architecture with new layers (fresh weights), as ``keras.models.clone_model``."""
from __future__ import annotations

from shendu.layers.core import InputLayer
from shendu.layers.symbolic import KerasTensor, flatten, map_structure
from shendu.models.functional import Functional
from shendu.models.sequential import Sequential


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A copy of ``model``'s architecture whose layers are new instances with freshly initialised weights
    (copy the weights with ``clone.set_weights(model.get_weights())``).

    Args:
        input_tensors: ``keras.Input`` tensors to build the clone on instead of new ones.
        clone_function: ``fn(layer) -> layer`` making each new layer; the default rebuilds it from its config.
        call_function: ``fn(layer, *args, **kwargs)`` replacing each layer call of a functional model's graph.
        recursive: clone nested Sequential/functional models with the same functions, rather than with
            ``clone_function``.
    """
    if kwargs:
        raise TypeError(f"clone_model() got unexpected keyword argument(s) {sorted(kwargs)}; it takes input_tensors, "
                        "clone_function, call_function and recursive.")
    if clone_function is not None and not callable(clone_function):
        raise TypeError(f"clone_model: clone_function must be a function layer -> layer, got {clone_function!r}.")
    clones = {}

    def clone(layer):
        if id(layer) not in clones:
            if recursive and isinstance(layer, (Sequential, Functional)):
                clones[id(layer)] = clone_model(layer, clone_function=clone_function, call_function=call_function,
                                                recursive=True)
            elif clone_function is not None:
                clones[id(layer)] = clone_function(layer)
            elif isinstance(layer, (Sequential, Functional)):
                clones[id(layer)] = clone_model(layer)
            else:
                clones[id(layer)] = type(layer).from_config(layer.get_config())
        return clones[id(layer)]

    if isinstance(model, Sequential):
        return _clone_sequential(model, input_tensors, clone, call_function)
    if isinstance(model, Functional):
        return _clone_functional(model, input_tensors, clone, call_function)
    if input_tensors is not None:
        raise ValueError(f"clone_model: input_tensors works for Sequential and functional models only; "
                         f"'{model.name}' is a subclassed {type(model).__name__}.")
    try:
        return type(model).from_config(model.get_config())
    except TypeError as error:
        raise TypeError(f"clone_model: the subclassed model {type(model).__name__} is cloned from its config, but "
                        f"{type(model).__name__}.from_config(model.get_config()) failed ({error}); define get_config() "
                        f"returning its constructor arguments.") from None


def _new_inputs(model, input_tensors):
    if input_tensors is None:
        return map_structure(lambda t: InputLayer(batch_shape=t.shape, dtype=t.dtype, name=t.name).output,
                             model._inputs_struct)
    given = flatten(input_tensors)
    if len(given) != len(model.inputs):
        raise ValueError(f"clone_model: model '{model.name}' has {len(model.inputs)} input(s) but {len(given)} "
                         f"input_tensors were given.")
    for t in given:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"clone_model: input_tensors must be keras.Input(...) tensors, got {t!r}.")
    if isinstance(model._inputs_struct, (list, tuple, dict)):
        it = iter(given)
        return map_structure(lambda _: next(it), model._inputs_struct)
    return given[0]


def _clone_functional(model, input_tensors, clone, call_function):
    inputs = _new_inputs(model, input_tensors)
    computed = {id(old): new for old, new in zip(model.inputs, flatten(inputs))}

    def lookup(t):
        return computed[id(t)] if isinstance(t, KerasTensor) else t

    for node in model._nodes:
        layer = clone(node.layer)
        args = map_structure(lookup, node.args)
        kwargs = map_structure(lookup, node.kwargs)
        out = call_function(layer, *args, **kwargs) if call_function is not None else layer(*args, **kwargs)
        for old, new in zip(flatten(node.outputs), flatten(out)):
            computed[id(old)] = new
    outputs = map_structure(lookup, model._outputs_struct)
    cls = type(model) if isinstance(model, Functional) else Functional
    return cls(inputs, outputs, name=model.name)


def _clone_sequential(model, input_tensors, clone, call_function):
    if call_function is not None:
        raise ValueError("clone_model: call_function applies to functional models; a Sequential model's layers are "
                         "called in order. Build the model functionally to change how its layers are called.")
    layers = [clone(layer) for layer in model.layers]
    if input_tensors is not None:
        given = flatten(input_tensors)
        if len(given) != 1 or not isinstance(given[0], KerasTensor):
            raise ValueError(f"clone_model: a Sequential model takes one input tensor, got {input_tensors!r}.")
        return Sequential([given[0]] + layers, name=model.name)
    if model.input_shape is not None:
        dtype = model._graph[0].dtype if model._graph is not None else None
        return Sequential([InputLayer(batch_shape=model.input_shape, dtype=dtype)] + layers, name=model.name)
    return Sequential(layers, name=model.name)
