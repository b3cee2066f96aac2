"""``keras.datasets.fashion_mnist``."""
from shendu.data.keras_datasets import load_fashion_mnist as load_data  # noqa: F401
