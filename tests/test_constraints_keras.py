"""keras.constraints against Keras 3 (torch backend): the same projected values, the same configs in
a layer, and .keras files carrying constraints read both ways."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from shendu import keras as sk  # noqa: E402

W = np.random.default_rng(3).normal(size=(3, 3, 2, 4)).astype("float32")
W[:, :, :, 0] = 0.0                               # an all-zero filter: eps keeps it finite


@pytest.mark.parametrize("name,kwargs", [
    ("MaxNorm", {}), ("MaxNorm", {"max_value": 1.5, "axis": [0, 1, 2]}), ("NonNeg", {}), ("UnitNorm", {}),
    ("UnitNorm", {"axis": 3}), ("MinMaxNorm", {}), ("MinMaxNorm", {"min_value": 2.0, "max_value": 3.0, "rate": 0.4}),
])
def test_constraint_values_and_configs_match_keras(name, kwargs):
    ours, theirs = getattr(sk.constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    np.testing.assert_allclose(np.asarray(ours(W)), keras.ops.convert_to_numpy(theirs(W)), rtol=1e-5, atol=1e-7)
    assert sk.constraints.serialize(ours) == keras.constraints.serialize(theirs)
    assert type(sk.constraints.get(keras.constraints.serialize(theirs))).__name__ == name


def test_layer_configs_name_constraints_as_keras_does():
    for make in (lambda L, C: L.Dense(2, kernel_constraint=C.MaxNorm(2.5), bias_constraint="non_neg"),
                 lambda L, C: L.Conv2D(2, 3, kernel_constraint="unit_norm"),
                 lambda L, C: L.BatchNormalization(gamma_constraint=C.MinMaxNorm(0.5, 2.0)),
                 lambda L, C: L.LSTM(2, recurrent_constraint="max_norm"),
                 lambda L, C: L.Embedding(4, 2, embeddings_constraint="non_neg")):
        ours, theirs = make(sk.layers, sk.constraints).get_config(), make(keras.layers, keras.constraints).get_config()
        for key in [k for k in theirs if k.endswith("_constraint")]:
            assert ours[key] == theirs[key], key


def test_keras_reads_our_constraints_and_we_read_theirs(tmp_path):
    def build(lib):
        return lib.Sequential([lib.Input((3,)),
                               lib.layers.Dense(4, kernel_constraint=lib.constraints.MaxNorm(0.8),
                                                bias_constraint="non_neg"),
                               lib.layers.LayerNormalization(beta_constraint=lib.constraints.UnitNorm())])
    ours_path, theirs_path = tmp_path / "ours.keras", tmp_path / "theirs.keras"
    build(sk).save(ours_path)
    build(keras).save(theirs_path)
    in_keras = keras.models.load_model(ours_path)
    assert in_keras.layers[0].kernel_constraint.get_config() == {"max_value": 0.8, "axis": 0}
    assert type(in_keras.layers[0].bias_constraint).__name__ == "NonNeg"
    in_shendu = sk.models.load_model(theirs_path)
    assert in_shendu.layers[0].kernel_constraint.get_config() == {"max_value": 0.8, "axis": 0}
    assert type(in_shendu.layers[1].beta_constraint) is sk.constraints.UnitNorm
