"""Shared fixtures: the array backend (NumPy; CuPy too when it is installed) and a clean global state.

With SHENDU_REQUIRE_ALL=1 (as .ci/run sets it) a test skipped because a dependency, an oracle or a data
file is missing fails instead, naming what is missing and how to install it; only the skips listed in
ALLOWED_SKIPS below stay skips.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))   # `from helpers import ...` under any import mode
os.environ["SHENDU_OFFLINE"] = "1"              # the suite never touches the internet; download tests use 127.0.0.1
os.environ.setdefault("KERAS_BACKEND", "torch")  # the oracle is Keras 3 on its torch backend, whichever file imports it

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


# ------------------------------------------------------------------------------ SHENDU_REQUIRE_ALL=1: no silent skips
REQUIRE_ALL = os.environ.get("SHENDU_REQUIRE_ALL") == "1"


def _no_cuda_device() -> bool:
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() < 1
    except Exception:                   # not installed, no driver, no device: all mean "no GPU here"
        return True


# The only skips SHENDU_REQUIRE_ALL=1 lets through: (pattern of the skip's reason, when it applies, why).
ALLOWED_SKIPS = [
    (r"the GPU suite runs where CuPy and a CUDA GPU exist", _no_cuda_device,
     "the GPU tests need CuPy and a CUDA device, which a CPU-only CI machine does not have"),
    (r"Linux only", lambda: not sys.platform.startswith("linux"),
     "the thread policy counts runnable threads in /proc, which exists on Linux only"),
    (r"could not import 'fcntl'", lambda: os.name != "posix",
     "fcntl (file locks) is POSIX-only; the killed-save tests that need it cannot run on Windows"),
]

# what to install when an import fails: module -> the extra of pyproject.toml that brings it
EXTRAS = {"h5py": "h5", "numba": "fast", "threadpoolctl": "fast", "sklearn": "datasets", "matplotlib": "plot",
          "PIL": "plot", "tqdm": "progress", "jieba": "zh", "tensorboard": "monitor", "ml_dtypes": "bfloat16",
          "mpi4py": "distributed", "torch": "test", "keras": "test", "hypothesis": "test"}


def _skip_reason(longrepr) -> str:
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def _allowed(reason: str) -> str | None:
    """Why this skip is allowed here, or None when it is not."""
    return next((why for pattern, applies, why in ALLOWED_SKIPS if re.search(pattern, reason) and applies()), None)


def _missing_and_fix(reason: str) -> str:
    """One line: what is missing and how to install it."""
    found = re.search(r"could not import '([\w.]+)'|No module named '([\w.]+)'", reason)
    if found:
        module = (found.group(1) or found.group(2)).split(".")[0]
        extra = EXTRAS.get(module)
        if extra:
            return f"{module} is not installed: pip install -e '.[{extra}]' (or '.[test]', which has every extra)"
        return f"{module} is not installed: add it to an extra of pyproject.toml, then install that extra"
    if "tf.keras 2" in reason:
        return ("tf.keras 2 is missing: set SHENDU_TF_KERAS_PYTHON to a Python that has tensorflow-cpu, tf_keras "
                "and h5py (.ci/run makes one)")
    return f"{reason} (make it run here, or, if this skip is right on this machine, add it to ALLOWED_SKIPS)"


def _fail_instead_of_skip(report) -> None:
    reason = _skip_reason(report.longrepr)
    why = _allowed(reason)
    if why is not None:
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:      # the -rs line says why it may skip
            report.longrepr = (*report.longrepr[:2], f"{report.longrepr[2]} [allowed: {why}]")
        return
    report.outcome = "failed"
    report.longrepr = (f"{_missing_and_fix(reason)}\n"
                       f"This test would have been skipped ({reason}); SHENDU_REQUIRE_ALL=1 makes it fail. "
                       "The only skips allowed are those of ALLOWED_SKIPS in tests/conftest.py.")


def pytest_configure(config):
    if REQUIRE_ALL:     # a module that cannot be collected does not stop the run: every missing piece is reported
        config.option.continue_on_collection_errors = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        _fail_instead_of_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    report = (yield).get_result()
    if REQUIRE_ALL and report.skipped:          # a module-level importorskip or pytest.skip(allow_module_level=True)
        _fail_instead_of_skip(report)


@pytest.fixture(scope="module")
def tensorboard():
    """The tensorboard package (the monitor extra): shendu writes event files with its writer."""
    return pytest.importorskip("tensorboard")
