"""``keras.preprocessing``: the legacy text and sequence helpers tutorials use, and the dataset
builders also found under ``keras.utils``."""
from shendu.data.dataset_utils import text_dataset_from_directory, timeseries_dataset_from_array  # noqa: F401
from shendu.data.image_dataset import image_dataset_from_directory  # noqa: F401
from shendu.keras.preprocessing import image, sequence, text  # noqa: F401
