"""shendu/applications: VGG16, VGG19, ResNet50, MobileNetV2 against Keras 3, and the pretrained-weight download.

Architectures are compared with Keras 3's own (torch backend): layer names and types, weight shapes,
parameter counts and output shapes; the small MobileNetV2 also its outputs after copying Keras's
weights. ``weights='imagenet'`` is exercised against a server on 127.0.0.1 serving files the test
made (the origin URL is patched), never the internet. Full-size builds are marked slow.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np
import pytest
from local_server import LocalServer

import shendu.keras as sk
from shendu.data.download import DownloadError
from shendu.applications import imagenet_utils, mobilenet_v2, vgg
from shendu.testing import assert_close

os.environ.setdefault("KERAS_BACKEND", "torch")


def _keras():
    """Keras 3, with both frameworks' layer-name counters reset: the architectures are compared by their
    auto-generated names, which otherwise depend on which tests built layers before."""
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    sk.backend.clear_session()
    return keras


def _same_architecture(ours, theirs):
    assert [layer.name for layer in ours.layers[1:]] == [layer.name for layer in theirs.layers[1:]]
    assert [type(layer).__name__ for layer in ours.layers[1:]] == [type(layer).__name__ for layer in theirs.layers[1:]]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    assert tuple(ours.output_shape) == tuple(theirs.output_shape)
    assert ours.name == theirs.name


@pytest.mark.parametrize("name, kwargs", [
    ("MobileNetV2", dict(include_top=True, input_shape=(32, 32, 3), alpha=0.35, classes=5)),
    ("MobileNetV2", dict(include_top=False, input_shape=(33, 35, 3), alpha=1.3)),
    ("VGG16", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
], ids=["MobileNetV2-top", "MobileNetV2-odd-size", "VGG16-notop"])
def test_application_matches_keras(name, kwargs):
    keras = _keras()
    theirs = getattr(keras.applications, name)(weights=None, **kwargs)
    ours = getattr(sk.applications, name)(weights=None, **kwargs)
    _same_architecture(ours, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs", [
    ("VGG19", dict(include_top=True, input_shape=(32, 32, 3), classes=10)),
    ("ResNet50", dict(include_top=False, input_shape=(32, 32, 3), pooling="max")),
    ("ResNet50", dict(include_top=True, input_shape=(32, 32, 3), classes=7, classifier_activation=None)),
    ("MobileNetV2", dict(include_top=False, input_shape=(96, 96, 3), pooling="avg")),
], ids=["VGG19-top", "ResNet50-notop", "ResNet50-top", "MobileNetV2-96"])
def test_larger_applications_match_keras(name, kwargs):
    keras = _keras()
    _same_architecture(getattr(sk.applications, name)(weights=None, **kwargs),
                       getattr(keras.applications, name)(weights=None, **kwargs))


@pytest.mark.slow
@pytest.mark.parametrize("name, params", [("VGG16", 138_357_544), ("VGG19", 143_667_240), ("ResNet50", 25_636_712),
                                          ("MobileNetV2", 3_538_984)])
def test_imagenet_sized_applications_have_the_published_parameter_counts(name, params):
    model = getattr(sk.applications, name)(weights=None)
    assert model.count_params() == params
    assert model.output_shape == (None, 1000)


def test_mobilenet_v2_computes_what_keras_computes():
    keras = _keras()
    theirs = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=4)
    rng = np.random.default_rng(0)
    # random batch-norm statistics, so that the comparison sees every weight
    theirs.set_weights([w + rng.uniform(0.1, 0.3, w.shape).astype("float32") for w in theirs.get_weights()])
    ours = sk.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=4)
    ours.set_weights(theirs.get_weights())
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    assert_close(ours.predict(x, verbose=0), expected, atol=1e-4, rtol=1e-3)   # 17 float32 blocks deep


# ---------------------------------------------------------------- preprocessing and labels

@pytest.mark.parametrize("module", ["vgg16", "vgg19", "resnet50", "mobilenet_v2"])
def test_preprocess_input_matches_keras_and_leaves_the_input_alone(module):
    keras = _keras()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (2, 4, 5, 3)).astype("float32")
    before = x.copy()
    ours = getattr(sk.applications, module).preprocess_input(x)
    np.testing.assert_array_equal(x, before)
    assert_close(ours, getattr(keras.applications, module).preprocess_input(x.copy()), atol=1e-4)
    ints = rng.integers(0, 256, (1, 3, 2, 2)).astype("uint8")
    assert_close(getattr(sk.applications, module).preprocess_input(ints, data_format="channels_first"),
                 getattr(keras.applications, module).preprocess_input(ints.copy(), data_format="channels_first"),
                 atol=1e-4)


def test_imagenet_utils_preprocess_input_torch_mode_matches_keras():
    keras = _keras()
    x = np.random.default_rng(2).uniform(0, 255, (2, 3, 3, 3)).astype("float32")
    assert_close(sk.applications.imagenet_utils.preprocess_input(x, mode="torch"),
                 keras.applications.imagenet_utils.preprocess_input(x.copy(), mode="torch"), atol=1e-5)
    with pytest.raises(ValueError, match="mode must be"):
        sk.applications.imagenet_utils.preprocess_input(x, mode="bgr")


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("SHENDU_OFFLINE", raising=False)       # the downloads go to 127.0.0.1 only
    local = LocalServer(root)
    monkeypatch.setattr(imagenet_utils, "BASE_WEIGHTS_ORIGIN", local.url)
    yield root, local
    local.close()


def test_decode_predictions_reads_the_class_index_from_the_cache(server, monkeypatch):
    root, local = server
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    raw = json.dumps(index).encode()
    (root / "imagenet_class_index.json").write_bytes(raw)
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_ORIGIN", local.url + "imagenet_class_index.json")
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", hashlib.md5(raw).hexdigest())
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    preds = np.zeros((2, 1000), "float32")
    preds[0, [7, 3, 999]] = [0.5, 0.3, 0.2]
    preds[1, 42] = 1.0
    decoded = sk.applications.vgg16.decode_predictions(preds, top=3)
    assert [row[:2] for row in decoded[0]] == [("n00000007", "class_7"), ("n00000003", "class_3"),
                                               ("n00000999", "class_999")]
    assert decoded[1][0][:2] == ("n00000042", "class_42") and decoded[1][0][2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(samples, 1000\)"):
        sk.applications.resnet50.decode_predictions(np.zeros((2, 10)))


# ---------------------------------------------------------------- pretrained weights

def test_imagenet_weights_are_downloaded_once_into_the_keras_cache(server, tmp_path):
    root, local = server
    kwargs = dict(input_shape=(96, 96, 3), alpha=0.35, include_top=False)
    source = sk.applications.MobileNetV2(weights=None, **kwargs)
    rng = np.random.default_rng(3)
    source.set_weights([rng.standard_normal(w.shape).astype("float32") for w in source.get_weights()])
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    (root / "mobilenet_v2").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # the '.h5' name asks for tf.keras 2's legacy weights file
        source.save_weights(str(root / "mobilenet_v2" / name))

    model = sk.applications.MobileNetV2(weights="imagenet", **kwargs)
    for got, want in zip(model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert (tmp_path / "keras_home" / "models" / name).is_file()
    sk.applications.MobileNetV2(weights="imagenet", **kwargs)
    assert local.requests == [f"/mobilenet_v2/{name}"], "the cached file must be reused"


def test_imagenet_weights_with_a_wrong_hash_are_refused(server, tmp_path):
    root, local = server
    name, published = vgg.WEIGHTS["vgg16"][1]
    (root / "vgg16").mkdir()
    (root / "vgg16" / name).write_bytes(b"a file that is not the published one")
    with pytest.raises(DownloadError, match=published):
        sk.applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert not (tmp_path / "keras_home" / "models" / name).exists()
    assert local.requests == [f"/vgg16/{name}"]


def test_weights_from_a_local_file(tmp_path):
    source = sk.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=3)
    path = str(tmp_path / "mine.weights.h5")
    source.save_weights(path)
    model = sk.applications.MobileNetV2(weights=path, input_shape=(32, 32, 3), alpha=0.35, classes=3)
    for got, want in zip(model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- teaching errors

def test_applications_explain_bad_arguments():
    with pytest.raises(ValueError, match="classes must be 1000"):
        sk.applications.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="at least 32x32"):
        sk.applications.VGG16(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="weights must be None"):
        sk.applications.MobileNetV2(weights="no_such_file.h5")
    with pytest.raises(ValueError, match=r"must be \(224, 224, 3\)"):
        sk.applications.VGG19(weights="imagenet", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="alpha"):
        sk.applications.MobileNetV2(weights="imagenet", alpha=0.6, include_top=False, input_shape=(96, 96, 3))
    with pytest.raises(ValueError, match="fully known"):
        sk.applications.VGG16(weights=None, input_shape=(None, None, 3))


def test_make_divisible_rounds_widths_like_keras():
    assert [mobilenet_v2.make_divisible(v) for v in (11.2, 32 * 0.35, 16 * 0.75, 1280 * 1.3)] == [16, 16, 16, 1664]
