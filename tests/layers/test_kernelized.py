"""RandomFourierFeatures (tf.keras 2's layers.experimental): the layer contract, its formula against NumPy,
frozen random features, the default scales and the Cauchy features of the Laplacian kernel."""
import functools

import numpy as np
import pytest

from helpers import layer_contract
from shendu import keras
from shendu.layers import RandomFourierFeatures


def _reference(x, unscaled_kernel, bias, kernel_scale):
    return np.cos(x @ (unscaled_kernel / kernel_scale) + bias)


@pytest.mark.parametrize("kernel_initializer", ["gaussian", "laplacian"])
def test_random_fourier_features_pass_the_layer_contract(kernel_initializer):
    make = functools.partial(RandomFourierFeatures, 6, kernel_initializer=kernel_initializer, scale=1.5,
                             trainable=True)
    layer = layer_contract(make, (3, 4), (3, 6), [(4, 6), (6,), (1,)], non_trainable=2, reference=_reference)
    assert [w.name for w in layer.trainable_weights] == ["kernel_scale"]


def test_features_are_frozen_unless_trainable_and_scales_default_as_in_tf_keras():
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    frozen = RandomFourierFeatures(32)
    frozen(x)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 3
    assert frozen.scale == pytest.approx(np.sqrt(8 / 2.0))       # gaussian: sqrt(input_dim / 2)
    laplacian = RandomFourierFeatures(32, kernel_initializer="Laplacian")
    laplacian(x)
    assert laplacian.scale == 1.0
    bias = frozen.get_weights()[1]
    assert bias.min() >= 0 and bias.max() < 2 * np.pi


def test_features_approximate_the_gaussian_kernel():
    """z(x)·z(y) · 2 / D ≈ exp(-|x - y|² / (2 s²)), the property the layer exists for."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3)).astype("float32") * 0.7
    layer = RandomFourierFeatures(20000, scale=1.0)
    z = layer(x).numpy()
    approx = 2.0 / 20000 * z @ z.T
    exact = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / 2.0)
    np.testing.assert_allclose(approx, exact, atol=0.03)


def test_config_round_trips_and_arguments_are_checked():
    layer = RandomFourierFeatures(7, kernel_initializer="laplacian", scale=2.0, name="rff")
    config = layer.get_config()
    assert {k: config[k] for k in ("output_dim", "kernel_initializer", "scale", "trainable")} == \
        {"output_dim": 7, "kernel_initializer": "laplacian", "scale": 2.0, "trainable": False}
    assert RandomFourierFeatures.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="output_dim"):
        RandomFourierFeatures(0)
    with pytest.raises(ValueError, match="kernel_initializer"):
        RandomFourierFeatures(4, kernel_initializer="cosine")
    with pytest.raises(ValueError, match="scale"):
        RandomFourierFeatures(4, scale=-1.0)
    with pytest.raises(ValueError, match="Flatten"):
        RandomFourierFeatures(4)(np.zeros((2, 3, 4), "float32"))


def test_model_with_random_fourier_features_saves_and_loads(tmp_path):
    model = keras.Sequential([keras.Input((5,)), RandomFourierFeatures(16, scale=2.0), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    model.save(tmp_path / "rff.keras")
    loaded = keras.models.load_model(tmp_path / "rff.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
