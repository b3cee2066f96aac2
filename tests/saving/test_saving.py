"""shendu.saving: .keras and .weights.h5 files written and read by shendu (Keras 3 interop lives in
test_keras_interop.py)."""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

import shendu as sd
from shendu import layers, saving
from shendu.models import Model, Sequential
from shendu.saving import LoadError, UnknownObjectError, weights_h5

h5py = pytest.importorskip("h5py")


def mlp():
    return Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                       layers.Dropout(0.2), layers.Dense(3, activation="softmax")])


def two_input_model():
    a, b = layers.Input((4,), name="a"), layers.Input((5,), name="b")
    shared = layers.Dense(6, activation="tanh", name="shared")
    x = layers.Concatenate(name="concat")([shared(a), shared(layers.Dense(4, name="to_four")(b))])
    return Model([a, b], layers.Dense(2, name="head")(x))


@pytest.fixture
def data(rng):
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 3, size=40)
    return x, y


def _trained_mlp(data, epochs=1):
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(*data, epochs=epochs, batch_size=8, verbose=0)
    return model


def _assert_same_model(a, b, xs):
    np.testing.assert_array_equal(a.predict(xs, verbose=0), b.predict(xs, verbose=0))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


# ----------------------------------------------------------------------------------- round trips

def test_sequential_round_trip(tmp_path, data):
    model = _trained_mlp(data)
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = saving.load_model(path)
    assert type(loaded) is Sequential and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    _assert_same_model(model, loaded, data[0])
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 5


def test_functional_round_trip_with_shared_layer(tmp_path, rng):
    model = two_input_model()
    xs = [rng.normal(size=(7, 4)).astype("float32"), rng.normal(size=(7, 5)).astype("float32")]
    model.save(tmp_path / "two.keras")
    loaded = sd.models.load_model(str(tmp_path / "two.keras"))
    _assert_same_model(model, loaded, xs)
    assert len(loaded.get_layer("shared")._inbound_nodes) == 2


