"""``keras.datasets.mnist``."""
from shendu.data.keras_datasets import load_mnist as load_data  # noqa: F401
