"""``keras.datasets.boston_housing``."""
from shendu.data.keras_datasets import load_boston_housing as load_data  # noqa: F401
