"""keras-io guides on callbacks and saving, run with only the imports changed:

- guides/writing_your_own_callbacks.py (every hook, in Keras 3's order and with its logs; the
  EarlyStoppingAtMinLoss callback restoring the best weights; CustomLearningRateScheduler);
- guides/serialization_and_saving.py (a registered custom layer and model, get_config/from_config,
  model.save/load_model of a .keras file, save_weights/load_weights, get_weights/set_weights transfer).
"""
import numpy as np

from shendu import keras as shendu_keras


def get_model(keras):
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1), loss="mean_squared_error",
                  metrics=["mean_absolute_error"])
    return model


def _regression(n=200, noise=0.0):
    rng = np.random.default_rng(0)
    x = rng.random((n, 8)).astype("float32")
    return x, (x @ rng.random((8, 1)) + 0.3 + noise * rng.normal(size=(n, 1))).astype("float32")


def hooks_program(keras, x, y, start_weights=None):
    calls = []

    class CustomCallback(keras.callbacks.Callback):
        pass

    hooks = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end",
             "on_predict_begin", "on_predict_end", "on_train_batch_begin", "on_train_batch_end",
             "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"]
    for hook in hooks:
        def record(self, *args, logs=None, hook=hook):
            logs = args[-1] if args and isinstance(args[-1], dict) else logs      # Keras passes some logs by position
            args = tuple(a for a in args if not isinstance(a, dict))
            calls.append((hook,) + args + (tuple(sorted(logs or {})),))
        setattr(CustomCallback, hook, record)

    model = get_model(keras)
    model.build((None, 8))
    if start_weights is not None:
        model.set_weights(start_weights)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_split=0.5, callbacks=[CustomCallback()],
              shuffle=False)      # (the guide shuffles: here both runs see one order, so the numbers compare)
    res = model.evaluate(x, y, batch_size=64, verbose=0, callbacks=[CustomCallback()])
    model.predict(x, batch_size=64, callbacks=[CustomCallback()], verbose=0)
    return calls, model, res


def test_custom_callback_hooks_match_keras(keras3):
    x, y = _regression(256)
    start = get_model(keras3)
    start.build((None, 8))
    ref_calls, reference, ref_res = hooks_program(keras3, x, y, start.get_weights())
    calls, _, res = hooks_program(shendu_keras, x, y, start.get_weights())
    assert calls == ref_calls
    np.testing.assert_allclose(res, ref_res, rtol=1e-4)


def early_stopping_program(keras, x, y, start_weights):
    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait = 0
            self.stopped_epoch = 0
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    self.model.set_weights(self.best_weights)

    LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]

    def lr_schedule(epoch, lr):
        if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
            return lr
        for i in range(len(LR_SCHEDULE)):
            if epoch == LR_SCHEDULE[i][0]:
                return LR_SCHEDULE[i][1]
        return lr

    class CustomLearningRateScheduler(keras.callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule
            self.rates = []

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            lr = self.model.optimizer.learning_rate
            scheduled_lr = self.schedule(epoch, float(lr))
            self.model.optimizer.learning_rate = scheduled_lr
            self.rates.append(float(self.model.optimizer.learning_rate))

    model = get_model(keras)
    model.build((None, 8))
    model.set_weights(start_weights)
    stopper = EarlyStoppingAtMinLoss(patience=2)
    history = model.fit(x, y, batch_size=64, epochs=30, verbose=0, shuffle=False, callbacks=[stopper])
    final = model.get_weights()
    model = get_model(keras)
    model.build((None, 8))
    model.set_weights(start_weights)
    scheduler = CustomLearningRateScheduler(lr_schedule)
    model.fit(x, y, batch_size=64, epochs=15, verbose=0, shuffle=False, callbacks=[scheduler])
    return history.history, stopper.stopped_epoch, scheduler.rates, final


def test_early_stopping_and_learning_rate_callbacks_match_keras(keras3):
    x, y = _regression(256, noise=1.0)       # a noisy target, so that the loss stops improving before epoch 30
    start = get_model(keras3)
    start.build((None, 8))
    weights = start.get_weights()
    history, stopped, rates, final = early_stopping_program(shendu_keras, x, y, weights)
    ref_history, ref_stopped, ref_rates, ref_final = early_stopping_program(keras3, x, y, weights)
    assert stopped == ref_stopped and 0 < stopped < 29
    np.testing.assert_allclose(rates, ref_rates, rtol=1e-6)
    np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=2e-3, atol=1e-6)
    for w, r in zip(final, ref_final):
        np.testing.assert_allclose(w, r, rtol=2e-3, atol=1e-5)


