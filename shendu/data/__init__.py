"""Data: tf.data-style ``Dataset`` pipelines, batching of arrays and generators for ``fit``, and the
bundled datasets."""
from shendu.data import experimental  # noqa: F401
from shendu.data.dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset  # noqa: F401
from shendu.data.structure import TensorSpec  # noqa: F401

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN
