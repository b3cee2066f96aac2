"""TensorFlow's dtype names (``tf.float32``, ``tf.int64``, ``tf.bool``, ...) as NumPy types, which every
shendu function accepts as a ``dtype``. ``tf.string`` is the name 'string' that Keras inputs accept."""
import numpy as _np

float16 = half = _np.float16
float32 = _np.float32
float64 = double = _np.float64
int8 = _np.int8
int16 = _np.int16
int32 = _np.int32
int64 = _np.int64
uint8 = _np.uint8
uint16 = _np.uint16
uint32 = _np.uint32
uint64 = _np.uint64
string = "string"
bool = _np.bool_   # noqa: A001  (TensorFlow's name; shendu's star export leaves the built-in bool alone)

__all__ = ["float16", "half", "float32", "float64", "double", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "uint64", "string", "bool"]
