"""``keras.dtype_policies``: one dtype per layer (mixed precision and quantized policies are out of scope)."""
from shendu.layers.dtype_policy import DTypePolicy  # noqa: F401
