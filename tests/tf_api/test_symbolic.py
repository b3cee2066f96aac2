"""shendu/tf_api/symbolic.py: TensorFlow's functions become graph nodes on keras.Input tensors, though
``import shendu`` loads them before (and without) the layers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# in a fresh interpreter: the test process has loaded the layers long before
FRESH = """
import sys
import numpy as np
import shendu as tf
assert "shendu.layers.symbolic" not in sys.modules, "import shendu loaded the layers"
np.testing.assert_allclose(tf.reduce_mean(np.arange(6.0).reshape(2, 3), axis=1).numpy(), [1.0, 4.0])
from shendu import layers, models       # the layers come without shendu.keras, and tf functions then make nodes
x = layers.Input((3,))
y = tf.math.square(tf.reduce_mean(x, axis=1, keepdims=True))
assert type(y).__name__ == "KerasTensor", type(y)
got = models.Model(x, y).predict(np.arange(6.0, dtype="float32").reshape(2, 3), verbose=0)
np.testing.assert_allclose(got, [[1.0], [16.0]])
print("ok")
"""


def test_tf_functions_on_keras_tensors_once_the_layers_load_after_them():
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr


def test_accept_symbolic_keeps_the_function_and_its_name_on_real_values():
    from shendu.tf_api.symbolic import accept_symbolic

    def halve(x, *, by=2.0):
        """x / by"""
        return x / by

    wrapped = accept_symbolic(halve)
    assert wrapped(3.0, by=4.0) == 0.75
    assert wrapped.__name__ == "halve" and wrapped.__doc__ == "x / by" and wrapped.__wrapped__ is halve
