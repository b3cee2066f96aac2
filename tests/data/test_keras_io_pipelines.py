"""keras-io examples built on input pipelines, run with only the imports changed, on synthetic data
and fewer epochs:

- examples/nlp/text_classification_from_scratch.py (text_dataset_from_directory, TextVectorization
  adapted on a mapped dataset, cache/prefetch, an end-to-end model on raw strings);
- examples/timeseries/timeseries_weather_forecasting.py (timeseries_dataset_from_array, LSTM,
  EarlyStopping and ModelCheckpoint on validation data).

Keras 3 (torch) cannot run tf.data, so it is given the same batches as arrays and the same start
weights: its losses are the reference.
"""
import os
import re
import string

import numpy as np
import pytest

import shendu as tf
from shendu import keras
from shendu.keras import layers


@pytest.fixture
def review_folders(tmp_path):
    rng = np.random.default_rng(0)
    filler = ["the", "movie", "plot", "actor", "was", "a", "film", "this"]
    words = {"pos": ["great", "superb", "loved", "fine"], "neg": ["awful", "dull", "boring", "bad"]}
    for split, count in (("train", 80), ("test", 30)):
        for label in ("pos", "neg"):
            os.makedirs(tmp_path / split / label)
            for i in range(count):
                tokens = list(rng.choice(filler, 8)) + list(rng.choice(words[label], 2))
                rng.shuffle(tokens)
                (tmp_path / split / label / f"{i}.txt").write_text(" ".join(tokens) + "<br />Fin.")
    return tmp_path


def test_text_classification_from_scratch(review_folders, keras_oracle):
    batch_size = 32
    train_dir, test_dir = str(review_folders / "train"), str(review_folders / "test")
    raw_train_ds = keras.utils.text_dataset_from_directory(train_dir, batch_size=batch_size, validation_split=0.2,
                                                           subset="training", seed=1337, class_names=["pos", "neg"])
    raw_val_ds = keras.utils.text_dataset_from_directory(train_dir, batch_size=batch_size, validation_split=0.2,
                                                         subset="validation", seed=1337, class_names=["pos", "neg"])
    # the example infers the test set's classes (neg, pos: the reverse of its training order); the same
    # order is given here so that accuracy means accuracy
    raw_test_ds = keras.utils.text_dataset_from_directory(test_dir, batch_size=batch_size, class_names=["pos", "neg"])
    assert int(raw_train_ds.cardinality()) == 4 and int(raw_val_ds.cardinality()) == 1
    for text_batch, label_batch in raw_train_ds.take(1):
        assert text_batch[0].endswith("<br />Fin.") and label_batch.numpy()[0] in (0, 1)

    # the example uses tf.strings.lower/regex_replace; a standardize callable gets NumPy strings here
    def custom_standardization(input_data):
        clean = lambda s: re.sub(f"[{re.escape(string.punctuation)}]", "", s.lower().replace("<br />", " "))  # noqa
        return np.vectorize(clean)(input_data)

    max_features, embedding_dim, sequence_length = 100, 16, 16
    vectorize_layer = keras.layers.TextVectorization(standardize=custom_standardization, max_tokens=max_features,
                                                     output_mode="int", output_sequence_length=sequence_length)
    vectorize_layer.adapt(raw_train_ds.map(lambda x, y: x))
    assert "fin" in vectorize_layer.get_vocabulary() and "br" not in vectorize_layer.get_vocabulary()

    def vectorize_text(text, label):
        text = tf.expand_dims(text, -1)
        return vectorize_layer(text), label

    train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=10)
    val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=10)
    test_ds = raw_test_ds.map(vectorize_text).cache().prefetch(buffer_size=10)

    def build(k):
        inputs = k.Input(shape=(None,), dtype="int64")
        x = k.layers.Embedding(max_features, embedding_dim)(inputs)
        x = k.layers.Conv1D(16, 3, padding="valid", activation="relu", strides=1)(x)
        x = k.layers.GlobalMaxPooling1D()(x)
        x = k.layers.Dense(16, activation="relu")(x)
        predictions = k.layers.Dense(1, activation="sigmoid", name="predictions")(x)
        model = k.Model(inputs, predictions)
        model.compile(loss="binary_crossentropy", optimizer=k.optimizers.Adam(0.01), metrics=["accuracy"])
        return model

    model, reference = build(keras), build(keras_oracle)
    model.set_weights(reference.get_weights())
    history = model.fit(train_ds, validation_data=val_ds, epochs=6, verbose=0)
    batches = list(train_ds.as_numpy_iterator())          # the cache: the same batches every epoch
    val_x, val_y = next(val_ds.as_numpy_iterator())
    ref_history = reference.fit(_replay(batches, 6), steps_per_epoch=len(batches), epochs=6, shuffle=False,
                                validation_data=(val_x, val_y), verbose=0)
    np.testing.assert_allclose(history.history["loss"], ref_history.history["loss"], rtol=2e-3, atol=1e-4)
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert accuracy > 0.9

    inputs = keras.Input(shape=(1,), dtype="string")
    indices = vectorize_layer(inputs)
    outputs = model(indices)
    end_to_end_model = keras.Model(inputs, outputs)
    end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    np.testing.assert_allclose(end_to_end_model.evaluate(raw_test_ds, verbose=0), [loss, accuracy], rtol=1e-5)


