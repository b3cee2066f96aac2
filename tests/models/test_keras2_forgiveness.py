"""tf.keras 2's forgiving behaviours: from_logits=True on a sigmoid/softmax output, one trailing
size-1 axis more or fewer than the Input, input_shape on a layer given a larger-rank input.

Keras 3 (torch) is the oracle where it behaves the same (the trailing axis, input_shape in the
functional API); for from_logits, tf.keras 2 computes the loss from the activation's input, which
is Keras 3's loss on the same model without the activation."""
import warnings

import numpy as np
import pytest

import shendu as sd
from shendu.keras import Input, Model, Sequential, layers, losses


def _xy(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x[:, 0] - x[:, 3] > 0).astype("float32")[:, None]


@pytest.mark.filterwarnings("ignore:binary_crossentropy received from_logits")   # seen once, under pytest.warns
@pytest.mark.parametrize("head", ["dense_activation", "activation_layer"])
def test_from_logits_on_a_sigmoid_output_uses_the_logits_like_tf_keras_2(keras, head):
    x, y = _xy()
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])        # the logits model
    if head == "dense_activation":
        ours = Sequential([Input((5,)), layers.Dense(1, activation="sigmoid")])
    else:
        ours = Sequential([Input((5,)), layers.Dense(1), layers.Activation("sigmoid")])
    ours.set_weights(theirs.get_weights())
    theirs.compile(keras.optimizers.SGD(0.5), keras.losses.BinaryCrossentropy(from_logits=True))
    ours.compile(sd.keras.optimizers.SGD(0.5), losses.BinaryCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match=r"from_logits=True.*sigmoid"):
        h_ours = ours.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    h_theirs = theirs.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5)
    assert h_ours.history["loss"][-1] < np.log(2) - 0.05            # it learns; applied twice it would stall
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)
    # predictions are still probabilities: the activation is kept, only the loss reads its input
    np.testing.assert_allclose(ours.predict(x, verbose=0), 1 / (1 + np.exp(-theirs.predict(x, verbose=0))),
                               rtol=1e-5)


@pytest.mark.parametrize("loss", ["sparse", "categorical"])
def test_from_logits_on_a_softmax_output(keras, loss):
    x, y = _xy()
    labels = (y[:, 0] + (x[:, 1] > 1)).astype("int64")
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    ours = Sequential([Input((5,)), layers.Dense(3), layers.Softmax()])
    ours.set_weights(theirs.get_weights())
    if loss == "sparse":
        target, k_loss, s_loss = labels, keras.losses.SparseCategoricalCrossentropy, losses.SparseCategoricalCrossentropy
    else:
        target = np.eye(3, dtype="float32")[labels]
        k_loss, s_loss = keras.losses.CategoricalCrossentropy, losses.CategoricalCrossentropy
    theirs.compile("sgd", k_loss(from_logits=True))
    ours.compile("sgd", s_loss(from_logits=True))
    with pytest.warns(UserWarning, match="softmax"):
        ours_loss = ours.evaluate(x, target, verbose=0)
    np.testing.assert_allclose(ours_loss, theirs.evaluate(x, target, verbose=0), rtol=1e-5)


def test_from_logits_false_and_true_logits_do_not_warn():
    x, y = _xy()
    probabilities = Sequential([Input((5,)), layers.Dense(1, activation="sigmoid")])
    logits = Sequential([Input((5,)), layers.Dense(1)])
    probabilities.compile("sgd", "binary_crossentropy")
    logits.compile("sgd", losses.BinaryCrossentropy(from_logits=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probabilities.evaluate(x, y, verbose=0)
        logits.evaluate(x, y, verbose=0)
    z = sd.tensor(np.array([[2.0], [-1.0]], dtype="float32"))
    direct = losses.binary_crossentropy(np.array([[1.0], [0.0]]), sd.ops.sigmoid(z), from_logits=False)
    np.testing.assert_allclose(direct.numpy(), [np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))], rtol=1e-5)


def test_a_missing_trailing_channel_axis_is_added_like_keras(keras):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 7, 7)).astype("float32")               # MNIST as load_data() gives it
    y = np.arange(6) % 3
    theirs = keras.Sequential([keras.Input((7, 7, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                               keras.layers.Dense(3, activation="softmax")])
    ours = Sequential([Input((7, 7, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3, activation="softmax")])
    ours.set_weights(theirs.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("error")                              # tf.keras 2 conforms silently
        ours_pred = ours.predict(x, verbose=0)
    np.testing.assert_allclose(ours_pred, theirs.predict(x, verbose=0), atol=1e-5)
    theirs.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    ours.compile(sd.keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    np.testing.assert_allclose(ours.fit(x, y, batch_size=3, shuffle=False, verbose=0).history["loss"],
                               theirs.fit(x, y, batch_size=3, shuffle=False, verbose=0).history["loss"], rtol=1e-5)


def test_an_extra_trailing_size_one_axis_is_dropped_in_a_functional_model(keras):
    x = np.random.default_rng(2).normal(size=(4, 5, 1)).astype("float32")
    k_in = keras.Input((5,))
    theirs = keras.Model(k_in, keras.layers.Dense(2)(k_in))
    s_in = Input((5,))
    ours = Model(s_in, layers.Dense(2)(s_in))
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(ours(x).numpy(), ours.predict(x[..., 0], verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(None, 5\)"):
        ours.predict(np.zeros((4, 5, 2), "float32"), verbose=0)     # not size 1: still an error


def test_input_shape_on_a_layer_given_a_larger_rank_input(keras):
    k_in = keras.Input((10, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                             # Keras 3 discourages input_shape
        k_dense = keras.layers.Dense(4, input_shape=(8,))
    theirs = keras.Model(k_in, k_dense(k_in))
    s_in = Input((10, 8))
    out = layers.Dense(4, input_shape=(8,))(s_in)
    assert out.shape == (None, 10, 4)
    ours = Model(s_in, out)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(3).normal(size=(2, 10, 8)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="declared with input_shape"):
        layers.Dense(4, input_shape=(8,))(Input((10, 7)))          # incompatible: still an error


def test_sequential_built_for_a_smaller_rank_warns_and_runs_like_tf_keras_2():
    model = Sequential([layers.Dense(4, input_shape=(8,))])
    x = np.random.default_rng(4).normal(size=(2, 10, 8)).astype("float32")
    with pytest.warns(UserWarning, match=r"constructed with input shape \(None, 8\).*\(None, 10, 8\)"):
        out = model.predict(x, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(out, x @ kernel + bias, atol=1e-5)
