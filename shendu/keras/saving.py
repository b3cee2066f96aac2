"""``keras.saving``: save and load models and weights in Keras 3's file formats."""
from shendu.saving import (deserialize_keras_object, load_model, load_weights, save_model,  # noqa: F401
                           save_weights, serialize_keras_object)
