"""Hostile and oversized files: refused with a LoadError before shendu allocates what they declare."""
from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

from shendu import layers, saving
from shendu.models import Sequential
from shendu.saving import LoadError, limits

h5py = pytest.importorskip("h5py")

HUGE = (10 ** 6, 10 ** 6)         # 3.6 TiB of float32 declared in a file of a few kB: reading it fails


def mlp():
    return Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)])


def trained(rng):
    model = mlp()
    model.compile(optimizer="adam", loss="mse")
    model.fit(rng.normal(size=(16, 6)).astype("float32"), rng.normal(size=(16, 3)).astype("float32"),
              epochs=1, batch_size=8, verbose=0)
    return model


def declare_huge(f, key):
    """Replace dataset ``key`` by one that declares HUGE (no data is written, so the file stays small)."""
    del f[key]
    f.create_dataset(key, shape=HUGE, dtype="float32")


def text(name):
    return name.decode() if isinstance(name, bytes) else name


def rewrite_member(src, dst, member, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            zout.writestr(name, edit(data) if name == member else data)


def edit_h5_bytes(data, edit):
    src = h5py.File(io.BytesIO(data), "r")
    out = io.BytesIO()
    with h5py.File(out, "w") as dst:
        for key in src:
            src.copy(src[key], dst, name=key)
        edit(dst)
    return out.getvalue()


# ----------------------------------------------------------------------------------- declared shapes

def test_weights_file_with_huge_declared_dataset_is_refused_unread(tmp_path):
    path = tmp_path / "m.weights.h5"
    mlp().save_weights(path)
    with h5py.File(path, "r+") as f:
        declare_huge(f, "layers/dense/vars/0")
    assert path.stat().st_size < 100_000
    with pytest.raises(LoadError, match=r"weight 'kernel' at 'layers/dense/vars/0' expects shape \(6, 8\) but "
                                        r".* has shape \(1000000, 1000000\)"):
        mlp().load_weights(path)


def test_keras_file_with_huge_optimizer_slot_skips_the_state_unread(tmp_path, rng):
    model = trained(rng)
    path, bad = tmp_path / "m.keras", tmp_path / "bad.keras"
    model.save(path)
    rewrite_member(path, bad, "model.weights.h5",
                   lambda data: edit_h5_bytes(data, lambda f: declare_huge(f, "optimizer/vars/2")))
    with pytest.warns(UserWarning, match=r"Skipping the optimizer state .* shapes \[\(1000000, 1000000\)\]"):
        loaded = saving.load_model(bad)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_legacy_h5_with_huge_declared_weight_is_refused_unread(tmp_path):
    path = tmp_path / "m.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp().save(path)
    with h5py.File(path, "r+") as f:
        first = text(f["model_weights"].attrs["layer_names"][0])
        group = f["model_weights"][first]
        declare_huge(group, text(group.attrs["weight_names"][0]))
    with pytest.raises(LoadError, match=r"expects weights of shapes \[\(6, 8\), \(8,\)\] but .* has "
                                        r"\[\(1000000, 1000000\), \(8,\)\]"):
        saving.load_model(path)
    with pytest.raises(LoadError, match=r"\(1000000, 1000000\)"):
        mlp().load_weights(path)


def test_legacy_h5_with_huge_optimizer_weight_skips_the_state_unread(tmp_path, rng):
    model = trained(rng)
    path = tmp_path / "m.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    with h5py.File(path, "r+") as f:
        group = f["optimizer_weights"]
        declare_huge(group, text(group.attrs["weight_names"][-1]))
    with pytest.warns(UserWarning, match=r"Skipping the optimizer state .*\(1000000, 1000000\)"):
        loaded = saving.load_model(path)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


# ----------------------------------------------------------------------------------- configs

def keras_file_with_config(tmp_path, config_text, name="c.keras"):
    good, path = tmp_path / "good.keras", tmp_path / name
    mlp().save(good)
    rewrite_member(good, path, "config.json", lambda _: config_text.encode())
    return path


def dense_config(units_entry):
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 6], "name": "input"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 8, "kernel_initializer": units_entry}}]}}


