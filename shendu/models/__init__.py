"""Models: ``Sequential``, the functional ``Model(inputs, outputs)``, subclassed ``Model``, and loading."""
from shendu.models.cloning import clone_model
from shendu.models.functional import Functional
from shendu.models.model import Model
from shendu.models.sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with ``model.save('name.keras')`` (shendu's or Keras 3's file)."""
    from shendu.saving import load_model as _load
    return _load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
