"""compile / fit / evaluate / predict: results, history keys, errors that teach, and the GAN freezing rule."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import shendu as sd
from shendu.keras import Input, Model, Sequential, layers


def _mlp(out=3, activation="softmax"):
    return Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(out, activation=activation)])


def _data(n=40, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5)
    return x, np.minimum(y, classes - 1)


def test_iris_reaches_93_percent():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    sd.keras.utils.set_random_seed(0)
    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    model = Sequential([layers.Dense(64, activation="relu", input_shape=(4,)), layers.Dense(32, activation="relu"),
                        layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=100, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.93
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_history_keys_and_validation_split():
    x, y = _data()
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]


def test_evaluate_forms_and_predict_shapes():
    x, y = _data()
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(as_dict) == {"loss", "accuracy"} and as_dict["loss"] == pytest.approx(result[0])
    assert model.predict(x, verbose=0).shape == (40, 3)
    assert model.predict_on_batch(x[:5]).shape == (5, 3)
    plain = _mlp()
    plain.compile("sgd", "sparse_categorical_crossentropy")
    assert isinstance(plain.evaluate(x, y, verbose=0), float)


def test_evaluate_averages_uneven_last_batch_by_samples():
    x, y = _data(n=10)
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    whole = model.evaluate(x, y, batch_size=10, verbose=0)
    batched = model.evaluate(x, y, batch_size=4, verbose=0)      # batches of 4, 4, 2
    assert batched == pytest.approx(whole, rel=1e-5)


def test_train_on_batch_moves_the_loss_down():
    x, y = _data()
    model = _mlp()
    model.compile(sd.keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    first = model.train_on_batch(x, y)
    for _ in range(30):
        last = model.train_on_batch(x, y)
    assert last < first
    assert model.test_on_batch(x, y) == pytest.approx(model.evaluate(x, y, verbose=0, batch_size=40), rel=1e-5)


def test_fit_matches_keras_after_sgd_steps():
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x, y = _data(n=24)
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                               keras.layers.Dense(3, activation="softmax")])
    ours = _mlp()
    ours.set_weights(theirs.get_weights())
    theirs.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(sd.keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    h_theirs = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h_ours = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4)


def test_functional_two_inputs_two_outputs_and_shared_layer():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = layers.Dense(5, activation="tanh")
    merged = layers.Concatenate()([shared(a), shared(b)])
    out1 = layers.Dense(1, name="score")(merged)
    out2 = layers.Dense(3, activation="softmax", name="label")(merged)
    model = Model(inputs=[a, b], outputs=[out1, out2])
    assert len(model.trainable_weights) == 6          # the shared Dense counts once
    x1, y = _data()
    x2 = x1[::-1].copy()
    model.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 1.0],
                  metrics={"label": ["accuracy"]})
    history = model.fit([x1, x2], [x1[:, :1], y], epochs=2, batch_size=8, verbose=0)
    assert {"loss", "score_loss", "label_loss", "label_accuracy"} <= set(history.history)
    p1, p2 = model.predict([x1, x2], verbose=0)
    assert p1.shape == (40, 1) and p2.shape == (40, 3)


def test_subclassed_model_trains():
    class TwoLayer(Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, x, training=None):
            return self.out(self.hidden(x))

    x, y = _data()
    model = TwoLayer()
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=5, verbose=0)
    assert len(model.trainable_weights) == 4
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_gan_recipe_freezes_discriminator_only_inside_combined_model():
    generator = Sequential([layers.Dense(4, input_shape=(2,))])
    discriminator = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(4,))])
    discriminator.compile("sgd", "binary_crossentropy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        discriminator.trainable = False
    assert any("compile" in str(w.message) for w in caught)
    combined = Sequential([generator, discriminator])
    combined.compile("sgd", "binary_crossentropy")
    noise = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    d_before = discriminator.get_weights()
    g_before = generator.get_weights()
    combined.train_on_batch(noise, np.ones((8, 1)))
    for a, b in zip(discriminator.get_weights(), d_before):
        np.testing.assert_array_equal(a, b)                      # frozen inside the combined model
    assert any(not np.array_equal(a, b) for a, b in zip(generator.get_weights(), g_before))
    discriminator.train_on_batch(np.ones((8, 4), "float32"), np.zeros((8, 1)))
    assert any(not np.array_equal(a, b) for a, b in zip(discriminator.get_weights(), d_before))


def test_regularization_penalty_is_added_to_the_reported_loss():
    x, y = _data()
    plain = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    reg = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,), kernel_regularizer="l2")])
    reg.set_weights(plain.get_weights())
    for m in (plain, reg):
        m.compile("sgd", "sparse_categorical_crossentropy")
    penalty = 0.01 * float((plain.get_weights()[0] ** 2).sum())
    assert reg.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0) + penalty, rel=1e-5)


def test_generator_input():
    x, y = _data()

    def batches():
        while True:
            for i in range(0, 40, 10):
                yield x[i:i + 10], y[i:i + 10]

    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(batches(), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


# ------------------------------------------------------------------ errors that teach
def test_fit_before_compile():
    with pytest.raises(RuntimeError, match="compile"):
        _mlp().fit(*_data(), verbose=0)


def test_x_and_y_of_different_lengths():
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _data()
    with pytest.raises(ValueError, match="x has 40, y has 39"):
        model.fit(x, y[:-1], verbose=0)


def test_empty_dataset():
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 4)), np.zeros((0,)), verbose=0)


def test_integer_labels_with_categorical_crossentropy():
    model = _mlp()
    model.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy|to_categorical"):
        model.fit(*_data(), verbose=0)


def test_unknown_identifiers_list_valid_ones():
    model = _mlp()
    with pytest.raises(ValueError, match="adam"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="relu"):
        layers.Dense(3, activation="rellu")


def test_input_shape_of_wrong_rank_for_conv2d():
    with pytest.raises(ValueError, match=r"rank 4.*input_shape=\(28, 28, 1\)"):
        Sequential([layers.Conv2D(8, 3, input_shape=(28, 28))])


def test_wrong_input_shape_names_the_model_and_shapes():
    model = _mlp()
    with pytest.raises(ValueError, match=r"\(None, 4\).*\(2, 5\)"):
        model.predict(np.zeros((2, 5)), verbose=0)


def test_dense_after_image_suggests_flatten():
    model = Sequential([layers.Dense(3)])
    model(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Flatten"):
        model.layers[0](np.zeros((2, 5, 5)))
