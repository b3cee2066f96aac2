"""``Model``: a layer that can be trained, summarised and saved.

``Model(inputs, outputs)`` builds a functional model; subclass ``Model`` and write ``call()``
for anything else. The training loop lives in ``training.py``.
"""
from __future__ import annotations

import warnings

from shendu.layers.base import Layer
from shendu.models.summary import summary as _summary
from shendu.models.training import Trainer
from shendu.saving import keras_file, tf_keras
from shendu.saving.config import deserialize_model
from shendu.saving.registry import register_model_class


class Model(Trainer, Layer):
    """Groups layers into an object with training and inference features (tf.keras.Model)."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or ("inputs" in kwargs and "outputs" in kwargs)
                             or (len(args) == 1 and "outputs" in kwargs)):
            from shendu.models.functional import Functional
            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        if len(args) == 2 or ("inputs" in kwargs and "outputs" in kwargs) or (len(args) == 1 and "outputs" in kwargs):
            # class CustomModel(keras.Model) whose __init__ reaches here with (inputs, outputs): a functional
            # model that keeps the subclass's methods (the guide on customizing fit overrides train_step so)
            from shendu.models.functional import Functional
            self.__class__ = _functional_subclass(type(self), Functional)
            Functional.__init__(self, *args, name=name, trainable=trainable, dtype=dtype, **kwargs)
            return
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
        _summary(self, print_fn=print_fn)

    def save(self, filepath, overwrite=True, **kwargs):
        keras_file.save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        keras_file.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        keras_file.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs):
        """The architecture as JSON text in tf.keras 2's schema (no weights); read it back with
        ``keras.models.model_from_json``. ``kwargs`` go to ``json.dumps``."""
        return tf_keras.to_json(self, **kwargs)

    def to_yaml(self, **kwargs):
        return tf_keras.to_yaml(self, **kwargs)

    def get_config(self):
        return Layer.get_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from ``get_config()``: ``keras.Model.from_config(model.get_config())`` rebuilds a functional
        model (a subclass built functionally gets its own class back), ``Sequential.from_config`` a
        Sequential; a subclassed model's config holds its constructor arguments."""
        if isinstance(config, dict) and "layers" in config:
            if "input_layers" not in config:                         # a Sequential's config
                return deserialize_model(config, custom_objects)
            from shendu.models.functional import Functional, functional_from_config   # a subclass of Model
            user_class = cls.__dict__.get("_functional_base", cls)
            own = user_class.__module__.startswith("shendu.")        # Model, Functional, Sequential
            return functional_from_config(Functional if own else user_class, config, custom_objects)
        return super().from_config(config)

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by ``index`` in ``model.layers``."""
        layers = self.layers
        if name is not None and index is not None:
            raise ValueError(f"get_layer: provide a layer name or a layer index, not both (got name={name!r}, "
                             f"index={index!r}).")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: was asked for the layer at index {index} but model '{self.name}' has "
                                 f"only {len(layers)} layers.")
            return layers[index]
        if name is None:
            raise ValueError("get_layer: provide a layer name (get_layer('dense')) or an index (get_layer(index=0)).")
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r} in model '{self.name}'; layers are {[l.name for l in layers]}.")


register_model_class(Model)          # found by name when a file says "Model"; written as what it is


_functional_subclasses: dict = {}


def _functional_subclass(cls, functional):
    """``cls`` with Functional's graph machinery under it: its own methods first, then Functional's."""
    if issubclass(cls, functional):
        return cls
    made = _functional_subclasses.get(cls)
    if made is None:
        made = type(cls.__name__, (cls, functional), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                                      "_functional_base": cls})
        _functional_subclasses[cls] = made
    return made
