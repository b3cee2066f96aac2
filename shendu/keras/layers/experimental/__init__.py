"""``keras.layers.experimental``: tf.keras 2's spellings, kept for the programs written against them
(``from tensorflow.keras.layers.experimental import RandomFourierFeatures``)."""
from shendu.layers.kernelized import RandomFourierFeatures  # noqa: F401
from shendu.keras.layers.experimental import preprocessing  # noqa: F401
from shendu.missing import missing_names

_UNSUPPORTED = {
    "EinsumDense": "write the einsum in a custom layer's call with keras.ops.einsum and add_weight.",
    "SyncBatchNormalization": "shendu trains on one process; use keras.layers.BatchNormalization.",
}

__getattr__ = missing_names("keras.layers.experimental", _UNSUPPORTED, globals())
