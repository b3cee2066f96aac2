"""``tf.data.experimental``: the older spellings that tutorials still use."""
from shendu.data.dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset  # noqa: F401

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN


def cardinality(dataset: Dataset):
    """``dataset.cardinality()``: the number of elements, INFINITE_CARDINALITY or UNKNOWN_CARDINALITY."""
    return dataset.cardinality()
