"""Shared fixtures: the array backend (NumPy; CuPy too when it is installed) and a clean global state."""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))   # `from helpers import ...` under any import mode
os.environ["SHENDU_OFFLINE"] = "1"              # the suite never touches the internet; download tests use 127.0.0.1

import shendu as sd  # noqa: E402
from shendu import autograd, backend as _backend  # noqa: E402

BACKENDS = ["numpy"] + (["cupy"] if importlib.util.find_spec("cupy") is not None else [])
# SHENDU_STRICT_BACKEND=1 adds tests/strict_xp.py (NumPy whose arrays refuse implicit conversion, like CuPy's) to
# this fixture; SHENDU_STRICT_BACKEND=all runs every test on it
if os.environ.get("SHENDU_STRICT_BACKEND") == "1":
    BACKENDS.append("strict")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test once per installed array library; NumPy is restored afterwards."""
    if request.param == "strict":
        import strict_xp
        sd.set_backend(strict_xp.module)
    else:
        sd.set_backend(request.param)
    sd.set_seed(0)
    yield _backend
    sd.set_backend("numpy")


@pytest.fixture(autouse=True)
def _clean_state():
    """Each test starts from the defaults: float32, gradients recorded, a seeded generator."""
    floatx = _backend.floatx
    if os.environ.get("SHENDU_STRICT_BACKEND") == "all":      # every test on the strict CuPy-like arrays
        import strict_xp
        sd.set_backend(strict_xp.module)
    sd.set_seed(0)
    yield
    if os.environ.get("SHENDU_STRICT_BACKEND") == "all":
        sd.set_backend("numpy")
    _backend.floatx = floatx
    autograd._mode.enabled = True


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on its torch backend: the oracle of what tf.keras does (skipped only where it is not installed)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")
