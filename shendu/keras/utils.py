"""``keras.utils``."""
from shendu.preprocessing.sequence import pad_sequences  # noqa: F401
from shendu.data.dataset_utils import text_dataset_from_directory, timeseries_dataset_from_array  # noqa: F401
from shendu.data.image_dataset import image_dataset_from_directory  # noqa: F401
from shendu.data.py_dataset import PyDataset as _PyDataset
from shendu.utils import normalize, set_random_seed, to_categorical  # noqa: F401


PyDataset = Sequence = _PyDataset   # tf.keras 2's name for it is Sequence
