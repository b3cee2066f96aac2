"""Every core, conv, pooling, normalization and merging layer against Keras 3 (the test oracle).

Each row builds the same layer in shendu and in Keras 3 from the same arguments, copies Keras's
weights across with get_weights/set_weights, and compares the output shape, the parameter count,
the weight shapes (tf.keras layouts), the outputs, and the constructor defaults (get_config).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
try:
    import keras        # the oracle, for the tests marked needs_keras only: the others run without it
except ImportError:
    keras = None
needs_keras = pytest.mark.skipif(keras is None, reason="compares with Keras 3, which is not installed")

import shendu.keras as sk  # noqa: E402

# (layer name, constructor args, input shapes (batch included), call kwargs)
ROWS = [
    ("Dense", dict(units=5), [(3, 4)], {}),
    ("Dense", dict(units=2, activation="tanh", use_bias=False), [(2, 3, 4)], {}),
    ("Dense", dict(units=3, activation="softmax"), [(1, 6)], {}),
    ("Activation", dict(activation="relu"), [(2, 5)], {}),
    ("Activation", dict(activation="gelu"), [(2, 5)], {}),
    ("Activation", dict(activation="selu"), [(2, 5)], {}),
    ("Flatten", {}, [(2, 3, 4, 5)], {}),
    ("Reshape", dict(target_shape=(6, 2)), [(2, 3, 4)], {}),
    ("Reshape", dict(target_shape=(-1, 3)), [(2, 3, 4)], {}),
    ("Dropout", dict(rate=0.5), [(2, 5)], {}),
    ("Conv2D", dict(filters=4, kernel_size=3), [(2, 7, 6, 3)], {}),
    ("Conv2D", dict(filters=2, kernel_size=(2, 3), strides=2, padding="same", activation="relu"), [(1, 7, 8, 2)], {}),
    ("Conv2D", dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"), [(2, 9, 9, 1)], {}),
    ("Conv1D", dict(filters=4, kernel_size=3), [(2, 9, 3)], {}),
    ("Conv1D", dict(filters=2, kernel_size=4, padding="causal", dilation_rate=2), [(2, 10, 3)], {}),
    ("Conv1D", dict(filters=2, kernel_size=2, strides=2, padding="same"), [(1, 7, 3)], {}),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2), [(2, 4, 5, 2)], {}),
    ("Conv2DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same"), [(1, 3, 3, 3)], {}),
    ("Conv2DTranspose", dict(filters=2, kernel_size=2, strides=3), [(2, 3, 2, 1)], {}),
    ("MaxPooling2D", {}, [(2, 6, 7, 3)], {}),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), [(2, 7, 6, 2)], {}),
    ("AveragePooling2D", dict(pool_size=2, padding="same"), [(2, 5, 5, 2)], {}),
    ("AveragePooling2D", dict(pool_size=(3, 2), strides=1), [(1, 5, 4, 2)], {}),
    ("MaxPooling1D", dict(pool_size=2), [(2, 7, 3)], {}),
    ("AveragePooling1D", dict(pool_size=3, strides=2), [(2, 8, 3)], {}),
    ("AveragePooling1D", dict(pool_size=2, padding="same"), [(2, 7, 3)], {}),
    ("GlobalAveragePooling2D", {}, [(2, 4, 5, 3)], {}),
    ("GlobalMaxPooling2D", dict(keepdims=True), [(2, 4, 5, 3)], {}),
    ("GlobalAveragePooling1D", {}, [(2, 6, 3)], {}),
    ("GlobalMaxPooling1D", {}, [(2, 6, 3)], {}),
    ("UpSampling2D", dict(size=(2, 3)), [(2, 3, 4, 2)], {}),
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 1))), [(2, 3, 4, 2)], {}),
    ("BatchNormalization", {}, [(8, 5)], {}),
    ("BatchNormalization", {}, [(4, 3, 3, 2)], dict(training=True)),
    ("BatchNormalization", dict(axis=1, center=False), [(4, 3, 5)], dict(training=True)),
    ("LayerNormalization", {}, [(3, 4, 6)], {}),
    ("LayerNormalization", dict(axis=[1, 2], epsilon=1e-5), [(3, 4, 6)], {}),
    ("LeakyReLU", {}, [(2, 5)], {}),
    ("ReLU", dict(max_value=1.0), [(2, 5)], {}),
    ("Softmax", dict(axis=1), [(2, 3, 4)], {}),
    ("Add", {}, [(2, 3), (2, 3), (2, 3)], {}),
    ("Multiply", {}, [(2, 3), (2, 3)], {}),
    ("Concatenate", dict(axis=1), [(2, 3, 4), (2, 2, 4)], {}),
    ("Concatenate", {}, [(2, 3), (2, 5)], {}),
    ("PReLU", {}, [(2, 5)], {}),
    ("PReLU", dict(shared_axes=[1, 2]), [(2, 3, 4, 5)], {}),
    ("SpatialDropout1D", dict(rate=0.5), [(2, 4, 3)], {}),
    ("SpatialDropout2D", dict(rate=0.5, data_format="channels_first"), [(2, 3, 4, 4)], {}),
    ("GaussianNoise", dict(stddev=0.3), [(2, 5)], {}),
    ("GaussianDropout", dict(rate=0.3), [(2, 5)], {}),
    ("Permute", dict(dims=(2, 1)), [(2, 3, 4)], {}),
    ("Permute", dict(dims=(3, 1, 2)), [(2, 3, 4, 5)], {}),
    ("UpSampling1D", dict(size=3), [(2, 3, 4)], {}),
    ("ZeroPadding1D", dict(padding=(1, 2)), [(2, 3, 4)], {}),
    ("ZeroPadding1D", dict(padding=2, data_format="channels_first"), [(2, 3, 4)], {}),
    ("Cropping1D", {}, [(2, 5, 4)], {}),
    ("Cropping1D", dict(cropping=(0, 2)), [(2, 5, 4)], {}),
    ("Dot", dict(axes=1), [(3, 4), (3, 4)], {}),
    ("Dot", dict(axes=(2, 2)), [(3, 4, 5), (3, 6, 5)], {}),
    ("Dot", dict(axes=(1, 2), normalize=True), [(3, 4, 5), (3, 6, 4)], {}),
    ("Dot", dict(axes=(2, 1)), [(3, 4, 5), (3, 5)], {}),
    ("Rescaling", dict(scale=1 / 127.5, offset=-1.0), [(2, 5)], {}),
    ("Rescaling", dict(scale=np.array([1.0, 2.0, 3.0])), [(2, 4, 3)], {}),
    ("Normalization", {}, [(8, 5)], {}),
    ("Normalization", dict(axis=(1, 2)), [(8, 3, 5)], {}),
    ("Normalization", dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), [(4, 3)], {}),
    ("Normalization", dict(mean=2.0, variance=3.0, invert=True), [(4, 3)], {}),
]


def _ids():
    return [f"{name}-{i}" for i, (name, *_rest) in enumerate(ROWS)]


def _inputs(shapes, rng):
    arrays = [rng.normal(size=s).astype("float32") for s in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


@needs_keras
@pytest.mark.parametrize("name,args,shapes,call_kwargs", ROWS, ids=_ids())
def test_layer_matches_keras(name, args, shapes, call_kwargs):
    rng = np.random.default_rng(0)
    x = _inputs(shapes, rng)
    theirs = getattr(keras.layers, name)(**args)
    ours = getattr(sk.layers, name)(**args)
    y_keras = np.asarray(keras.ops.convert_to_numpy(theirs(x, **call_kwargs)))
    ours(x)                       # build
    weights = theirs.get_weights()
    # moving statistics that Keras just updated (training=True) are compared after our own call
    if name == "BatchNormalization":
        fresh = getattr(keras.layers, name)(**args)
        fresh(x)
        weights = fresh.get_weights()
        rng_w = np.random.default_rng(1)
        weights = [w + rng_w.uniform(0.1, 0.5, w.shape).astype("float32") for w in weights]
        fresh.set_weights(weights)
        y_keras = np.asarray(keras.ops.convert_to_numpy(fresh(x, **call_kwargs)))
        theirs = fresh
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    ours.set_weights(weights)
    y_ours = ours(x, **call_kwargs).numpy()
    assert y_ours.shape == y_keras.shape
    scale = max(1.0, float(np.abs(y_keras).max()))
    np.testing.assert_allclose(y_ours, y_keras, atol=1e-5 * scale, rtol=1e-5)
    assert ours.count_params() == theirs.count_params()
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in ours.get_weights()] or [np.zeros(0)]),
                               np.concatenate([w.ravel() for w in theirs.get_weights()] or [np.zeros(0)]),
                               atol=1e-6)


DEFAULT_ROWS = [("Dense", dict(units=3)), ("Conv2D", dict(filters=2, kernel_size=3)),
                ("Conv1D", dict(filters=2, kernel_size=3)), ("Conv2DTranspose", dict(filters=2, kernel_size=3)),
                ("MaxPooling2D", {}), ("AveragePooling1D", dict(pool_size=2)), ("BatchNormalization", {}),
                ("LayerNormalization", {}), ("Dropout", dict(rate=0.2)), ("LeakyReLU", {}), ("ReLU", {}),
                ("UpSampling2D", {}), ("ZeroPadding2D", {}), ("Concatenate", {}), ("Flatten", {}),
                ("GlobalAveragePooling2D", {}), ("Softmax", {}), ("PReLU", {}), ("SpatialDropout1D", dict(rate=0.2)),
                ("SpatialDropout2D", dict(rate=0.2)), ("GaussianNoise", dict(stddev=0.1)),
                ("GaussianDropout", dict(rate=0.1)), ("Permute", dict(dims=(2, 1))), ("UpSampling1D", {}),
                ("ZeroPadding1D", {}), ("Cropping1D", {}), ("Dot", dict(axes=1)), ("Rescaling", dict(scale=0.5)),
                ("Normalization", {})]


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(i) for i in v]
    if isinstance(v, list):
        return [_plain(i) for i in v]
    if isinstance(v, dict):
        return {k: _plain(i) for k, i in v.items() if k not in ("module", "registered_name")}
    return v


@needs_keras
@pytest.mark.parametrize("name,args", DEFAULT_ROWS, ids=[r[0] for r in DEFAULT_ROWS])
def test_constructor_defaults_match_keras(name, args):
    theirs = getattr(keras.layers, name)(**args).get_config()
    ours = getattr(sk.layers, name)(**args).get_config()
    shared = (set(theirs) & set(ours)) - {"name", "dtype", "seed"}
    assert shared, "no config keys in common"
    for key in sorted(shared):
        assert _plain(ours[key]) == _plain(theirs[key]), f"{name}.{key}: {ours[key]!r} != {theirs[key]!r}"
    missing = set(theirs) - set(ours) - {"quantization_config", "lora_rank", "lora_alpha", "renorm",
                                         "renorm_clipping", "renorm_momentum", "seed", "build_config"}
    assert not missing, f"{name} config lacks Keras keys {sorted(missing)}"


@pytest.mark.parametrize("name,args", DEFAULT_ROWS, ids=[r[0] for r in DEFAULT_ROWS])
def test_config_round_trip(name, args):
    layer = getattr(sk.layers, name)(**args)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert _plain(clone.get_config()) == _plain(config)


def test_layer_names_follow_keras():
    sk.backend.clear_session()
    names = [sk.layers.Conv2D(1, 1).name, sk.layers.Conv2D(1, 1).name, sk.layers.MaxPooling2D().name,
             sk.layers.LeakyReLU().name, sk.layers.BatchNormalization().name]
    assert names == ["conv2d", "conv2d_1", "max_pooling2d", "leaky_re_lu", "batch_normalization"]


def test_legacy_spellings_are_accepted():
    assert sk.layers.LeakyReLU(alpha=0.1).negative_slope == pytest.approx(0.1)
    model = sk.models.Sequential([sk.layers.Dense(4, input_dim=3)])
    assert model.output_shape == (None, 4)


def test_average_pooling_1d_same_counts_only_real_values():
    # TensorFlow's rule: the last window [6, 7, pad] averages 6 and 7. (Keras 3's torch backend gives
    # 6.67 here, unlike its own 2-D layer and TensorFlow, so this case is checked against the rule.)
    x = np.arange(8, dtype="float32").reshape(1, 8, 1)
    y = sk.layers.AveragePooling1D(3, 2, padding="same")(x).numpy().ravel()
    np.testing.assert_allclose(y, [1.0, 3.0, 5.0, 6.5])