def test_training_resumes_exactly(tmp_path, data):
    sd.set_seed(1)
    straight = _trained_mlp(data, epochs=3)
    sd.set_seed(1)
    first = _trained_mlp(data, epochs=2)
    first.save(tmp_path / "ckpt.keras")
    resumed = saving.load_model(tmp_path / "ckpt.keras")
    resumed.fit(*data, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(straight.optimizer.get_state()[2], resumed.optimizer.get_state()[2])


def test_compile_false_gives_uncompiled_model(tmp_path, data):
    _trained_mlp(data).save(tmp_path / "m.keras")
    loaded = saving.load_model(tmp_path / "m.keras", compile=False)
    assert not loaded._compiled
    with pytest.raises(RuntimeError, match="compile"):
        loaded.fit(*data, verbose=0)


def test_file_object_round_trip(data):
    model = _trained_mlp(data)
    buffer = io.BytesIO()
    saving.save_model(model, buffer)
    buffer.seek(0)
    _assert_same_model(model, saving.load_model(buffer), data[0])


# ----------------------------------------------------------------------------------- the format

def test_archive_layout_matches_keras(tmp_path, data):
    model = _trained_mlp(data)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        meta = json.loads(zf.read("metadata.json"))
        config = json.loads(zf.read("config.json"))
        h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
    assert set(meta) == {"keras_version", "date_saved"} and meta["keras_version"].startswith("3.")
    assert (config["module"], config["class_name"]) == ("keras", "Sequential")
    first, dense = config["config"]["layers"][:2]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"] == [None, 6]
    assert dense["module"] == "keras.layers" and dense["build_config"] == {"input_shape": [None, 6]}
    assert config["build_config"] == {"input_shape": [None, 6]}
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert config["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    assert h5["vars"].attrs["name"] == model.name and len(h5["vars"]) == 0
    assert h5["layers/dense/vars"].attrs["name"] == model.layers[0].name
    assert [h5[f"layers/batch_normalization/vars/{i}"].shape for i in range(4)] == [(8,)] * 4
    assert h5["layers/dense_1/vars/0"].shape == (8, 3)
    assert "layers/dropout/vars" in h5
    # optimizer: iterations, learning rate, then (momentum, velocity) per trainable variable
    assert len(h5["optimizer/vars"]) == 2 + 2 * 6 and int(h5["optimizer/vars/0"][()]) == 5
    h5.close()


def test_functional_config_matches_keras_form(data):
    config = two_input_model().get_config()
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == ["head", 0, 0]
    by_name = {entry["name"]: entry for entry in config["layers"]}
    shared_calls = by_name["shared"]["inbound_nodes"]
    assert [call["args"][0]["config"]["keras_history"] for call in shared_calls] == [["a", 0, 0], ["to_four", 0, 0]]
    concat_args = by_name["concat"]["inbound_nodes"][0]["args"][0]
    assert [t["config"]["keras_history"] for t in concat_args] == [["shared", 0, 0], ["shared", 1, 0]]
    assert concat_args[0]["class_name"] == "__keras_tensor__" and concat_args[0]["config"]["shape"] == [None, 6]


def test_keras_layer_order_is_by_depth():
    x = layers.Input((4,), name="x")
    deep = layers.Dense(3, name="d3")(layers.Dense(3, name="d2")(layers.Dense(3, name="d1")(x)))
    model = Model(x, layers.Concatenate(name="c")([layers.Dense(3, name="d4")(x), deep]))
    assert [l.name for l in model.layers] == ["x", "d1", "d2", "d4", "d3", "c"]


def test_nested_model_paths(tmp_path, rng):
    inner = Sequential([layers.Input((3,)), layers.Dense(4)], name="inner")
    outer = Sequential([layers.Input((3,)), inner, layers.Dense(2)])
    outer.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert f["layers/sequential/layers/dense/vars/0"].shape == (3, 4)
        assert f["layers/dense/vars/0"].shape == (4, 2)
    outer.save(tmp_path / "nested.keras")
    x = rng.normal(size=(2, 3)).astype("float32")
    np.testing.assert_array_equal(saving.load_model(tmp_path / "nested.keras").predict(x, verbose=0),
                                  outer.predict(x, verbose=0))


def test_sublayer_paths_follow_attribute_names(tmp_path):
    model = Sequential([layers.Input((5, 3)), layers.LSTM(4)])
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert [f[f"layers/lstm/cell/vars/{i}"].shape for i in range(3)] == [(3, 16), (4, 16), (16,)]


# ----------------------------------------------------------------------------------- weights files

def test_save_and_load_weights(tmp_path, data):
    model = _trained_mlp(data)
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = mlp()
    fresh.load_weights(tmp_path / "m.weights.h5")
    _assert_same_model(model, fresh, data[0])
    model.save(tmp_path / "m.keras")
    other = mlp()
    other.load_weights(str(tmp_path / "m.keras"))           # a .keras file's weights load too
    _assert_same_model(model, other, data[0])


def test_load_weights_restores_optimizer_when_compiled(tmp_path, data):
    model = _trained_mlp(data)
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = mlp()
    fresh.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    fresh.load_weights(tmp_path / "m.weights.h5")
    assert fresh.optimizer.iterations == model.optimizer.iterations
    for a, b in zip(fresh.optimizer.get_state(), model.optimizer.get_state(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weight_mismatch_raises_or_skips(tmp_path):
    small = Sequential([layers.Input((6,)), layers.Dense(8), layers.Dense(3)])
    small.save_weights(tmp_path / "s.weights.h5")
    wider = Sequential([layers.Input((6,)), layers.Dense(8), layers.Dense(5)])
    before = wider.get_weights()
    with pytest.raises(LoadError, match=r"dense.*expects shape \(8, 5\) but .* has shape \(8, 3\)"):
        wider.load_weights(tmp_path / "s.weights.h5")
    for a, b in zip(before, wider.get_weights()):         # nothing was assigned
        np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match="Skipping"):
        wider.load_weights(tmp_path / "s.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(wider.layers[0].get_weights()[0], small.layers[0].get_weights()[0])
    np.testing.assert_array_equal(wider.layers[1].get_weights()[0], before[2])


# ----------------------------------------------------------------------------------- extensions

def test_save_format_argument_is_accepted_with_a_deprecation_warning(tmp_path):
    model = mlp()
    with pytest.warns(UserWarning, match="save_format"):
        model.save(tmp_path / "m.keras", save_format="keras")
    with pytest.raises(ValueError, match="save_format"):
        model.save(tmp_path / "m", save_format="tf")


def test_plain_h5_weights_name_writes_the_tf_keras_2_file(tmp_path):
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    model = mlp()
    with pytest.warns(UserWarning, match="weights.h5"):
        model.save_weights(tmp_path / "w.h5")
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    clone = mlp()
    clone.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    theirs = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                               keras.layers.BatchNormalization(), keras.layers.Dropout(0.2),
                               keras.layers.Dense(3, activation="softmax")])
    theirs.load_weights(str(tmp_path / "w.h5"))
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_extensions_are_checked(tmp_path):
    model = mlp()
    with pytest.raises(ValueError, match=r"'\.keras' extension"):
        model.save(tmp_path / "m.txt")
    with pytest.raises(ValueError, match=r"'\.weights\.h5'"):
        model.save_weights(tmp_path / "m.bin")
    (tmp_path / "m.txt").write_text("hello")
    with pytest.raises(ValueError, match="File format not supported"):
        saving.load_model(tmp_path / "m.txt")
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="weights only"):
        saving.load_model(tmp_path / "w.weights.h5")
    with pytest.raises(FileNotFoundError, match="No file"):
        saving.load_model(tmp_path / "missing.keras")


def test_overwrite_false(tmp_path):
    model = mlp()
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError, match="overwrite"):
        model.save(tmp_path / "m.keras", overwrite=False)


