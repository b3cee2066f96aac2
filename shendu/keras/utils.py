"""``keras.utils``."""
from shendu.data.dataset_utils import text_dataset_from_directory, timeseries_dataset_from_array  # noqa: F401
from shendu.data.download import get_file, validate_file  # noqa: F401
from shendu.data.image_dataset import image_dataset_from_directory  # noqa: F401
from shendu.data.py_dataset import PyDataset as _PyDataset
from shendu.models.compile_utils import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: F401
from shendu.preprocessing.image import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from shendu.preprocessing.sequence import pad_sequences  # noqa: F401
from shendu.utils import model_to_dot, normalize, plot_model, set_random_seed, to_categorical  # noqa: F401


PyDataset = Sequence = _PyDataset   # tf.keras 2's name for it is Sequence

# Keras 3 also lists the registration helpers under keras.utils (tf.keras 2's home for them)
from shendu.registration import (CustomObjectScope, custom_object_scope, get_custom_objects,  # noqa: E402,F401
                                        get_registered_name, get_registered_object, register_keras_serializable)
from shendu.saving import deserialize_keras_object, serialize_keras_object  # noqa: E402,F401
from shendu.keras.backend import clear_session, is_keras_tensor  # noqa: E402,F401

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.utils", _documented.UTILS, globals())
