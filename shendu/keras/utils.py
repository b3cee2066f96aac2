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
