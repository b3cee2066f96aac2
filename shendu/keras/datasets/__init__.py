"""``keras.datasets``: Keras's small datasets, read only from the local Keras cache folder (never downloaded).

The readers live in :mod:`shendu.data.keras_datasets`; these modules only re-export them."""
from shendu.keras.datasets import boston_housing, cifar10, fashion_mnist, imdb, mnist, reuters  # noqa: F401

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.datasets", _documented.DATASETS, globals())
