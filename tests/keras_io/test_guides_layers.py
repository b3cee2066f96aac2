"""keras-io guides on building models, run with only the imports changed; each is run on shendu and on
Keras 3 (torch) with the same weights copied, and the numbers compared:

- guides/making_new_layers_and_models_via_subclassing.py (Linear with add_weight, ComputeSum's
  non-trainable weight, lazy build, nested MLPBlock, add_loss in a layer, training= in call);
- guides/functional_api.py (the multi-input, multi-output issue-ticket model with dict losses and
  loss_weights; the toy ResNet's shared-layer graph);
- guides/understanding_masking_and_padding.py (pad_sequences, Embedding(mask_zero), Masking, a custom
  mask-consuming TemporalSoftmax, compute_mask);
- examples/keras_recipes/antirectifier.py (a custom layer written with keras.ops, trained with fit).
"""
import numpy as np
import pytest

from shendu import keras as shendu_keras


def _copy(model, reference):
    model.set_weights(reference.get_weights())


# ------------------------------------------------ guides/making_new_layers_and_models_via_subclassing.py
def subclassing_guide(keras):
    ops = keras.ops

    class Linear(keras.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class ComputeSum(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    class LazyLinear(keras.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class MLPBlock(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = LazyLinear(32)
            self.linear_2 = LazyLinear(32)
            self.linear_3 = LazyLinear(1)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = keras.activations.relu(x)
            x = self.linear_2(x)
            x = keras.activations.relu(x)
            return self.linear_3(x)

    class ActivityRegularizationLayer(keras.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs

    class CustomDropout(keras.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs, training=None):
            if training:
                return keras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
            return inputs

    x = np.ones((2, 2), "float32")
    linear_layer = Linear(4, 2)
    out = {"linear_shape": tuple(linear_layer(x).shape), "linear_weights": len(linear_layer.weights)}
    my_sum = ComputeSum(2)
    my_sum(x)
    out["sum"] = keras.ops.convert_to_numpy(my_sum(x))
    out["sum_weights"] = (len(my_sum.weights), len(my_sum.non_trainable_weights), len(my_sum.trainable_weights))
    mlp = MLPBlock()
    y = mlp(np.ones(shape=(3, 64), dtype="float32"))
    out["mlp_weights"] = (len(mlp.weights), len(mlp.trainable_weights), tuple(y.shape))

    class OuterLayer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    layer = OuterLayer()
    out["losses_before"] = len(layer.losses)
    _ = layer(np.ones((1, 1), "float32"))
    out["losses_after_one_call"] = len(layer.losses)
    _ = layer(np.ones((1, 1), "float32"))
    out["losses_after_two_calls"] = len(layer.losses)
    drop = CustomDropout(0.5)
    out["dropout_inference"] = keras.ops.convert_to_numpy(drop(np.ones((4, 8), "float32"), training=False))
    dropped = keras.ops.convert_to_numpy(drop(np.ones((200, 50), "float32"), training=True))
    out["dropout_values"] = tuple(np.unique(dropped))

    # the guide's end-to-end fit: a functional model over the custom layers, with the add_loss term
    inputs = keras.Input(shape=(3,))
    hidden = LazyLinear(8)(inputs)
    hidden = ActivityRegularizationLayer(1e-2)(hidden)
    outputs = LazyLinear(1)(hidden)
    model = keras.Model(inputs, outputs)
    return out, model


def test_making_new_layers_guide_matches_keras(keras3):
    out, model = subclassing_guide(shendu_keras)
    ref, reference = subclassing_guide(keras3)
    for key in ref:
        if isinstance(ref[key], tuple):
            assert out[key] == ref[key], key
        else:
            np.testing.assert_allclose(out[key], ref[key], err_msg=key)
    assert ref["dropout_values"] == (0.0, 2.0)
    _copy(model, reference)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    for m in (model, reference):
        m.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    ref_history = reference.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=1e-4)


# ------------------------------------------------------------------------------- guides/functional_api.py
def ticket_model(keras):
    layers = keras.layers
    num_tags = 12
    num_words = 100
    num_departments = 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(inputs=[title_input, body_input, tags_input], outputs={"priority": priority_pred,
                                                                              "department": department_pred})
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
              "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights={"priority": 1.0, "department": 0.2},
    )
    return model


def test_functional_api_multi_input_multi_output_matches_keras(keras3):
    model, reference = ticket_model(shendu_keras), ticket_model(keras3)
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in reference.get_weights()]
    _copy(model, reference)
    rng = np.random.default_rng(0)
    title_data = rng.integers(0, 100, size=(64, 10))
    body_data = rng.integers(0, 100, size=(64, 20))
    tags_data = rng.integers(0, 2, size=(64, 12)).astype("float32")
    priority_targets = rng.random(size=(64, 1)).astype("float32")
    dept_targets = rng.integers(0, 2, size=(64, 4)).astype("float32")
    data = ({"title": title_data, "body": body_data, "tags": tags_data},
            {"priority": priority_targets, "department": dept_targets})
    history = model.fit(*data, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    ref_history = reference.fit(*data, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    assert set(history) == set(ref_history)
    # equal before training; RMSprop's first steps are ~ lr * sign(g), which turns the float rounding of
    # near-zero gradients (unused embedding rows, LSTM gates) into whole steps, so the runs drift apart slowly
    np.testing.assert_allclose(history["loss"][0], ref_history["loss"][0], rtol=2e-3)
    for key in ref_history:
        np.testing.assert_allclose(history[key], ref_history[key], rtol=1.5e-2, err_msg=key)
    predictions = model.predict(data[0], verbose=0)
    assert set(predictions) == {"priority", "department"} and predictions["department"].shape == (64, 4)


def toy_resnet(keras):
    layers = keras.layers
    inputs = keras.Input(shape=(16, 16, 3), name="img")
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(16, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(32, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs, outputs, name="toy_resnet")
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["acc"])
    return model


def test_functional_api_toy_resnet_matches_keras(keras3):
    model, reference = toy_resnet(shendu_keras), toy_resnet(keras3)
    assert len(model.layers) == len(reference.layers) == 14
    _copy(model, reference)
    rng = np.random.default_rng(1)
    x = rng.random((48, 16, 16, 3)).astype("float32")
    y = shendu_keras.utils.to_categorical(rng.integers(0, 10, 48), 10)
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, shuffle=False, verbose=0).history
    ref_history = reference.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, shuffle=False,
                                verbose=0).history
    for key in ("loss", "val_loss", "acc", "val_acc"):
        np.testing.assert_allclose(history[key], ref_history[key], rtol=2e-3, atol=1e-5, err_msg=key)


# ------------------------------------------------------------ guides/understanding_masking_and_padding.py
def masking_guide(keras):
    layers, ops = keras.layers, keras.ops
    raw_inputs = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]
    padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
    out = {"padded": padded_inputs}
    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)
    out["embedding_mask"] = keras.ops.convert_to_numpy(masked_output._keras_mask)
    masking_layer = layers.Masking()
    unmasked_embedding = ops.cast(ops.tile(ops.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), "float32")
    out["masking_mask"] = keras.ops.convert_to_numpy(masking_layer(unmasked_embedding)._keras_mask)

    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            mask = self.embedding.compute_mask(inputs)
            return self.lstm(x, mask=mask)

    out["my_layer"] = tuple(MyLayer()(padded_inputs).shape)

    class TemporalSoftmax(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
            inputs_exp = ops.exp(inputs) * broadcast_float_mask
            inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=-1, keepdims=True)
            return inputs_exp / inputs_sum

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    model = keras.Model(inputs, outputs)
    return out, model


