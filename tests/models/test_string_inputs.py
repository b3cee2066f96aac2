"""Models that take strings: ``Input(dtype="string")`` and TextVectorization as the first layer, end
to end (fit, evaluate, predict, save and load). Keras 3's torch backend has no string tensors, so
the reference is tf.keras 2's documented behaviour: the model on raw strings gives what the same
layers give on the vectorized ids."""
import json
import os
import zipfile

import numpy as np
import pytest

import shendu as sd
from shendu.keras import Input, Model, Sequential, layers, models

TEXTS = np.array(["a fine film", "dull and slow", "fine fine acting", "slow boring plot", "great", "boring"] * 4)
LABELS = np.array([1, 0, 1, 0, 1, 0] * 4, dtype="float32")


def _vectorizer(**kwargs):
    vec = layers.TextVectorization(max_tokens=30, **kwargs)
    vec.adapt(TEXTS)
    return vec


def _text_model(vec):
    inputs = Input(shape=(1,), dtype="string")
    h = layers.Embedding(30, 4)(vec(inputs))
    outputs = layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling1D()(h))
    return Model(inputs, outputs)


def test_string_input_is_a_string_keras_tensor():
    inputs = Input(shape=(1,), dtype="string")
    assert inputs.dtype == "string"
    ids = _vectorizer(output_sequence_length=5)(inputs)
    assert (ids.shape, ids.dtype) == ((None, 5), "int64")
    counts = _vectorizer(output_mode="count")(inputs)
    assert counts.shape == (None, 11) and counts.dtype == "float32"       # [UNK] + 10 distinct words
    with pytest.raises(TypeError, match="string input"):
        _vectorizer()(Input(shape=(1,)))


def test_fit_evaluate_predict_on_raw_strings_match_the_vectorized_model(tmp_path):
    vec = _vectorizer(output_sequence_length=4)
    model = _text_model(vec)
    model.compile(sd.keras.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(TEXTS, LABELS, batch_size=6, epochs=3, shuffle=False, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the same layers after the vectorizer, on the ids it gives
    ids_in = Input(shape=(4,), dtype="int64")
    h = ids_in
    for layer in model.layers[2:]:
        h = layer(h)
    on_ids = Model(ids_in, h)
    ids = vec(TEXTS).numpy()
    expected = on_ids.predict(ids, verbose=0)
    np.testing.assert_allclose(model.predict(TEXTS, verbose=0), expected, atol=1e-6)     # shape (N,) -> (N, 1)
    np.testing.assert_allclose(model.predict(TEXTS[:, None], verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(model.predict(list(TEXTS), verbose=0), expected, atol=1e-6)
    on_ids.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(model.evaluate(TEXTS, LABELS, verbose=0), on_ids.evaluate(ids, LABELS, verbose=0),
                               rtol=1e-6)

    path = os.path.join(tmp_path, "text.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert config["config"]["layers"][0]["config"]["dtype"] == "string"
    loaded = models.load_model(path)
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0), expected, atol=1e-6)
    loaded.fit(TEXTS, LABELS, epochs=1, verbose=0)


def test_a_dataset_of_strings_trains_the_model():
    model = _text_model(_vectorizer(output_sequence_length=4))
    model.compile("adam", "binary_crossentropy")
    ds = sd.data.Dataset.from_tensor_slices((TEXTS, LABELS)).shuffle(24, seed=0).batch(8)
    assert len(model.fit(ds, epochs=2, verbose=0).history["loss"]) == 2
    assert model.predict(sd.data.Dataset.from_tensor_slices(TEXTS).batch(5), verbose=0).shape == (24, 1)


@pytest.mark.parametrize("mode", ["int", "multi_hot", "tf_idf"])
def test_sequential_starting_with_text_vectorization_saves_and_loads(tmp_path, mode):
    vec = _vectorizer(output_mode=mode, **({"output_sequence_length": 4} if mode == "int" else {}))
    body = [layers.Embedding(30, 4), layers.GlobalAveragePooling1D()] if mode == "int" else []
    model = Sequential([Input(shape=(1,), dtype="string"), vec, *body, layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(TEXTS, LABELS, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "seq.keras")
    model.save(path)
    loaded = models.load_model(path)
    np.testing.assert_allclose(loaded.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0), atol=1e-6)


def test_the_export_pattern_wraps_a_trained_model_with_its_vectorizer():
    """keras.io's text classification tutorial: train on ids, then Sequential([vectorizer, model])."""
    vec = _vectorizer(output_sequence_length=4)
    core = Sequential([Input((4,), dtype="int64"), layers.Embedding(30, 4), layers.GlobalAveragePooling1D(),
                       layers.Dense(1)])
    core.compile("adam", sd.keras.losses.BinaryCrossentropy(from_logits=True))
    core.fit(vec(TEXTS).numpy(), LABELS, epochs=2, verbose=0)
    export = Sequential([vec, core, layers.Activation("sigmoid")])
    export.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    probabilities = export.predict(["a fine film", "boring"], verbose=0)
    expected = 1 / (1 + np.exp(-core.predict(vec(np.array(["a fine film", "boring"])).numpy(), verbose=0)))
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert len(export.evaluate(TEXTS, LABELS, verbose=0)) == 2
