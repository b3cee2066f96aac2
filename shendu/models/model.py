"""``Model``: a layer that can be trained, summarised and saved.

``Model(inputs, outputs)`` builds a functional model; subclass ``Model`` and write ``call()``
for anything else. The training loop lives in ``training.py``.
"""
from __future__ import annotations

import warnings

from shendu.layers.base import Layer
from shendu.models.training import Trainer


class Model(Trainer, Layer):
    """Groups layers into an object with training and inference features (tf.keras.Model)."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or ("inputs" in kwargs and "outputs" in kwargs)
                             or (len(args) == 1 and "outputs" in kwargs)):
            from shendu.models.functional import Functional
            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        if args or kwargs:
            raise TypeError(f"Model() got unexpected arguments {args} {sorted(kwargs)}; use Model(inputs, outputs) "
                            "for a functional model, or subclass Model and define call().")
        Layer.__init__(self, name=name, trainable=trainable, dtype=dtype)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        if self._compiled and bool(value) != self._trainable:
            warnings.warn(
                f"Model '{self.name}': setting trainable={value} after compile() does not change what this "
                "compiled model trains until you call compile() again (tf.keras's rule). This is what the GAN "
                "recipe relies on: freeze the discriminator, then compile the combined model.", stacklevel=3)
        Layer.trainable.fset(self, value)

    def _maybe_build(self, inputs):
        if not self.built:
            self._build_shape = getattr(inputs, "shape", None)
            self.built = True

    def summary(self, line_length=None, print_fn=None, **kwargs):
        """Print tf.keras's table: each layer, its output shape, its parameter count; totals after."""
        from shendu.models.summary import summary
        summary(self, print_fn=print_fn)

    def save(self, filepath, overwrite=True, **kwargs):
        from shendu.saving import save_model
        save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        from shendu.saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        from shendu.saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs):
        """The architecture as JSON text in tf.keras 2's schema (no weights); read it back with
        ``keras.models.model_from_json``. ``kwargs`` go to ``json.dumps``."""
        from shendu.saving.tf_keras import to_json
        return to_json(self, **kwargs)

    def to_yaml(self, **kwargs):
        from shendu.saving.tf_keras import to_yaml
        return to_yaml(self, **kwargs)

    def get_config(self):
        return Layer.get_config(self)

    def get_layer(self, name=None, index=None):
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r} in model '{self.name}'; layers are {[l.name for l in layers]}.")
