"""``keras.layers.experimental.preprocessing``: tf.keras 2.x's home of the preprocessing layers, which
Keras 3 lists directly under ``keras.layers``."""
from shendu.layers import Normalization, Rescaling, TextVectorization  # noqa: F401
from shendu.missing import missing_names

_UNSUPPORTED = {name: "preprocess the data with NumPy or in a Dataset.map before fit."
                for name in ("CategoryCrossing", "CategoryEncoding", "CenterCrop", "Discretization", "Hashing",
                             "IntegerLookup", "RandomContrast", "RandomCrop", "RandomFlip", "RandomHeight",
                             "RandomRotation", "RandomTranslation", "RandomWidth", "RandomZoom", "Resizing",
                             "StringLookup")}
_UNSUPPORTED["StringLookup"] = ("TextVectorization(standardize=None, split=None, "
                                "output_mode='int') maps whole strings to indices.")
_UNSUPPORTED["Resizing"] = ("not provided as a layer; scale by an integer factor with "
                             "UpSampling2D(interpolation='bilinear'), or resize the arrays before fit.")
_UNSUPPORTED["PreprocessingLayer"] = "subclass keras.layers.Layer (and give it an adapt method if it learns state)."

__getattr__ = missing_names("keras.layers.experimental.preprocessing", _UNSUPPORTED, globals())
