"""``keras.dtype_policies``: one dtype per layer (mixed precision and quantized policies are out of scope)."""
from shendu.layers.dtype_policy import DTypePolicy  # noqa: F401

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.dtype_policies", _documented.DTYPE_POLICIES, globals())