# ----------------------------------------------------------------------- guides/serialization_and_saving.py
def test_serialization_and_saving_guide_round_trips(tmp_path):
    keras = shendu_keras

    @keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
    def custom_fn(x):
        return x**2

    @keras.saving.register_keras_serializable(package="MyLayers")
    class CustomLayer(keras.layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            config = super().get_config()
            config.update({"factor": self.factor})
            return config

    @keras.saving.register_keras_serializable(package="my_custom_package")
    class MyDense(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True, name="kernel")
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True,
                                     name="bias")

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            base_config = super().get_config()
            config = {"units": self.units}
            return {**base_config, **config}

    inputs = keras.Input(shape=(4,))
    x = MyDense(8)(inputs)
    x = CustomLayer(factor=0.5)(x)
    x = keras.layers.Activation(custom_fn)(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    rng = np.random.default_rng(0)
    data, target = rng.random((64, 4)).astype("float32"), rng.random((64, 1)).astype("float32")
    model.fit(data, target, epochs=2, verbose=0)

    model.save(tmp_path / "custom_model.keras")
    reconstructed_model = keras.models.load_model(tmp_path / "custom_model.keras")
    np.testing.assert_allclose(model.predict(data, verbose=0), reconstructed_model.predict(data, verbose=0))
    assert type(reconstructed_model.layers[1]).__name__ == "MyDense"
    assert keras.saving.get_registered_name(CustomLayer) == "MyLayers>CustomLayer"
    reconstructed_model.fit(data, target, epochs=1, verbose=0)      # the optimizer state came back too

    config = model.get_config()
    new_model = keras.Model.from_config(config)
    new_model.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(data, verbose=0), new_model.predict(data, verbose=0))

    model.save_weights(tmp_path / "model.weights.h5")
    clone = keras.models.clone_model(model)
    clone.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_allclose(model.predict(data, verbose=0), clone.predict(data, verbose=0))

    layer = MyDense(8)
    layer.build((None, 4))
    layer.set_weights(model.layers[1].get_weights())
    np.testing.assert_allclose(layer(data), model.layers[1](data))


def test_a_keras_saved_custom_model_loads_in_shendu(keras3, tmp_path):
    """The guide's file, written by Keras 3 with the same registered names, loads and predicts equally."""
    def register(keras):
        @keras.saving.register_keras_serializable(package="MyLayers")
        class CustomLayer(keras.layers.Layer):
            def __init__(self, factor, **kwargs):
                super().__init__(**kwargs)
                self.factor = factor

            def call(self, x):
                return x * self.factor

            def get_config(self):
                config = super().get_config()
                config.update({"factor": self.factor})
                return config
        return CustomLayer

    RefLayer = register(keras3)
    register(shendu_keras)
    inputs = keras3.Input(shape=(4,))
    outputs = keras3.layers.Dense(1)(RefLayer(factor=0.5)(keras3.layers.Dense(8, activation="relu")(inputs)))
    reference = keras3.Model(inputs, outputs)
    reference.save(tmp_path / "guide.keras")
    loaded = shendu_keras.models.load_model(tmp_path / "guide.keras")
    data = np.random.default_rng(0).random((16, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(data, verbose=0), reference.predict(data, verbose=0), rtol=1e-5)