# the guide's TemporalSoftmax divides 0 by 0 at the masked steps; Keras gives the same NaNs there
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_masking_and_padding_guide_matches_keras(keras3):
    out, model = masking_guide(shendu_keras)
    ref, reference = masking_guide(keras3)
    for key in ref:
        np.testing.assert_array_equal(out[key], ref[key], err_msg=key)
    _copy(model, reference)
    y = np.random.default_rng(0).integers(0, 10, size=(32, 100))
    y[:, 60:] = 0
    np.testing.assert_allclose(model.predict(y, verbose=0), reference.predict(y, verbose=0), rtol=1e-5, atol=1e-7)


# -------------------------------------------------------------------- examples/keras_recipes/antirectifier.py
def antirectifier_model(keras):
    layers, ops = keras.layers, keras.ops

    class Antirectifier(layers.Layer):
        def __init__(self, initializer="he_normal", **kwargs):
            super().__init__(**kwargs)
            self.initializer = keras.initializers.get(initializer)

        def build(self, input_shape):
            output_dim = input_shape[-1]
            self.kernel = self.add_weight(shape=(output_dim * 2, output_dim), initializer=self.initializer,
                                          name="kernel", trainable=True)

        def call(self, inputs):
            inputs -= ops.mean(inputs, axis=-1, keepdims=True)
            pos = ops.relu(inputs)
            neg = ops.relu(-inputs)
            concatenated = ops.concatenate([pos, neg], axis=-1)
            mixed = ops.matmul(concatenated, self.kernel)
            return mixed

        def get_config(self):
            base_config = super().get_config()
            config = {"initializer": keras.initializers.serialize(self.initializer)}
            return dict(list(base_config.items()) + list(config.items()))

    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(64),
        Antirectifier(),
        layers.Dense(64),
        Antirectifier(),
        layers.Dense(10),
    ])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model, Antirectifier


def test_antirectifier_matches_keras(mnist, keras3):
    model, Antirectifier = antirectifier_model(shendu_keras)
    reference, _ = antirectifier_model(keras3)
    _copy(model, reference)
    (x_train, y_train), (x_test, y_test) = mnist
    x_train = x_train[:512].reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    history = model.fit(x_train, y_train[:512], batch_size=128, epochs=2, validation_split=0.15, shuffle=False,
                        verbose=0).history
    ref_history = reference.fit(x_train, y_train[:512], batch_size=128, epochs=2, validation_split=0.15,
                                shuffle=False, verbose=0).history
    for key in ref_history:
        np.testing.assert_allclose(history[key], ref_history[key], rtol=5e-3, atol=1e-4, err_msg=key)
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.5        # chance is 0.1
    config = model.layers[1].get_config()
    assert config["initializer"]["class_name"] == "HeNormal"
    assert isinstance(Antirectifier.from_config(config), Antirectifier)
