"""``keras.models``."""
from shendu.models import (Functional, Model, Sequential, clone_model, load_model, model_from_config,  # noqa: F401
                           model_from_json)
from shendu.saving import save_model  # noqa: F401

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.models", _documented.MODELS, globals())
