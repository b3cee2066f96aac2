"""SHENDU_REQUIRE_ALL=1 (set by .ci/run): a test skipped for a missing dependency, oracle or data file fails,
naming what is missing and how to install it; the skips of ALLOWED_SKIPS (tests/conftest.py) stay skips."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys


def _no_cuda_device() -> bool:
    """As tests/conftest.py decides it (that file cannot be imported by name: tests/keras_io has a conftest too)."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() < 1
    except Exception:
        return True


CASES = '''
import sys
import pytest

def test_needs_a_missing_extra():
    sys.modules["tensorboard"] = None          # as if the monitor extra were not installed
    pytest.importorskip("tensorboard")

@pytest.mark.skipif(True, reason="the moon is not in the sky")
def test_marked_skip():
    pass

def test_without_a_gpu():
    pytest.skip("the GPU suite runs where CuPy and a CUDA GPU exist; here: RuntimeError: no CUDA device")

def test_that_runs():
    pass
'''

MODULE_LEVEL = '''
import pytest
pytest.importorskip("shendu_absent_oracle")

def test_never_collected():
    pass
'''


def _run(tmp_path, require_all):
    shutil.copy(os.path.join(os.path.dirname(__file__), "conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module_level.py").write_text(MODULE_LEVEL)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, SHENDU_REQUIRE_ALL="1" if require_all else "0")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_require_all_turns_skips_into_failures_that_name_the_fix(tmp_path):
    code, out = _run(tmp_path, require_all=True)
    assert code != 0, out
    assert "FAILED test_cases.py::test_needs_a_missing_extra" in out
    assert "tensorboard is not installed: pip install -e '.[monitor]'" in out
    assert "ERROR test_cases.py::test_marked_skip" in out and "the moon is not in the sky" in out
    assert "ERROR test_module_level.py" in out and "shendu_absent_oracle is not installed" in out
    assert "PASSED test_cases.py::test_that_runs" in out              # the other modules still ran
    gpu = "test_cases.py:14: the GPU suite runs where CuPy and a CUDA GPU exist"
    if _no_cuda_device():                                             # an allowed skip stays a skip
        assert f"SKIPPED [1] {gpu}" in out and "[allowed: the GPU tests need CuPy and a CUDA device" in out
    else:
        assert "FAILED test_cases.py::test_without_a_gpu" in out


def test_without_require_all_they_are_plain_skips(tmp_path):
    code, out = _run(tmp_path, require_all=False)
    assert code == 0, out
    assert "1 passed, 4 skipped" in out and "FAILED" not in out and "ERROR" not in out
