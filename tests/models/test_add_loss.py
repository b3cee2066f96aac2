"""Losses and metrics from layers: add_loss (values and zero-argument functions), model.losses, regularizer
penalties, add_metric, and compile() without a loss. Keras 3 (torch backend) is the oracle where it has the
same feature; tf.keras 2's add_metric and callable losses are checked by hand."""
from __future__ import annotations

import types

import numpy as np
import pytest

import shendu
from shendu import keras


def math_of(lib):
    """mean/sum/exp/square/tensor for the library: keras.ops in Keras 3, shendu's ops in shendu."""
    if lib is shendu.keras:
        return types.SimpleNamespace(mean=shendu.mean, sum=shendu.sum, exp=shendu.exp, square=shendu.square,
                                     tensor=shendu.tensor)
    return types.SimpleNamespace(mean=lib.ops.mean, sum=lib.ops.sum, exp=lib.ops.exp, square=lib.ops.square,
                                 tensor=lib.ops.convert_to_tensor)


def activity_penalty_layer(lib, rate):
    F = math_of(lib)

    class ActivityPenalty(lib.layers.Layer):
        """Adds rate · mean(x²) to the loss and passes x through (the guide's ActivityRegularizationLayer)."""

        def call(self, inputs):
            self.add_loss(rate * F.mean(F.square(inputs)))
            return inputs

    return ActivityPenalty


def penalised_model(lib, weights=None):
    inp = lib.Input(shape=(3,))
    h = lib.layers.Dense(4, activation="tanh", kernel_regularizer=lib.regularizers.L2(0.01))(inp)
    h = activity_penalty_layer(lib, 0.1)()(h)
    out = lib.layers.Dense(2, activity_regularizer=lib.regularizers.L1(0.02))(h)
    model = lib.Model(inp, out)
    if weights is not None:
        model.set_weights(weights)
    return model


def data(n=20):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x[:, :2] * 0.5).astype("float32")


def test_model_losses_collect_every_source_like_keras(keras):
    x, _ = data(6)
    ours = penalised_model(shendu.keras)
    theirs = penalised_model(keras, ours.get_weights())
    assert ours.losses == [] or len(ours.losses) == 1      # before a call: the weight penalty only
    for model in (ours, theirs):
        model(x)
        model(x[:4])                  # a second call replaces the first call's losses
    ours_values = sorted(float(v.numpy()) for v in ours.losses)
    theirs_values = sorted(float(np.asarray(v.detach())) for v in theirs.losses)
    assert len(ours_values) == len(theirs_values) == 3
    np.testing.assert_allclose(ours_values, theirs_values, rtol=1e-5)


def test_losses_added_in_call_are_part_of_the_training_loss_like_keras(keras):
    x, y = data()
    ours = penalised_model(shendu.keras)
    theirs = penalised_model(keras, ours.get_weights())
    histories = []
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                                   validation_data=(x[:6], y[:6])).history)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-4)
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(theirs.evaluate(x, y, verbose=0), rel=1e-4)


def test_a_frozen_layers_weight_penalty_is_not_a_loss(keras):
    for lib in (shendu.keras, keras):
        layer = lib.layers.Dense(2, kernel_regularizer="l2")
        layer.build((None, 3))
        assert len(layer.losses) == 1
        layer.trainable = False
        assert layer.losses == []


def test_callable_losses_follow_the_current_weights():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    layer.add_loss(lambda: shendu.sum(shendu.square(layer.kernel)))
    layer(np.ones((1, 3), "float32"))                    # calls do not clear a callable loss
    first = float(layer.losses[0].numpy())
    assert first == pytest.approx(float((layer.get_weights()[0] ** 2).sum()), rel=1e-6)
    layer.set_weights([np.ones((3, 2)), np.zeros(2)])
    assert float(layer.losses[0].numpy()) == pytest.approx(6.0)


def test_add_loss_rejects_what_it_cannot_use():
    layer = keras.layers.Dense(2)
    with pytest.raises(ValueError, match="symbolic tensor"):
        layer.add_loss(keras.Input(shape=(2,)))
    with pytest.raises(TypeError, match="scalar Tensor or number"):
        layer.add_loss("big")


