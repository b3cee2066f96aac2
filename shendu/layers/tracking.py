"""What a layer collects besides its weights: the losses and metrics it reports, and the symbolic calls
made on it (``layer.input`` / ``output`` and their shapes). ``Layer`` inherits both mixins."""
from __future__ import annotations

import weakref

import numpy as np

from shendu import backend
from shendu.layers.symbolic import KerasTensor, map_structure
from shendu.metrics.base import Mean
from shendu.tensor import Tensor

loss_holders = weakref.WeakSet()     # layers whose last call added losses: an outermost call clears them
penalty_holders = weakref.WeakSet()  # layers with weight regularizers or add_loss functions
metric_owners = weakref.WeakSet()    # layers that own a Metric (an attribute or add_metric)


class GraphAttribute:
    """``layer.input`` / ``output`` / ``input_shape`` / ``output_shape``: read from the layer's symbolic calls,
    unless the layer sets the attribute itself (an InputLayer holds its tensor, Lambda its output_shape)."""

    def __init__(self, node_attribute, what):
        self.node_attribute, self.what = node_attribute, what

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        if self.name in layer.__dict__:
            return layer.__dict__[self.name]
        return layer._node_attribute(0, self.node_attribute, self.what, only=True)

    def __set__(self, layer, value):
        layer.__dict__[self.name] = value


def _shapes(structure):
    return map_structure(lambda t: tuple(t.shape) if hasattr(t, "shape") else None, structure)


class GraphAccess:
    """``input``, ``output``, ``input_shape``, ``output_shape`` and ``get_*_at(node_index)`` of a layer called on
    symbolic tensors (each such call is a Node in ``_inbound_nodes``)."""

    input = GraphAttribute("input_tensors", "input")
    output = GraphAttribute("output_tensors", "output")
    input_shape = GraphAttribute("input_shapes", "input_shape")
    output_shape = GraphAttribute("output_shapes", "output_shape")

    def _node_attribute(self, node_index, attribute, what, only=False):
        """The inputs/outputs (or their shapes) of this layer's ``node_index``-th call on symbolic tensors."""
        nodes = self.__dict__.get("_inbound_nodes", [])
        if not nodes and isinstance(self.__dict__.get("output"), KerasTensor):     # an InputLayer: in = out
            tensor = self.__dict__["output"]
            return tuple(tensor.shape) if attribute.endswith("shapes") else tensor
        if not nodes:
            raise ValueError(f"Layer '{self.name}' has never been called on a symbolic input (keras.Input(...) or "
                             f"a layer's output), so it has no defined {what}. Call it in a functional model first, "
                             f"e.g. y = layer(keras.Input(shape=...)).")
        if only and len(nodes) > 1:
            raise AttributeError(f"Layer '{self.name}' has multiple inbound nodes ({len(nodes)} symbolic calls), "
                                 f"hence the notion of \"layer {what}\" is ill-defined. Use "
                                 f"`get_{what}_at(node_index)` instead.")
        if not 0 <= node_index < len(nodes):
            raise ValueError(f"Layer '{self.name}' has {len(nodes)} inbound node(s); node_index {node_index} is out "
                             f"of range.")
        node = nodes[node_index]
        values = node.args[0] if attribute.startswith("input") else node.outputs
        return _shapes(values) if attribute.endswith("shapes") else values

    def get_input_at(self, node_index):
        return self._node_attribute(node_index, "input_tensors", "input")

    def get_output_at(self, node_index):
        return self._node_attribute(node_index, "output_tensors", "output")

    def get_input_shape_at(self, node_index):
        return self._node_attribute(node_index, "input_shapes", "input_shape")

    def get_output_shape_at(self, node_index):
        return self._node_attribute(node_index, "output_shapes", "output_shape")