# ----------------------------------------------------------------------------------- atomic writes

def test_interrupted_save_keeps_previous_file(tmp_path, data, monkeypatch):
    path = tmp_path / "m.keras"
    old = _trained_mlp(data)
    old.save(path)
    new = mlp()
    calls = []

    def failing(group, key, value):
        calls.append(key)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        group.create_dataset(key, data=np.asarray(value))

    monkeypatch.setattr(weights_h5, "write_dataset", failing)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    monkeypatch.undo()
    assert len(calls) == 3
    assert os.listdir(tmp_path) == ["m.keras"]               # no temporary file left behind
    _assert_same_model(old, saving.load_model(path), data[0])


def test_interrupted_replace_keeps_previous_file(tmp_path, data, monkeypatch):
    path = tmp_path / "m.weights.h5"
    model = _trained_mlp(data)
    model.save_weights(path)
    before = path.read_bytes()

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        mlp().save_weights(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.weights.h5"]


# ----------------------------------------------------------------------------------- damaged files

def _rewrite(src, dst, drop=(), replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if replace and name in replace:
                data = replace[name](data)
            zout.writestr(name, data)


@pytest.fixture
def saved(tmp_path, data):
    path = tmp_path / "good.keras"
    _trained_mlp(data).save(path)
    return path


def test_truncated_file(saved, tmp_path):
    bad = tmp_path / "cut.keras"
    bad.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(LoadError, match=r"cut\.keras.*not a valid \.keras file.*truncated"):
        saving.load_model(bad)


def test_missing_weights_member(saved, tmp_path):
    bad = tmp_path / "noweights.keras"
    _rewrite(saved, bad, drop={"model.weights.h5"})
    with pytest.raises(LoadError, match=r"noweights\.keras.*missing 'model\.weights\.h5'"):
        saving.load_model(bad)


def test_config_not_json(saved, tmp_path):
    bad = tmp_path / "badjson.keras"
    _rewrite(saved, bad, replace={"config.json": lambda b: b[:-10]})
    with pytest.raises(LoadError, match=r"badjson\.keras.*config\.json is not valid JSON"):
        saving.load_model(bad)


def test_weight_of_wrong_shape(saved, tmp_path):
    def edit(data):
        src = h5py.File(io.BytesIO(data), "r")
        out = io.BytesIO()
        with h5py.File(out, "w") as dst:
            for key in src:
                src.copy(src[key], dst, name=key)
            del dst["layers/dense_1/vars/0"]
            dst["layers/dense_1/vars/0"] = np.zeros((8, 4), "float32")
        return out.getvalue()

    bad = tmp_path / "shape.keras"
    _rewrite(saved, bad, replace={"model.weights.h5": edit})
    with pytest.raises(LoadError, match=r"layer 'dense_\d+' \(Dense\) weight 'kernel' at 'layers/dense_1/vars/0' "
                                        r"expects shape \(8, 3\) but .*shape\.keras.* has shape \(8, 4\)"):
        saving.load_model(bad)


def test_unknown_layer_class(saved, tmp_path):
    def rename(data):
        config = json.loads(data)
        config["config"]["layers"][1]["class_name"] = "FancyDense"
        return json.dumps(config).encode()

    bad = tmp_path / "fancy.keras"
    _rewrite(saved, bad, replace={"config.json": rename})
    with pytest.raises(UnknownObjectError, match=r"class 'FancyDense'.*custom_objects=\{'FancyDense': FancyDense\}"):
        saving.load_model(bad)
    model = saving.load_model(bad, custom_objects={"FancyDense": layers.Dense})
    assert type(model.layers[0]) is layers.Dense


# ----------------------------------------------------------------------------------- safe mode

def double(x):
    return x * 2.0


def test_lambda_needs_custom_objects(tmp_path, rng):
    model = Sequential([layers.Input((3,)), layers.Lambda(double), layers.Dense(2)])
    model.save(tmp_path / "lam.keras")
    with pytest.raises(UnknownObjectError, match=r"Lambda layer .* 'double'.*safe_mode.*custom_objects=\{'double'"):
        saving.load_model(tmp_path / "lam.keras")
    with pytest.raises(UnknownObjectError, match="custom_objects"):
        saving.load_model(tmp_path / "lam.keras", safe_mode=False)   # shendu never runs stored code
    loaded = saving.load_model(tmp_path / "lam.keras", custom_objects={"double": double})
    x = rng.normal(size=(4, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_symbolic_arithmetic_cannot_be_saved(tmp_path):
    x = layers.Input((3,))
    model = Model(x, layers.Dense(2)(x) * 2.0)
    with pytest.raises(ValueError, match=r"layers\.Add|Lambda"):
        model.save(tmp_path / "op.keras")


# ----------------------------------------------------------------------------------- object helpers

def test_serialize_and_deserialize_objects():
    from shendu import initializers, optimizers
    init = initializers.HeNormal(seed=3)
    config = saving.serialize_keras_object(init)
    assert (config["module"], config["class_name"], config["config"]["seed"]) == ("keras.initializers", "HeNormal", 3)
    assert isinstance(saving.deserialize_keras_object(config), initializers.HeNormal)
    opt = saving.deserialize_keras_object(saving.serialize_keras_object(optimizers.SGD(0.1, momentum=0.9)))
    assert isinstance(opt, optimizers.SGD) and opt.momentum == 0.9
    dense = saving.deserialize_keras_object(saving.serialize_keras_object(layers.Dense(3, activation="relu")))
    assert isinstance(dense, layers.Dense) and dense.units == 3
    with pytest.raises(UnknownObjectError, match="custom_objects"):
        saving.deserialize_keras_object({"module": "my.pkg", "class_name": "Nope", "config": {}})


# ----------------------------------------------------------------------------------- assets

@pytest.mark.parametrize("mode", ["int", "tf_idf"])
def test_adapted_vocabulary_is_saved_as_asset(tmp_path, mode):
    class Holder(Model):
        """A model that keeps a TextVectorization beside its layers (its vocabulary is not a weight)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.vectorize = layers.TextVectorization(output_mode=mode)
            self.dense = layers.Dense(2)

        def call(self, x, training=None):
            return self.dense(x)

    model = Holder()
    model(np.zeros((1, 3), "float32"))
    model.vectorize.adapt(["the cat sat", "the dog ran far", "a cat and a dog"])
    model.save(tmp_path / "h.keras")
    with zipfile.ZipFile(tmp_path / "h.keras") as zf:
        vocabulary = zf.read("assets/vectorize/vocabulary.txt").decode().split("\n")
    assert vocabulary == model.vectorize.get_vocabulary()
    loaded = saving.load_model(tmp_path / "h.keras", custom_objects={"Holder": Holder})
    texts = np.array(["the cat ran", "a bird"])
    assert loaded.vectorize.get_vocabulary() == model.vectorize.get_vocabulary()
    np.testing.assert_array_equal(np.asarray(loaded.vectorize(texts)), np.asarray(model.vectorize(texts)))
