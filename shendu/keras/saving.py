"""``keras.saving``: save and load models and weights in Keras 3's file formats."""
from shendu.saving import (deserialize_keras_object, load_model, load_weights, save_model,  # noqa: F401
                           save_weights, serialize_keras_object)
from shendu.registration import (CustomObjectScope, custom_object_scope, get_custom_objects,  # noqa: F401
                                        get_registered_name, get_registered_object, register_keras_serializable)

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.saving", _documented.SAVING, globals())