def _replay(batches, epochs):
    for _ in range(epochs):
        yield from batches


def test_timeseries_weather_forecasting(keras_oracle):
    rng = np.random.default_rng(0)
    t = np.arange(800)
    features = np.stack([np.sin(t / (20 + 7 * k) + k) + 0.1 * rng.normal(size=t.size) for k in range(7)], axis=1)
    split_fraction, step, past, future = 0.715, 3, 60, 6
    learning_rate, batch_size, epochs = 0.01, 64, 3
    train_split = int(split_fraction * len(features))

    def normalize(data, train_split):
        return (data - data[:train_split].mean(axis=0)) / data[:train_split].std(axis=0)

    features = normalize(features, train_split)
    train_data, val_data = features[:train_split], features[train_split:]
    start = past + future
    end = start + train_split
    x_train, y_train = train_data[:, :7], features[start:end][:, [1]]
    sequence_length = int(past / step)
    dataset_train = keras.preprocessing.timeseries_dataset_from_array(
        x_train, y_train, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)
    x_end = len(val_data) - past - future
    label_start = train_split + past + future
    x_val, y_val = val_data[:x_end][:, :7], features[label_start:][:, [1]]
    dataset_val = keras.preprocessing.timeseries_dataset_from_array(
        x_val, y_val, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)
    for batch in dataset_train.take(1):
        inputs, targets = batch
    assert inputs.numpy().shape == (batch_size, sequence_length, 7) and targets.numpy().shape == (batch_size, 1)

    def build(k, shape):
        inputs = k.layers.Input(shape=shape)
        outputs = k.layers.Dense(1)(k.layers.LSTM(8)(inputs))
        model = k.Model(inputs=inputs, outputs=outputs)
        model.compile(optimizer=k.optimizers.Adam(learning_rate=learning_rate), loss="mse")
        return model

    model = build(keras, (inputs.shape[1], inputs.shape[2]))
    reference = build(keras_oracle, (sequence_length, 7))
    model.set_weights(reference.get_weights())
    es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
    history = model.fit(dataset_train, epochs=epochs, validation_data=dataset_val, callbacks=[es_callback], verbose=0)
    train_batches = list(dataset_train.as_numpy_iterator())
    val_xy = [np.concatenate(parts) for parts in zip(*dataset_val.as_numpy_iterator())]
    ref = reference.fit(_replay(train_batches, epochs), steps_per_epoch=len(train_batches), epochs=epochs,
                        shuffle=False, validation_data=tuple(val_xy), validation_batch_size=batch_size, verbose=0)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(history.history[key], ref.history[key], rtol=5e-3)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    for x, y in dataset_val.take(2):
        assert model.predict(x, verbose=0)[0].shape == (1,) and x[0][:, 1].numpy().shape == (sequence_length,)


@pytest.fixture
def keras_oracle(keras):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # the LSTM's many small backward steps run far faster on one thread
    keras.utils.set_random_seed(0)
    yield keras
    torch.set_num_threads(threads)