def test_config_nested_past_the_json_parser_gives_load_error(tmp_path):
    path = keras_file_with_config(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(LoadError, match=r"c\.keras.*config\.json.*nests lists and dicts more than Python's "
                                        r"parser can follow.*MAX_CONFIG_DEPTH"):
        saving.load_model(path)


def test_config_nested_past_the_limit_gives_load_error_before_resolution(tmp_path):
    # 700 levels: json reads it, but resolving it recursively would overflow Python's stack
    deep = '{"class_name": "GlorotUniform", "config": {"seed": ' * 350 + "{}" + "}}" * 350
    text = json.dumps(dense_config("DEEP")).replace('"DEEP"', deep)
    path = keras_file_with_config(tmp_path, text)
    with pytest.raises(LoadError, match=rf"nests lists and dicts more than {limits.MAX_CONFIG_DEPTH} levels"):
        saving.load_model(path)


def test_config_within_the_limits_still_loads(tmp_path):
    path = keras_file_with_config(tmp_path, json.dumps(dense_config("glorot_uniform")))
    assert saving.load_model(path).layers[0].units == 8


def test_too_many_layers_gives_load_error(tmp_path, monkeypatch):
    path = keras_file_with_config(tmp_path, json.dumps(dense_config("glorot_uniform")))
    monkeypatch.setattr(limits, "MAX_LAYERS", 1)
    with pytest.raises(LoadError, match=r"lists more than 1 layers \(shendu\.saving\.limits\.MAX_LAYERS\)"):
        saving.load_model(path)


def test_config_too_large_gives_load_error_before_it_is_read(tmp_path, monkeypatch):
    path = keras_file_with_config(tmp_path, json.dumps(dense_config("glorot_uniform")) + " " * 5000)
    monkeypatch.setattr(limits, "MAX_CONFIG_BYTES", 4096)
    with pytest.raises(LoadError, match=r"config\.json\): the model config is 5,\d\d\d bytes, more than the 4,096"):
        saving.load_model(path)


def test_legacy_model_config_is_bounded_too(tmp_path):
    path = tmp_path / "m.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp().save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = "[" * 5000 + "]" * 5000
    with pytest.raises(LoadError, match=r"m\.h5.*'model_config' attribute: the config nests lists and dicts"):
        saving.load_model(path)


def test_limits_walk_without_recursion():
    deep = []
    for _ in range(100_000):             # far past Python's recursion limit: the check itself must not recurse
        deep = [deep]
    with pytest.raises(LoadError, match="MAX_CONFIG_DEPTH"):
        limits.check_config(deep, "the test")
    limits.check_config({"layers": [{"layers": []}, {}]}, "the test")


def test_a_layers_own_loader_gets_no_dataset_that_declares_more_than_it_stores(tmp_path):
    vectorize = layers.TextVectorization(output_mode="tf_idf")
    vectorize.adapt(["the cat sat", "the dog ran far", "a cat and a dog"])
    model = Sequential([layers.Input((1,), dtype="string"), vectorize])
    path = tmp_path / "t.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r+") as f:
        found = []
        f.visititems(lambda name, obj: found.append(name) if name.endswith("idf_weights") else None)
        declare_huge(f, found[0])
    with pytest.raises(LoadError, match=r"declares a dataset '.*idf_weights' of shape \(1000000, 1000000\) "
                                        r"\(4,000,000,000,000 bytes\) but stores only 0 bytes"):
        model.load_weights(path)


def test_a_zip_bomb_in_place_of_the_weights_is_refused_before_inflating(tmp_path):
    model = Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    good = tmp_path / "good.keras"
    model.save(str(good))
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.namelist():
            if item != "model.weights.h5":
                dst.writestr(item, src.read(item))
        with dst.open("model.weights.h5", "w", force_zip64=True) as out:      # 200 MiB of zeros, ~200 kB stored
            block = bytes(2 ** 20)
            for _ in range(200):
                out.write(block)
    with pytest.raises(LoadError, match=r"would inflate to 209,715,200.*MAX_EXPANSION"):
        saving.load_model(str(bomb))
    assert limits.MAX_EXPANSION == 1000
