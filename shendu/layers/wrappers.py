"""Layers that wrap other layers: Bidirectional, TimeDistributed; and RepeatVector."""
from __future__ import annotations

from shendu import backend, ops
from shendu.layers.base import Layer
from shendu.layers.recurrent import RNN, deserialize_layer
from shendu.serialization import serialize
from shendu.tensor import Tensor


def _copy_layer(layer: Layer, **overrides) -> Layer:
    """A fresh layer with ``layer``'s config (and ``overrides``): same architecture, new weights."""
    config = {**layer.get_config(), **overrides}
    if isinstance(layer, RNN) and "cell" in config:
        config["cell"] = type(layer.cell).from_config(layer.cell.get_config())
    return type(layer).from_config(config)


def _build_child(layer: Layer, input_shape, prefix: str) -> None:
    """Build a wrapped layer for ``input_shape`` and put the wrapper's name in front of its weight paths."""
    if not layer.built:
        layer.build(input_shape)
        layer.built = True
        if layer._initial_weights is not None:
            layer.set_weights(layer._initial_weights)
            layer._initial_weights = None
    for w in layer.weights:
        path = getattr(w, "path", None) or w.name
        if not path.startswith(prefix + "/"):
            w.path = f"{prefix}/{path}"


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Read the sequence both ways and merge: y = merge(forward(x), reverse(backward(x))).

    Args:
        layer: a recurrent layer (LSTM(64), GRU(32, return_sequences=True), ...). The forward and
            backward layers are fresh copies made from its config; the backward one has
            go_backwards=True, and its output sequence is flipped back into time order.
        merge_mode: 'concat' (default, features side by side), 'sum', 'mul', 'ave', or None (a list of both).
        backward_layer: give the backward layer yourself (it must have the other go_backwards).
    ``return_state=True`` returns ``[output, *forward_states, *backward_states]``; ``initial_state``
    takes the forward states then the backward ones.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Bidirectional wraps a layer instance such as LSTM(64), got {layer!r}.")
        if merge_mode not in ("sum", "mul", "ave", "concat", None):
            raise ValueError(f"Bidirectional merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None, "
                             f"got {merge_mode!r}.")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(f"Bidirectional backward_layer must be a layer instance, got {backward_layer!r}.")
        super().__init__(**kwargs)
        self.forward_layer = _copy_layer(layer, name="forward_" + _strip(layer.name, "forward_"))
        if backward_layer is None:
            backward_layer = _copy_layer(layer, go_backwards=True, name="backward_" + _strip(layer.name, "backward_"))
        self.backward_layer = backward_layer
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, attr) != getattr(self.backward_layer, attr):
                raise ValueError(f"Bidirectional: the forward and backward layers must agree on {attr}, got "
                                 f"{getattr(self.forward_layer, attr)} and {getattr(self.backward_layer, attr)}.")
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Bidirectional: the backward layer must have the opposite go_backwards of the forward "
                             "one.")
        for sub in (self.forward_layer, self.backward_layer):
            # Keras: masked steps output zeros in a returned sequence, so the merged directions line up
            sub.zero_output_for_mask = sub.return_sequences
        if weights:
            half = len(weights) // 2
            self.forward_layer._initial_weights, self.backward_layer._initial_weights = weights[:half], weights[half:]
        self.merge_mode = merge_mode
        self.stateful, self.return_sequences = layer.stateful, layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True

    def build(self, input_shape):
        _build_child(self.forward_layer, input_shape, self.name)
        _build_child(self.backward_layer, input_shape, self.name)
        self.built = True

    def compute_output_shape(self, input_shape):
        """The forward layer's shape, merged: 'concat' doubles the features, None gives both outputs."""
        forward = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            states = list(forward[1:]) + list(backward[1:])
            forward, backward = forward[0], backward[0]
        if self.merge_mode == "concat":
            features = None if forward[-1] is None or backward[-1] is None else forward[-1] + backward[-1]
            output = [tuple(forward[:-1]) + (features,)]
        elif self.merge_mode is None:
            output = [tuple(forward), tuple(backward)]
        else:
            output = [tuple(forward)]
        if not states and len(output) == 1:
            return output[0]
        return output + states

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, mask=mask, training=training)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.getitem(y_rev, (slice(None), slice(None, None, -1)))   # back into time order
        if self.merge_mode == "concat":
            output = [ops.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            output = [y + y_rev]
        elif self.merge_mode == "ave":
            output = [(y + y_rev) * 0.5]
        elif self.merge_mode == "mul":
            output = [y * y_rev]
        else:
            output = [y, y_rev]
        if not states and len(output) == 1:
            return output[0]
        return output + states

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask] if self.merge_mode else [output_mask, output_mask]
        if self.return_state:
            masks += [None] * (len(self.forward_layer.state_size) * 2)
        return masks if len(masks) > 1 else masks[0]

    def reset_states(self, states=None) -> None:
        if not self.stateful:
            raise AttributeError(f"Layer '{self.name}' is not stateful.")
        half = None if states is None else len(states) // 2
        self.forward_layer.reset_states(None if states is None else states[:half])
        self.backward_layer.reset_states(None if states is None else states[half:])

    reset_state = reset_states

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize(self.forward_layer, "keras.layers"),
                "backward_layer": serialize(self.backward_layer, "keras.layers")}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_layer(config["backward_layer"], custom_objects)
        return cls(**config)


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step: (batch, time, ...) -> (batch·time, ...) -> layer -> (batch, time, ...).

    One call of the wrapped layer on all steps at once (no loop over time), so the steps share
    its weights, e.g. ``TimeDistributed(Dense(10))`` on the (batch, time, 64) output of an LSTM.
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed wraps a layer instance such as Dense(10), got {layer!r}.")
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def _child_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed '{self.name}' expects an input with at least 3 axes (batch, time, "
                             f"...) but got shape {tuple(input_shape)}.")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        _build_child(self.layer, self._child_shape(input_shape), self.name)
        self.built = True

    def compute_output_shape(self, input_shape):
        """The wrapped layer's output for one step, (batch, ...), with the time axis put back: (batch, time, ...)."""
        self._child_shape(input_shape)
        child = self.layer.compute_output_shape((input_shape[0],) + tuple(input_shape[2:]))
        return (child[0], input_shape[1]) + tuple(child[1:])

    def call(self, inputs, training=None, mask=None):
        self._child_shape(inputs.shape)
        batch, steps = inputs.shape[:2]
        merged = ops.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        if mask is not None and not isinstance(mask, (list, tuple)):
            mask = mask.data if isinstance(mask, Tensor) else backend.asarray(mask)
            mask = mask.reshape((batch * steps,) + tuple(mask.shape[2:]))
        else:
            mask = None
        y = self.layer(merged, training=training, mask=mask)
        if isinstance(y, (list, tuple)):
            raise ValueError(f"TimeDistributed '{self.name}': the wrapped layer must return one tensor.")
        return ops.reshape(y, (batch, steps) + tuple(y.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "layer": serialize(self.layer, "keras.layers")}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        return cls(**config)


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the same vector at each of n steps (e.g. to feed
    an encoder's summary into a decoder RNN)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"RepeatVector n must be a positive integer, got {n!r}.")
        self.n = n

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"RepeatVector '{self.name}' expects a 2-D input (batch, features) but got shape "
                             f"{tuple(input_shape)}; an RNN before it needs return_sequences=False.")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs):
        if inputs.ndim != 2:
            raise ValueError(f"RepeatVector '{self.name}' expects a 2-D input (batch, features) but got shape "
                             f"{tuple(inputs.shape)}; an RNN before it needs return_sequences=False.")
        x = ops.reshape(inputs, (inputs.shape[0], 1, inputs.shape[1]))
        return ops.broadcast_to(x, (inputs.shape[0], self.n, inputs.shape[1]))

    def get_config(self):
        return {**super().get_config(), "n": self.n}
