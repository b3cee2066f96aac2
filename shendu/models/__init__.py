"""Models: ``Sequential``, the functional ``Model(inputs, outputs)``, subclassed ``Model``, and loading."""
from shendu.models.cloning import clone_model
from shendu.models.functional import Functional
from shendu.models.model import Model
from shendu.models.sequential import Sequential
from shendu.saving import keras_file, tf_keras_read
from shendu.saving.config import deserialize_model


def model_from_config(config, custom_objects=None):
    """A model (fresh weights) from its config: ``{"class_name": "Sequential", "config": {...}}`` as a
    ``.keras`` file holds it, or ``model.get_config()`` alone. Only classes known to shendu or given in
    ``custom_objects`` are built; nothing named in the config is imported or run."""
    return deserialize_model(config, custom_objects=custom_objects)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with ``model.save('name.keras')`` (shendu's or Keras 3's file)."""
    return keras_file.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from ``model.to_json()``'s text, written by shendu, tf.keras 2 or Keras 3."""
    return tf_keras_read.model_from_json(json_string, custom_objects=custom_objects)
