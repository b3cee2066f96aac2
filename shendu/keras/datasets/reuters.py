"""``keras.datasets.reuters``."""
from shendu.data.keras_datasets import load_reuters as load_data  # noqa: F401
from shendu.data.keras_datasets import reuters_label_names as get_label_names  # noqa: F401
from shendu.data.keras_datasets import reuters_word_index as get_word_index  # noqa: F401