class LossesAndMetrics:
    """``add_loss`` / ``losses`` and ``add_metric`` / ``metrics``: what a layer adds to the training loss and
    to the logs, collected over its sublayers."""

    @property
    def losses(self) -> list[Tensor]:
        """Scalar losses to add to the training loss, as Keras lists them: the ``add_loss`` values of the last
        call (activity regularizers included), this layer's then its sublayers', then the penalties of the
        weight regularizers on the current trainable weights."""
        if not loss_holders and not penalty_holders:
            return []                        # the common case: no layer anywhere adds to the loss, nothing to walk
        layers = [self] + self._flat_layers()
        out = [loss for layer in layers for loss in layer._losses]
        out += [_as_scalar_loss(fn(), self) for layer in layers for fn in layer._callable_losses]
        regularizers = {id(w): reg for layer in layers for reg, w in layer._weight_regularizers}
        if regularizers:
            out += [regularizers[id(w)](w) for w in self.trainable_weights if id(w) in regularizers]
        return out

    def add_loss(self, loss) -> None:
        """Add a loss to the training loss: ``self.add_loss(value)`` inside ``call`` (a scalar Tensor, or a
        list of them; kept until the next outermost call), or ``layer.add_loss(lambda: value)`` anywhere
        (tf.keras 2: a zero-argument function, evaluated each time ``losses`` is read)."""
        for value in loss if isinstance(loss, (list, tuple)) else [loss]:
            if callable(value) and not isinstance(value, Tensor):
                self._callable_losses.append(value)
                penalty_holders.add(self)
            elif isinstance(value, KerasTensor):
                raise ValueError(f"add_loss() on layer '{self.name}' was given a symbolic tensor {value!r}. Losses "
                                 "are computed on real values: write a layer whose call() computes the value and calls "
                                 "self.add_loss(value), and use that layer in the model.")
            else:
                self._losses.append(_as_scalar_loss(value, self))
                loss_holders.add(self)

    def _clear_losses(self) -> None:
        if not loss_holders:                 # the common case: no layer holds losses, nothing to walk
            return
        for layer in [self] + self._flat_layers():
            if layer._losses:
                layer._losses.clear()
                loss_holders.discard(layer)

    def add_metric(self, value, name=None, aggregation=None) -> None:
        """tf.keras 2: report the running mean of ``value`` as metric ``name`` (in ``model.metrics``, the logs
        and the History); call it inside ``call``."""
        if aggregation not in (None, "mean"):
            raise ValueError(f"add_metric(aggregation={aggregation!r}): only 'mean' (the default) is supported; "
                             "for another aggregation create a keras.metrics object and update it yourself.")
        if name is None:
            # tf.keras 2 names the value after the Metric object whose call produced it:
            # self.add_metric(self.accuracy_metric(y, y_pred)); that metric is already updated and tracked
            owned = [m for m in self._metrics if not isinstance(m, _AddedMetric)]
            if len(owned) == 1:
                return
            raise ValueError(f"add_metric() on layer '{self.name}' needs a name, e.g. self.add_metric(value, "
                             f"name='kl'){' (this layer owns several metrics, so none can be inferred)' if owned else ''}.")
        if isinstance(value, KerasTensor):
            raise ValueError(f"add_metric('{name}') was given a symbolic tensor; call it inside a layer's call(), "
                             "where the values are real.")
        metric = next((m for m in self._metrics if m.name == name), None)
        if metric is None:
            metric = _AddedMetric(name=name)
            self._metrics.append(metric)
            metric_owners.add(self)
        metric.update_state(value.data if isinstance(value, Tensor) else value)

    @property
    def metrics(self) -> list:
        """Metric objects this layer owns (attributes and ``add_metric``), then its sublayers', each once."""
        out, seen = [], set()
        if not metric_owners:
            return out                       # the common case: no layer anywhere owns a metric
        for layer in [self] + self._flat_layers():
            for m in layer._metrics:
                if id(m) not in seen:
                    seen.add(id(m))
                    out.append(m)
        return out


class _AddedMetric(Mean):
    """The running mean that ``add_metric(value, name)`` reports."""


def _as_scalar_loss(value, layer) -> Tensor:
    """A loss value as a scalar Tensor (Keras sums a non-scalar one)."""
    if not isinstance(value, Tensor):
        try:
            value = Tensor._wrap(backend.asarray(np.asarray(value, dtype=backend.floatx)), False)
        except (TypeError, ValueError):
            raise TypeError(f"add_loss() on layer '{layer.name}' expects a scalar Tensor or number (or a zero-argument "
                            f"function returning one), got {type(value).__name__}.") from None
    return value if value.ndim == 0 else value.sum()