def test_symbolic_construction_leaves_no_losses_behind():
    model = penalised_model(shendu.keras)
    assert len(model.losses) == 1         # the kernel penalty; no value from the dry runs of the graph
    model(np.zeros((2, 3), "float32"))
    assert len(model.losses) == 3


# ----------------------------------------------------------------------------------- keras-io: VAE with add_loss
def vae_class(lib, noise):
    """keras-io guides/making_new_layers_and_models_via_subclassing.py's VariationalAutoEncoder (tf.keras 2):
    the KL term is added with add_loss in call(); compile() gets only the reconstruction loss. The sampling
    noise is one fixed draw, ``noise``, so both frameworks see the same values (Keras 3 calls the model an
    extra time in fit, so a draw per call would not line up)."""
    F = math_of(lib)

    class Sampling(lib.layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            epsilon = F.tensor(noise[:z_mean.shape[0]])
            return z_mean + F.exp(0.5 * z_log_var) * epsilon

    class VariationalAutoEncoder(lib.Model):
        def __init__(self, original_dim, latent_dim, **kwargs):
            super().__init__(**kwargs)
            self.dense_proj = lib.layers.Dense(8, activation="relu")
            self.dense_mean = lib.layers.Dense(latent_dim)
            self.dense_log_var = lib.layers.Dense(latent_dim)
            self.sampling = Sampling()
            self.dense_up = lib.layers.Dense(8, activation="relu")
            self.dense_output = lib.layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            h = self.dense_proj(inputs)
            z_mean, z_log_var = self.dense_mean(h), self.dense_log_var(h)
            z = self.sampling((z_mean, z_log_var))
            kl_loss = -0.5 * F.mean(z_log_var - F.square(z_mean) - F.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return self.dense_output(self.dense_up(z))

    return VariationalAutoEncoder


def test_vae_with_add_loss_matches_keras(keras):
    rng = np.random.default_rng(4)
    x = rng.random((24, 6)).astype("float32")
    noise = rng.normal(size=(8, 2)).astype("float32")
    results = {}
    for lib in (shendu.keras, keras):
        vae = vae_class(lib, noise)(6, 2)
        vae(x[:8])
        if lib is keras:
            vae.set_weights(results["weights"])
        results["weights"] = vae.get_weights()
        vae.compile(lib.optimizers.Adam(learning_rate=1e-2), loss=lib.losses.MeanSquaredError())
        results[lib.__name__] = vae.fit(x, x, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(results["shendu.keras"], results["keras"], rtol=1e-4)
    assert results["shendu.keras"][-1] < results["shendu.keras"][0]


def test_compile_without_a_loss_trains_on_the_added_losses(keras):
    """The endpoint pattern: the model adds its whole loss; compile(optimizer) and fit(x) with no y."""
    x, _ = data(16)
    histories, weights = {}, None
    for lib in (shendu.keras, keras):
        F = math_of(lib)

        class Reconstruction(lib.layers.Layer):
            def call(self, inputs):
                original, rebuilt = inputs
                self.add_loss(F.mean(F.square(original - rebuilt)))
                return rebuilt

        inp = lib.Input(shape=(3,))
        rebuilt = lib.layers.Dense(3)(lib.layers.Dense(2, activation="tanh")(inp))
        model = lib.Model(inp, Reconstruction()([inp, rebuilt]))
        if weights is not None:
            model.set_weights(weights)
        weights = model.get_weights()
        model.compile(optimizer=lib.optimizers.SGD(0.1))
        histories[lib.__name__] = model.fit(x, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(histories["shendu.keras"], histories["keras"], rtol=1e-4)


# ----------------------------------------------------------------------------------- tf.keras 2's add_metric
def test_add_metric_reports_its_running_mean_per_epoch():
    class MeanActivation(keras.layers.Layer):
        def call(self, inputs):
            self.add_metric(shendu.mean(inputs), name="activation_mean")
            return inputs

    x, y = data(16)
    inp = keras.Input(shape=(3,))
    model = keras.Model(inp, keras.layers.Dense(2)(MeanActivation()(inp)))
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    expected = np.mean([x[:8].mean(), x[8:].mean()])
    np.testing.assert_allclose(history["activation_mean"], [expected, expected], rtol=1e-5)
    assert "activation_mean" in model.metrics_names
    with pytest.raises(ValueError, match="aggregation"):
        MeanActivation().add_metric(1.0, name="m", aggregation="sum")


# ----------------------------------------------------------------------------------- keras-io: endpoint layer
def endpoint_layer(lib, tf_keras2_add_metric):
    """keras-io examples/keras_recipes/endpoint_layer_pattern.py: the layer computes the loss with add_loss
    and tracks accuracy."""
    softmax = shendu.softmax if lib is shendu.keras else lib.ops.softmax

    class LogisticEndpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = lib.losses.BinaryCrossentropy(from_logits=True)
            self.accuracy_metric = lib.metrics.BinaryAccuracy()

        def call(self, logits, targets=None, sample_weight=None):
            if targets is not None:
                self.add_loss(self.loss_fn(targets, logits, sample_weight))
                if tf_keras2_add_metric:        # tf.keras 2's spelling of the same
                    self.add_metric(self.accuracy_metric(targets, logits, sample_weight))
                else:
                    self.accuracy_metric.update_state(targets, logits, sample_weight)
            return softmax(logits)

    return LogisticEndpoint


@pytest.mark.filterwarnings("ignore:You are using a softmax")     # the example's softmax over one unit
@pytest.mark.parametrize("tf_keras2_add_metric", [False, True])
def test_endpoint_layer_pattern_matches_keras(keras, tf_keras2_add_metric):
    rng = np.random.default_rng(6)
    data = {"inputs": rng.random((40, 5)).astype("float32"),
            "targets": rng.integers(0, 2, (40, 1)).astype("float32"),
            "sample_weight": rng.random((40, 1)).astype("float32")}
    histories, weights = {}, None
    for lib in (shendu.keras, keras):
        inputs = lib.Input((5,), name="inputs")
        logits = lib.layers.Dense(1)(inputs)
        targets = lib.Input((1,), name="targets")
        sample_weight = lib.Input((1,), name="sample_weight")
        endpoint = endpoint_layer(lib, tf_keras2_add_metric and lib is shendu.keras)
        preds = endpoint()(logits, targets, sample_weight)
        model = lib.Model([inputs, targets, sample_weight], preds)
        if weights is not None:
            model.set_weights(weights)
        weights = model.get_weights()
        model.compile(lib.optimizers.Adam(1e-2))
        histories[lib.__name__] = model.fit(data, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    ours, theirs = histories["shendu.keras"], histories["keras"]
    assert sorted(ours) == sorted(theirs) == ["binary_accuracy", "loss"]
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, err_msg=key)


def test_add_metric_without_a_name_needs_one_metric_to_name_it_after():
    class TwoMetrics(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.first, self.second = keras.metrics.Mean(), keras.metrics.Sum()

    with pytest.raises(ValueError, match="owns several metrics"):
        TwoMetrics().add_metric(1.0)


def test_activity_regularization_layer_matches_keras(keras):
    x = np.random.default_rng(11).normal(size=(5, 3)).astype("float32")
    values = []
    for lib in (shendu.keras, keras):
        layer = lib.layers.ActivityRegularization(l1=0.01, l2=0.1)
        np.testing.assert_allclose(np.asarray(layer(x)), x)
        values.append(float(np.asarray(layer.losses[0])))
        config = layer.get_config()
        assert "activity_regularizer" not in config and (config["l1"], config["l2"]) == (0.01, 0.1)
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    clone = keras.layers.ActivityRegularization.from_config(      # shendu's config loads in Keras 3
        shendu.keras.layers.ActivityRegularization(l1=0.5).get_config())
    assert clone.l1 == 0.5


def test_add_loss_takes_a_list_and_sums_a_non_scalar_value():
    class Several(keras.layers.Layer):
        def call(self, x):
            self.add_loss([shendu.sum(x), x * 0.5])
            return x

    layer = Several()
    layer(np.ones((2, 3), "float32"))
    assert [float(v.numpy()) for v in layer.losses] == [6.0, 3.0]
