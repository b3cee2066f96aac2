"""A model's layers and their connections as a plain graph, for drawings and TensorBoard's graph tab.

``model_graph(model, expand_nested)`` returns boxes (one per layer, a shared layer once, plus one per
input) and edges from producer to consumer, for Sequential, functional and nested models. With
``expand_nested`` an inner model's layers replace its box and each box records the models around it.
It reads the models through their public shape (``layers``, ``inputs``, the recorded layer calls), so it
depends on no model class.
"""
from __future__ import annotations


class GraphNode:
    """One box: a layer (or a model's input), its class, shapes, and the nested models holding it."""

    def __init__(self, key, layer, name, class_name, input_shapes, output_shapes, parents=()):
        self.key, self.layer, self.name, self.class_name = key, layer, name, class_name
        self.input_shapes, self.output_shapes, self.parents = input_shapes, output_shapes, tuple(parents)

    def __repr__(self):
        return f"GraphNode({self.name!r}, {self.class_name})"


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shapes(tensors):
    shapes = [tuple(t.shape) for t in tensors]
    return shapes[0] if len(shapes) == 1 else (shapes or None)


def _is_functional(model) -> bool:
    return hasattr(model, "_nodes") and hasattr(model, "inputs")


def _is_model(layer) -> bool:
    return _is_functional(layer) or (hasattr(layer, "_stack") and hasattr(layer, "layers"))


class Graph:
    """``nodes`` (in drawing order: producers before consumers) and ``edges`` (pairs of node keys)."""

    def __init__(self):
        self.nodes: dict = {}
        self.edges: list = []

    def add_edge(self, a, b):
        if (a, b) not in self.edges and a != b:
            self.edges.append((a, b))


def model_graph(model, expand_nested: bool = False) -> Graph:
    graph = Graph()
    _add_model(graph, model, expand_nested, parents=())
    return graph


def _layer_node(graph, layer, parents, inputs=None, outputs=None):
    key = id(layer)
    if key not in graph.nodes:
        nodes = getattr(layer, "_inbound_nodes", None) or []
        if inputs is None and nodes:
            inputs = _shapes(nodes[0].inputs)
        if outputs is None:
            outputs = getattr(layer, "_output_shape", None)
            if outputs is None and nodes:
                outs = nodes[0].outputs
                outputs = tuple(outs.shape) if hasattr(outs, "shape") else _shapes(outs)
            if outputs is None and hasattr(layer, "batch_shape"):
                outputs = tuple(layer.batch_shape)
        graph.nodes[key] = GraphNode(key, layer, layer.name, type(layer).__name__, inputs, outputs, parents)
    return key


def _add_model(graph, model, expand, parents):
    """Add ``model``'s boxes; return (keys that take its inputs, keys that give its outputs)."""
    inner = parents + (model.name,)
    if _is_functional(model):
        entry, exits, made = {}, [], {}
        for t in model.inputs:
            layer = getattr(t, "input_layer", None)
            key = _layer_node(graph, layer, inner, outputs=tuple(t.shape)) if layer is not None else None
            entry[id(t)] = [key]
            made[id(t)] = [key]
        for node in model._nodes:
            layer = node.layer
            if expand and _is_model(layer):
                heads, tails = _add_model(graph, layer, expand, inner)
            else:
                heads = tails = [_layer_node(graph, layer, inner)]
            for t in node.inputs:
                for src in made.get(id(t), []):
                    for dst in heads:
                        graph.add_edge(src, dst)
            outs = node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs]
            for o in outs:
                made[id(o)] = tails
        for t in model.outputs:
            exits.extend(made.get(id(t), []))
        return [k for keys in entry.values() for k in keys if k is not None], exits
    if not hasattr(model, "_stack"):
        raise ValueError(f"Model '{model.name}' is a subclassed model: how its layers connect is known only inside "
                         "its call(), so it cannot be drawn as a graph. Build it as a Sequential or functional "
                         "model (keras.Input(...) -> layers -> keras.Model(inputs, outputs)) to plot it.")
    # Sequential: a chain, with an input box when the input shape is known
    previous = []
    heads = None
    shape = getattr(model, "input_shape", None)
    if shape is None and model.layers and _is_model(model.layers[0]):   # Sequential([generator, discriminator])
        shape = getattr(model.layers[0], "input_shape", None)
    if shape is not None and not parents:
        key = ("input", id(model))
        graph.nodes[key] = GraphNode(key, None, "input_layer", "InputLayer", None, tuple(shape), inner)
        previous = heads = [key]
    for layer in model.layers:
        if expand and _is_model(layer):
            h, t = _add_model(graph, layer, expand, inner)
        else:
            h = t = [_layer_node(graph, layer, inner, inputs=shape)]
        shape = graph.nodes[t[-1]].output_shapes if t else shape     # what the next layer receives
        for src in previous:
            for dst in h:
                graph.add_edge(src, dst)
        heads = h if heads is None else heads
        previous = t
    return heads or [], previous


def shape_text(shape) -> str:
    """A shape as Keras prints it: ``(None, 28, 28, 1)``; several shapes as a list."""
    return _shape_text(shape)
