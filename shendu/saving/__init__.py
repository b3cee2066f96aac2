"""Saving and loading in Keras 3's formats: ``.keras`` whole-model files and ``.weights.h5`` files.

    model.save("model.keras")                    # architecture + weights + compile + optimizer state
    model = shendu.saving.load_model("model.keras")
    model.save_weights("model.weights.h5")
    model.load_weights("model.weights.h5")

Files from shendu open in Keras 3 and files from Keras 3 open in shendu. Loading builds only
classes found in shendu's registries or in ``custom_objects``: nothing named in a file is imported,
unpickled or evaluated. Legacy ``.h5`` whole-model files (tf.keras 2, Keras 3) are read, and
written by ``model.save('model.h5')`` in tf.keras 2's layout (which Keras 3 reads too), with Keras 3's
warning that ``.keras`` is preferred; ``model.save('model.keras', format='tf_keras')`` writes a
``.keras`` file for tf.keras 2.13+. docs/saving.md says which reader opens which file.
"""
from shendu.saving.config import (LoadError, UnknownObjectError, deserialize_keras_object, deserialize_model,
                                  serialize_keras_object)
from shendu.saving.keras_file import load_model, load_weights, save_model, save_weights
from shendu.saving.registry import layer_registry, register_model_class

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "serialize_keras_object",
           "deserialize_keras_object", "deserialize_model", "layer_registry", "register_model_class", "LoadError",
           "UnknownObjectError"]
