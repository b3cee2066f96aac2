"""Legacy ``.h5`` whole-model files: ``model.save('x.h5')`` writes tf.keras 2's layout (with Keras 3's
warning), Keras 3 loads shendu's files, shendu loads its own and Keras 3's, and a failed save
leaves the previous file whole."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import shendu.layers as sl  # noqa: E402
from shendu import models as sm  # noqa: E402
from shendu import optimizers as sd_optimizers  # noqa: E402
from shendu import saving  # noqa: E402
from shendu.saving import LoadError, legacy_layout  # noqa: E402
from shendu.saving.legacy_h5 import LegacyFormatWarning  # noqa: E402


class Lib:
    def __init__(self, layers, Input, Model, Sequential, optimizers):
        self.L, self.Input, self.Model, self.Sequential = layers, Input, Model, Sequential
        self.optimizers = optimizers

    def adam(self):
        return self.optimizers.Adam(name="adam")      # named: automatic names count up across tests


SHENDU = Lib(sl, sl.Input, sm.Model, sm.Sequential, sd_optimizers)


@pytest.fixture(scope="module")
def keras_lib(keras):
    """The same names from Keras 3 (the oracle; only the tests that compare with it ask for this)."""
    return Lib(keras.layers, keras.Input, keras.Model, keras.Sequential, keras.optimizers)


# the tutorials' models, written once for both libraries; every layer named, so files compare
def mlp(lib):
    L = lib.L
    return lib.Sequential([lib.Input((6,)), L.Dense(8, activation="relu", name="hidden"),
                           L.BatchNormalization(name="bn"), L.Dense(3, activation="softmax", name="probs")],
                          name="mlp")


def cnn(lib):
    L = lib.L
    return lib.Sequential([lib.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu", name="conv"),
                           L.MaxPooling2D(name="pool"), L.Flatten(name="flat"),
                           L.Dense(3, activation="softmax", name="probs")], name="cnn")


def two_inputs(lib):
    L = lib.L
    a, b = lib.Input((4,), name="a"), lib.Input((5,), name="b")
    x = L.Concatenate(name="concat")([L.Dense(6, activation="tanh", name="da")(a),
                                      L.Dense(4, name="db")(L.Dense(3, name="deep")(b))])
    return lib.Model([a, b], L.Dense(3, activation="softmax", name="probs")(x), name="two_inputs")


def text_lstm(lib):
    L = lib.L
    return lib.Sequential([lib.Input((7,), dtype="int32"), L.Embedding(30, 8, name="embed"),
                           L.LSTM(5, name="lstm"), L.Dense(3, activation="softmax", name="probs")], name="text")


def nested(lib):
    L = lib.L
    inner = lib.Sequential([lib.Input((4,)), L.Dense(5, name="inner_dense")], name="inner")
    i = lib.Input((4,), name="i")
    return lib.Model(i, L.Dense(3, activation="softmax", name="probs")(inner(i)), name="outer")


MODELS = {"mlp": (mlp, [(6,)]), "cnn": (cnn, [(8, 8, 1)]), "two_inputs": (two_inputs, [(4,), (5,)]),
          "text_lstm": (text_lstm, [(7,)])}


def _inputs(name, rng, n=6):
    if name == "text_lstm":
        return [rng.integers(0, 30, size=(n, 7)).astype("int32")]
    shapes = MODELS[name][1] if name in MODELS else [(4,)]
    return [rng.normal(size=(n, *s)).astype("float32") for s in shapes]


def _x(xs):
    return xs if len(xs) > 1 else xs[0]


def _predict(model, xs):
    return np.asarray(model.predict(_x(xs), verbose=0))


def _trained(build, name, rng, loss="sparse_categorical_crossentropy", lib=SHENDU):
    model = build(lib)
    model.compile(optimizer=lib.adam(), loss=loss, metrics=["accuracy"])
    xs, y = _inputs(name, rng, 12), rng.integers(0, 3, size=12)
    model.fit(_x(xs), y, epochs=1, batch_size=4, verbose=0)
    return model, xs, y


def _save(model, path, **kwargs):
    with pytest.warns(LegacyFormatWarning, match=r"considered legacy.*native Keras format"):
        model.save(path, **kwargs)


def _keras_save(km, path):
    import warnings
    with warnings.catch_warnings():          # Keras logs its legacy-format advice through absl, not warnings
        warnings.simplefilter("ignore")
        km.save(path)


def _datasets(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, np.asarray(o)) if isinstance(o, h5py.Dataset) else None)
    return out


# ----------------------------------------------------------------------------------- shendu -> Keras 3

@pytest.mark.parametrize("name", list(MODELS))
def test_keras_loads_shendu_h5(tmp_path, rng, name, keras):
    model, xs, _ = _trained(MODELS[name][0], name, rng)
    path = tmp_path / f"{name}.h5"
    _save(model, path)
    km = keras.saving.load_model(path)
    np.testing.assert_allclose(_predict(km, xs), _predict(model, xs), atol=1e-6)
    assert [l.name for l in km.layers] == [l.name for l in model.layers]
    assert km.optimizer.__class__.__name__ == "Adam" and int(km.optimizer.iterations) == model.optimizer.iterations


def test_file_layout_is_tf_keras2_layout(tmp_path, rng):
    model, _, _ = _trained(mlp, "mlp", rng)
    path = tmp_path / "mlp.hdf5"
    _save(model, path)
    with h5py.File(path, "r") as f:
        assert set(f.attrs) == {"keras_version", "backend", "model_config", "training_config"}
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential"
        assert [l["class_name"] for l in config["config"]["layers"]] == ["InputLayer", "Dense", "BatchNormalization",
                                                                        "Dense"]
        assert all(set(l) == {"class_name", "config"} for l in config["config"]["layers"])   # legacy entries
        assert config["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 6]
        assert config["config"]["layers"][1]["config"]["dtype"] == "float32"
        training = json.loads(f.attrs["training_config"])
        assert training["loss"] == "sparse_categorical_crossentropy" and training["metrics"] == ["accuracy"]
        assert training["optimizer_config"]["class_name"] == "Custom>Adam"
        group = f["model_weights"]
        assert list(group.attrs["layer_names"]) == ["hidden", "bn", "probs"]
        assert list(group["bn"].attrs["weight_names"]) == [f"bn/{n}:0" for n in
                                                           ("gamma", "beta", "moving_mean", "moving_variance")]
        assert group["hidden/hidden/kernel:0"].shape == (6, 8)
        assert list(group["top_level_model_weights"].attrs["weight_names"]) == []
        names = list(f["optimizer_weights"].attrs["weight_names"])
        assert names[:3] == ["iteration:0", "Adam/m/hidden/kernel:0", "Adam/v/hidden/kernel:0"]
        iteration = f["optimizer_weights/iteration:0"]
        assert iteration.dtype == np.int64 and iteration[()] == 3


def _layer_arrays(f) -> dict:
    group = f["model_weights"]
    return {n: [np.asarray(group[n][w]) for w in group[n].attrs["weight_names"]] for n in group.attrs["layer_names"]}


def _optimizer_arrays(f) -> list:
    group = f["optimizer_weights"]
    return [np.asarray(group[w]) for w in group.attrs["weight_names"]]


@pytest.mark.parametrize("build", [two_inputs, nested, text_lstm])
def test_same_weights_as_keras(tmp_path, rng, build, keras_lib):
    """The same model, weights and training steps in both libraries give the same layers with the same
    arrays (optimizer slots included; Keras 3 also stores the learning rate, tf.keras 2 does not)."""
    name = build.__name__
    km, model = build(keras_lib), build(SHENDU)
    weights = [(rng.normal(size=w.shape) * 0.1).astype(w.dtype) for w in km.get_weights()]
    km.set_weights(weights)
    model.set_weights(weights)
    xs, y = _inputs(name, rng, 8), rng.integers(0, 3, size=8)
    for m, lib in ((km, keras_lib), (model, SHENDU)):
        m.compile(optimizer=lib.adam(), loss="sparse_categorical_crossentropy")
        for _ in range(2):
            m.train_on_batch(_x(xs), y)
    _keras_save(km, tmp_path / "k.h5")
    _save(model, tmp_path / "s.h5")
    with h5py.File(tmp_path / "k.h5", "r") as fk, h5py.File(tmp_path / "s.h5", "r") as fs:
        theirs, ours = _layer_arrays(fk), _layer_arrays(fs)
        assert list(ours) == list(theirs)
        for layer, arrays in theirs.items():
            assert [a.shape for a in ours[layer]] == [a.shape for a in arrays], layer
            for a, b in zip(ours[layer], arrays):
                np.testing.assert_allclose(a, b, atol=1e-5, err_msg=layer)
        theirs, ours = _optimizer_arrays(fk), _optimizer_arrays(fs)
        assert int(ours[0]) == int(theirs[0]) == 2 and len(ours) == len(theirs) - 1
        for a, b in zip(ours[1:], theirs[2:]):
            np.testing.assert_allclose(a, b, atol=1e-5)
        kt, st = json.loads(fk.attrs["training_config"]), json.loads(fs.attrs["training_config"])
        # tf.keras 2's keys; Keras 3 adds its own compile options
        assert set(st) == set(kt) - {"jit_compile", "run_eagerly", "steps_per_execution"}


def _mse_model_file(path):
    model = mlp(SHENDU)
    model.compile(optimizer=sd_optimizers.SGD(name="sgd"), loss="mse")
    _save(model, path)
    return path


def test_loss_alias_is_written_by_its_full_name(tmp_path):
    # Keras 3 writes loss="mse" as given and then fails to load it ("Could not deserialize
    # 'keras.metrics.mse'"); shendu writes the function's full name instead
    with h5py.File(_mse_model_file(tmp_path / "m.h5"), "r") as f:
        assert json.loads(f.attrs["training_config"])["loss"] == "mean_squared_error"
        names = list(f["optimizer_weights"].attrs["weight_names"])
        assert names[:2] == ["iteration:0", "SGD/m/hidden/kernel:0"]    # tf.keras 2's SGD: "m" even at momentum=0


def test_keras_reads_the_loss_alias(tmp_path, keras):
    km = keras.saving.load_model(_mse_model_file(tmp_path / "m.h5"))
    assert km.loss in ("mean_squared_error", keras.losses.mean_squared_error)


# ----------------------------------------------------------------------------------- shendu -> shendu

def test_round_trip_keeps_compile_and_optimizer(tmp_path, rng):
    model, xs, y = _trained(two_inputs, "two_inputs", rng)
    path = tmp_path / "two.h5"
    _save(model, path)
    loaded = saving.load_model(path)
    assert type(loaded) is type(model) and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(_predict(loaded, xs), _predict(model, xs))
    # compiled from training_config: evaluate works without compile(), with the same loss and metric
    np.testing.assert_allclose(loaded.evaluate(_x(xs), y, verbose=0), model.evaluate(_x(xs), y, verbose=0),
                               rtol=1e-6)
    assert type(loaded.optimizer) is type(model.optimizer) and loaded.optimizer.iterations == 3
    for a, b in zip(loaded.optimizer.get_state()[2:], model.optimizer.get_state()[2:], strict=True):
        np.testing.assert_array_equal(a, b)
    # and training goes on from the same state as the original
    model.train_on_batch(_x(xs), y)
    loaded.train_on_batch(_x(xs), y)
    np.testing.assert_allclose(_predict(loaded, xs), _predict(model, xs), atol=1e-6)


def test_round_trip_untrained_and_uncompiled(tmp_path, rng, recwarn):
    model = text_lstm(SHENDU)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")     # compiled, never trained
    _save(model, tmp_path / "c.h5")
    loaded = saving.load_model(tmp_path / "c.h5")
    assert not [w for w in recwarn.list if "optimizer" in str(w.message)]            # nothing to restore, no noise
    assert type(loaded.optimizer).__name__ == "RMSprop"
    xs = _inputs("text_lstm", rng)
    np.testing.assert_array_equal(_predict(loaded, xs), _predict(model, xs))

    plain = text_lstm(SHENDU)
    _save(plain, tmp_path / "u.h5")
    with h5py.File(tmp_path / "u.h5", "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    assert not getattr(saving.load_model(tmp_path / "u.h5"), "_compiled", False)


def test_include_optimizer_false(tmp_path, rng):
    model, xs, _ = _trained(mlp, "mlp", rng)
    _save(model, tmp_path / "m.h5", include_optimizer=False)
    with h5py.File(tmp_path / "m.h5", "r") as f:        # Keras leaves out the compile settings too
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    np.testing.assert_array_equal(_predict(saving.load_model(tmp_path / "m.h5"), xs), _predict(model, xs))


def test_load_weights_from_full_h5(tmp_path, rng):
    model, xs, _ = _trained(cnn, "cnn", rng)
    _save(model, tmp_path / "full.h5")
    fresh = cnn(SHENDU)
    fresh.load_weights(tmp_path / "full.h5")
    np.testing.assert_array_equal(_predict(fresh, xs), _predict(model, xs))
    with pytest.raises(LoadError, match="layer by layer"):
        mlp(SHENDU).load_weights(tmp_path / "full.h5")


# ----------------------------------------------------------------------------------- Keras 3 -> shendu

def test_shendu_loads_keras_h5(tmp_path, rng, keras_lib):
    km, xs, y = _trained(text_lstm, "text_lstm", rng, lib=keras_lib)
    _keras_save(km, tmp_path / "k.h5")
    model = saving.load_model(tmp_path / "k.h5")
    np.testing.assert_allclose(_predict(model, xs), _predict(km, xs), atol=1e-6)
    assert model.optimizer.iterations == 3
    model.evaluate(_x(xs), y, verbose=0)


# ----------------------------------------------------------------------------------- file names

def test_weights_need_weights_h5_suffix(tmp_path):
    model = mlp(SHENDU)
    with pytest.raises(ValueError, match=r"The filename must end in `\.weights\.h5`\. Received: filepath=.*w\.npz"):
        model.save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="weights-only"):
        model.save(tmp_path / "m.weights.h5")
    assert os.listdir(tmp_path) == []


def test_missing_folder_is_created(tmp_path):
    path = tmp_path / "runs" / "1" / "model.h5"
    _save(mlp(SHENDU), path)
    assert path.exists()


def test_overwrite_false(tmp_path):
    _save(mlp(SHENDU), tmp_path / "m.h5")
    with pytest.raises(FileExistsError, match="overwrite"), pytest.warns(LegacyFormatWarning):
        mlp(SHENDU).save(tmp_path / "m.h5", overwrite=False)


def test_long_name_lists_are_chunked():
    import io
    names = [f"layer_{i:05d}".encode() * 40 for i in range(200)]       # > 64 KB in all
    with h5py.File(io.BytesIO(), "w") as f:
        legacy_layout.set_name_list(f, "layer_names", names)
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs
        assert legacy_layout.name_list(f, "layer_names") == [n.decode() for n in names]


# ----------------------------------------------------------------------------------- atomic writes

def test_interrupted_save_keeps_previous_file(tmp_path, rng, monkeypatch):
    path = tmp_path / "m.h5"
    old, xs, _ = _trained(mlp, "mlp", rng)
    _save(old, path)
    before = path.read_bytes()
    calls = []

    def failing(group, name, value):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(legacy_layout, "write_dataset", failing)
    with pytest.raises(OSError, match="disk full"), pytest.warns(LegacyFormatWarning):
        mlp(SHENDU).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.h5"]      # no temporary file left

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt), pytest.warns(LegacyFormatWarning):
        mlp(SHENDU).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.h5"]
    np.testing.assert_array_equal(_predict(saving.load_model(path), xs), _predict(old, xs))
