"""The step contract: fit/evaluate/predict call train_step(data)/test_step(data)/predict_step(data), and what an
override may use inside (compute_loss, compiled_loss, compiled_metrics, metrics, optimizer). Keras 3 (torch
backend) is the oracle for the logs; tf.keras 2's spellings are checked against the default step."""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu import keras


def data(n=20):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ rng.normal(size=(3, 2))).astype("float32")
    return x, y


def build(lib, cls=None, seed_weights=None):
    """A Dense(4, relu) -> Dense(2) functional model of class ``cls`` (lib.Model by default)."""
    inp = lib.Input(shape=(3,))
    h = lib.layers.Dense(4, activation="relu")(inp)
    out = lib.layers.Dense(2)(h)
    model = (cls or lib.Model)(inp, out)
    if seed_weights is not None:
        model.set_weights(seed_weights)
    return model


def fit_history(model, x, y, **kwargs):
    kwargs.setdefault("epochs", 2)
    return model.fit(x, y, batch_size=8, shuffle=False, verbose=0, **kwargs).history


def assert_histories_close(ours, theirs, atol=1e-5):
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=atol, err_msg=key)


# ----------------------------------------------------------------------------------- what the step receives
@pytest.mark.parametrize("form", ["x", "xy", "xyw"])
def test_train_and_test_step_receive_the_batch_as_the_data_gave_it(form, keras):
    x, y = data(8)
    w = np.linspace(0.5, 1.5, 8).astype("float32")
    args = {"x": (x,), "xy": (x, y), "xyw": (x, y, w)}[form]

    def structure(batch):
        if isinstance(batch, tuple):
            return tuple(tuple(part.shape) for part in batch)
        return tuple(batch.shape)

    seen = {}
    for lib in (keras, shendu.keras):
        class Recorder(lib.Model):
            def train_step(self, batch):
                seen.setdefault(lib.__name__, []).append(("train", structure(batch)))
                return {"n": 1.0}

            def test_step(self, batch):
                seen.setdefault(lib.__name__, []).append(("test", structure(batch)))
                return {"n": 2.0}

        model = build(lib, Recorder)
        model.compile(optimizer="sgd")
        model.fit(*args[:2], sample_weight=args[2] if len(args) == 3 else None, batch_size=8, verbose=0)
        model.evaluate(*args[:2], sample_weight=args[2] if len(args) == 3 else None, batch_size=8, verbose=0)
    assert seen["shendu.keras"] == seen["keras"]
    assert seen["shendu.keras"][0][1] == {"x": (8, 3), "xy": ((8, 3), (8, 2)), "xyw": ((8, 3), (8, 2), (8,))}[form]


def test_step_batches_are_tensors_in_the_float_type():
    x, y = data(8)
    got = []

    class Probe(keras.Model):
        def train_step(self, batch):
            got.extend(batch)
            return {}

    model = build(keras, Probe)
    model.compile()
    model.fit(x.astype("float64"), y.astype("int64"), batch_size=8, verbose=0)
    assert all(isinstance(t, shendu.Tensor) for t in got)
    assert got[0].dtype == np.float32 and got[1].dtype == np.int64


def test_unpack_x_y_sample_weight_forms_and_error():
    unpack = keras.utils.unpack_x_y_sample_weight
    assert unpack("x") == ("x", None, None)
    assert unpack(("x",)) == ("x", None, None)
    assert unpack(["x", "y"]) == ("x", "y", None)
    assert unpack(("x", "y", "w")) == ("x", "y", "w")
    with pytest.raises(ValueError, match=r"\(x, y, sample_weight\)"):
        unpack((1, 2, 3, 4))
    assert keras.utils.pack_x_y_sample_weight("x") == "x"
    assert keras.utils.pack_x_y_sample_weight("x", "y") == ("x", "y")


# ----------------------------------------------------------------------------------- overrides against Keras 3
def keras3_guide_model(k):
    """keras-io guides/custom_train_step_in_torch.py's train_step: compute_loss, then every metric."""
    import torch

    class CustomModel(k.Model):
        def train_step(self, batch):
            x, y = batch
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            weights = list(self.trainable_weights)
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


class Keras3GuideModel(keras.Model):
    """The same guide written for shendu with tf.keras's GradientTape."""

    def train_step(self, batch):
        x, y = batch
        with shendu.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class TfKeras2GuideModel(keras.Model):
    """keras-io guides/customizing_what_happens_in_fit.py (tf.keras 2): compiled_loss with the regularization
    losses, compiled_metrics, self.metrics."""

    def train_step(self, batch):
        x, y = batch
        with shendu.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_keras3_guide_train_step_matches_keras(keras):
    x, y = data()
    ours = build(shendu.keras, Keras3GuideModel)
    theirs = build(keras, keras3_guide_model(keras), ours.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert_histories_close(fit_history(ours, x, y), fit_history(theirs, x, y))
    assert ours.metrics_names == ["loss", "mae"]
    np.testing.assert_allclose(ours.get_weights()[0], theirs.get_weights()[0], rtol=1e-4, atol=1e-6)


def test_tf_keras2_guide_train_step_logs_what_the_default_step_logs():
    x, y = data()
    custom = build(shendu.keras, TfKeras2GuideModel)
    default = build(shendu.keras, seed_weights=custom.get_weights())
    for model in (custom, default):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert_histories_close(fit_history(custom, x, y), fit_history(default, x, y), atol=1e-6)


def test_default_fit_matches_keras_with_sample_weights_and_uneven_batches(keras):
    x, y = data()
    w = np.linspace(0.2, 2.0, len(x)).astype("float32")
    ours = build(shendu.keras)
    theirs = build(keras, seed_weights=ours.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"], weighted_metrics=["mse"])
    assert_histories_close(fit_history(ours, x, y, sample_weight=w), fit_history(theirs, x, y, sample_weight=w))
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(theirs.evaluate(x, y, verbose=0), rel=1e-4)


def lower_level(lib, k_is_torch=False):
    """keras-io guides/customizing_what_happens_in_fit.py's "going lower-level" model: compile() with no loss;
    its own trackers listed by `metrics`."""
    loss_tracker = lib.metrics.Mean(name="loss")
    mae_metric = lib.metrics.MeanAbsoluteError(name="mae")

    class CustomModel(lib.Model):
        def train_step(self, batch):
            x, y = batch
            if k_is_torch:
                import torch
                self.zero_grad()
                y_pred = self(x, training=True)
                loss = lib.losses.mean_squared_error(y, y_pred).mean()
                loss.backward()
                weights = list(self.trainable_weights)
                with torch.no_grad():
                    self.optimizer.apply([v.value.grad for v in weights], weights)
            else:
                with shendu.GradientTape() as tape:
                    y_pred = self(x, training=True)
                    loss = shendu.mean(lib.losses.mean_squared_error(y, y_pred))
                grads = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            loss_tracker.update_state(loss)
            mae_metric.update_state(y, y_pred)
            return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

        @property
        def metrics(self):
            return [loss_tracker, mae_metric]

    return CustomModel


def test_metrics_listed_by_the_model_are_reset_at_each_epoch_like_keras(keras):
    x, y = data()
    ours = build(shendu.keras, lower_level(shendu.keras))
    theirs = build(keras, lower_level(keras, k_is_torch=True), ours.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="sgd")
    assert_histories_close(fit_history(ours, x, y, epochs=3), fit_history(theirs, x, y, epochs=3))


def test_custom_test_step_and_predict_step_drive_evaluate_and_predict(keras):
    x, y = data()
    results = {}
    for lib in (shendu.keras, keras):
        class Custom(lib.Model):
            def test_step(self, batch):
                x, y = batch
                y_pred = self(x, training=False)
                self.compute_loss(x, y, y_pred)
                for metric in self.metrics:
                    if metric.name != "loss":
                        metric.update_state(y, y_pred)
                return {m.name: m.result() for m in self.metrics}

            def predict_step(self, batch):
                return {"double": self(batch) * 2.0}

        model = build(lib, Custom, None if lib is shendu.keras else results["weights"])
        results.setdefault("weights", model.get_weights())
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        results[lib.__name__] = (model.evaluate(x, y, batch_size=8, verbose=0),
                                 model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True),
                                 model.predict(x, batch_size=8, verbose=0))
    ours, theirs = results["shendu.keras"], results["keras"]
    assert ours[0] == pytest.approx(theirs[0], rel=1e-5)          # [loss, mae]: the loss tracker stays 0
    assert sorted(ours[1]) == sorted(theirs[1]) == ["loss", "mae"]
    assert set(ours[2]) == {"double"}
    np.testing.assert_allclose(ours[2]["double"], np.asarray(theirs[2]["double"]), rtol=1e-5, atol=1e-6)


def test_step_results_of_any_kind_become_float_logs():
    x, y = data(16)

    class Mixed(keras.Model):
        def train_step(self, batch):
            return {"tensor": shendu.tensor(np.float32(1.5)), "array": np.array([2.5]), "float": 3,
                    "nested": {"inner": np.float64(4.5)}}

    model = build(keras, Mixed)
    model.compile()
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb]).history
    assert history == {"array": [2.5, 2.5], "float": [3.0, 3.0], "inner": [4.5, 4.5], "tensor": [1.5, 1.5]}
    assert all(type(v) is float for logs in seen for v in logs.values())


def test_a_step_that_returns_no_dict_is_told_what_to_return():
    x, y = data(8)

    class Bad(keras.Model):
        def train_step(self, batch):
            return 1.0

    model = build(keras, Bad)
    model.compile()
    with pytest.raises(TypeError, match="must return a dict"):
        model.fit(x, y, verbose=0)


# ----------------------------------------------------------------------------------- metrics, compile, on_batch
def test_model_metrics_lists_compile_trackers_then_owned_metrics(keras):
    names = {}
    for lib in (shendu.keras, keras):
        class WithTracker(lib.Model):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.extra = lib.metrics.Mean(name="extra")

        inp = lib.Input(shape=(3,))
        model = WithTracker(inp, lib.layers.Dense(2)(inp))
        before = [m.name for m in model.metrics]
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        names[lib.__name__] = (before, [m.name for m in model.metrics])
    assert names["shendu.keras"] == names["keras"] == (["extra"], ["loss", "compile_metrics", "extra"])


def test_reset_metrics_and_compile_without_loss_errors_clearly():
    x, y = data(8)
    model = build(keras)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, verbose=0)
    assert model.metrics[0].result() > 0
    model.reset_metrics()
    assert model.metrics[0].result() == 0
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="No loss to compute"):
        model.evaluate(x, y, verbose=0)


def test_compile_override_with_its_own_arguments():
    class TwoOptimizers(keras.Model):
        def compile(self, first_optimizer, second_optimizer, **kwargs):
            super().compile(**kwargs)
            self.first_optimizer, self.second_optimizer = first_optimizer, second_optimizer

    model = build(keras, TwoOptimizers)
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.Adam(), loss="mse")
    assert isinstance(model.second_optimizer, keras.optimizers.Adam) and model.loss == "mse"
    with pytest.raises(TypeError, match="super\\(\\).compile"):
        keras.Model.compile(model, first_optimizer="sgd")


def test_train_on_batch_and_test_on_batch_go_through_the_step_functions():
    x, y = data(8)
    calls = []

    class Counted(keras.Model):
        def train_step(self, batch):
            calls.append("train")
            return super().train_step(batch)

        def test_step(self, batch):
            calls.append("test")
            return super().test_step(batch)

        def predict_step(self, batch):
            calls.append("predict")
            return super().predict_step(batch)

    model = build(keras, Counted)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    loss, mae = model.train_on_batch(x, y)
    logs = model.test_on_batch(x, y, return_dict=True)
    model.predict_on_batch(x)
    assert calls == ["train", "test", "predict"] and sorted(logs) == ["loss", "mae"] and loss > 0


def test_compute_loss_override_without_training_argument_is_used_by_fit():
    x, y = data(8)

    class DoubledLoss(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return 2.0 * super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    doubled = build(keras, DoubledLoss)
    plain = build(keras, seed_weights=doubled.get_weights())
    for model in (doubled, plain):
        model.compile(optimizer="sgd", loss="mse")
    assert doubled.evaluate(x, y, verbose=0) == pytest.approx(2 * plain.evaluate(x, y, verbose=0), rel=1e-6)


def test_predict_calls_its_callbacks_hooks_like_keras(keras):
    x, _ = data(20)
    events = {}
    for lib in (shendu.keras, keras):
        log = events.setdefault(lib.__name__, [])
        cb = lib.callbacks.LambdaCallback(
            on_predict_begin=lambda logs, log=log: log.append("begin"),
            on_predict_batch_begin=lambda batch, logs, log=log: log.append(("batch_begin", batch)),
            on_predict_batch_end=lambda batch, logs, log=log: log.append(
                ("batch_end", batch, tuple(np.asarray(logs["outputs"]).shape))),
            on_predict_end=lambda logs, log=log: log.append("end"))
        build(lib).predict(x, batch_size=8, verbose=0, callbacks=[cb])
    assert events["shendu.keras"] == events["keras"]
    assert events["keras"][-2] == ("batch_end", 2, (4, 2))


# ----------------------------------------------------------------------------------- keras-io: a GAN's train_step
LATENT = 3


def gan_parts(lib, weights=None):
    discriminator = lib.Sequential([lib.Input(shape=(4,)), lib.layers.Dense(6), lib.layers.LeakyReLU(0.2),
                                    lib.layers.Dense(1)], name="discriminator")
    generator = lib.Sequential([lib.Input(shape=(LATENT,)), lib.layers.Dense(6, activation="relu"),
                                lib.layers.Dense(4)], name="generator")
    if weights is not None:
        discriminator.set_weights(weights[0])
        generator.set_weights(weights[1])
    return discriminator, generator


def gan_class(lib, noise, torch_backend=False):
    """keras-io examples/generative/dcgan_overriding_train_step.py, tiny: compile() overridden with two
    optimizers and a loss, the loss trackers created in compile and listed by `metrics`; the latent noise
    comes from `noise` so that both frameworks see the same draws."""

    class GAN(lib.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.step = 0

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = lib.metrics.Mean(name="d_loss")
            self.g_loss_metric = lib.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def call(self, images):         # Keras 3 builds a model by calling it before fit
            return self.discriminator(images)

        def train_step(self, real_images):
            batch_size = real_images.shape[0]
            z_d, z_g = noise[self.step, 0, :batch_size], noise[self.step, 1, :batch_size]
            self.step += 1
            labels = np.concatenate([np.ones((batch_size, 1)), np.zeros((batch_size, 1))]).astype("float32")
            misleading = np.zeros((batch_size, 1), "float32")
            if torch_backend:
                d_loss, g_loss = self.torch_updates(real_images, z_d, z_g, labels, misleading)
            else:
                generated = self.generator(z_d)
                combined = shendu.concatenate([generated, real_images], axis=0)
                with shendu.GradientTape() as tape:
                    d_loss = self.loss_fn(labels, self.discriminator(combined))
                grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
                self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
                with shendu.GradientTape() as tape:
                    g_loss = self.loss_fn(misleading, self.discriminator(self.generator(z_g)))
                grads = tape.gradient(g_loss, self.generator.trainable_weights)
                self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}

        def torch_updates(self, real_images, z_d, z_g, labels, misleading):
            import torch
            generated = self.generator(torch.tensor(z_d))
            combined = torch.cat([generated, real_images], 0)
            self.zero_grad()
            d_loss = self.loss_fn(torch.tensor(labels), self.discriminator(combined))
            d_loss.backward()
            weights = self.discriminator.trainable_weights
            with torch.no_grad():
                self.d_optimizer.apply([v.value.grad for v in weights], weights)
            self.zero_grad()
            g_loss = self.loss_fn(torch.tensor(misleading), self.discriminator(self.generator(torch.tensor(z_g))))
            g_loss.backward()
            weights = self.generator.trainable_weights
            with torch.no_grad():
                self.g_optimizer.apply([v.value.grad for v in weights], weights)
            return d_loss, g_loss

    return GAN


def test_gan_overriding_train_step_matches_keras(keras):
    rng = np.random.default_rng(3)
    images = rng.normal(size=(12, 4)).astype("float32")
    noise = rng.normal(size=(6, 2, 8, LATENT)).astype("float32")
    histories, weights = {}, None
    for lib in (shendu.keras, keras):
        discriminator, generator = gan_parts(lib, weights)
        weights = weights or (discriminator.get_weights(), generator.get_weights())
        gan = gan_class(lib, noise, torch_backend=lib is keras)(discriminator, generator, LATENT)
        gan.compile(d_optimizer=lib.optimizers.Adam(learning_rate=0.01),
                    g_optimizer=lib.optimizers.Adam(learning_rate=0.01),
                    loss_fn=lib.losses.BinaryCrossentropy(from_logits=True))
        histories[lib.__name__] = gan.fit(images, batch_size=8, epochs=3, shuffle=False, verbose=0).history
        histories[lib.__name__ + " weights"] = generator.get_weights()
    assert_histories_close(histories["shendu.keras"], histories["keras"])
    for ours, theirs in zip(histories["shendu.keras weights"], histories["keras weights"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------- keras-io: trainer pattern
def trainer_class(lib, torch_backend=False):
    """keras-io examples/keras_recipes/trainer_pattern.py: a Model wrapping another model, with its own loss,
    metric and steps."""

    class MyTrainer(lib.Model):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.loss_fn = lib.losses.SparseCategoricalCrossentropy()
            self.accuracy_metric = lib.metrics.SparseCategoricalAccuracy()

        @property
        def metrics(self):
            return [self.accuracy_metric]

        def train_step(self, batch):
            x, y = batch
            if torch_backend:
                import torch
                self.zero_grad()
                y_pred = self.model(x, training=True)
                self.loss_fn(y, y_pred).backward()
                weights = list(self.trainable_variables)
                with torch.no_grad():
                    self.optimizer.apply([v.value.grad for v in weights], weights)
            else:
                with shendu.GradientTape() as tape:
                    y_pred = self.model(x, training=True)
                    loss = self.loss_fn(y, y_pred)
                gradients = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
            for metric in self.metrics:
                metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, batch):
            x, y = batch
            y_pred = self.model(x, training=False)
            for metric in self.metrics:
                metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def call(self, x):
            return self.model(x)

    return MyTrainer


def test_trainer_pattern_matches_keras(keras):
    rng = np.random.default_rng(7)
    x = rng.random((40, 6)).astype("float32")
    y = (x[:, 0] * 3).astype("int64").clip(0, 2)
    results, weights = {}, None
    for lib in (shendu.keras, keras):
        inner = lib.Sequential([lib.Input(shape=(6,)), lib.layers.Dense(8, activation="relu"),
                                lib.layers.Dense(3, activation="softmax")])
        if weights is not None:
            inner.set_weights(weights)
        weights = inner.get_weights()
        trainer = trainer_class(lib, torch_backend=lib is keras)(inner)
        trainer.compile(optimizer=lib.optimizers.SGD(0.5))
        history = trainer.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_data=(x, y))
        results[lib.__name__] = (history.history, trainer.evaluate(x, y, verbose=0))
    assert_histories_close(results["shendu.keras"][0], results["keras"][0])
    assert results["shendu.keras"][1] == pytest.approx(results["keras"][1], rel=1e-5)


# ----------------------------------------------------------------------------------- keras-io: distillation
def distiller_class(lib):
    """keras-io's examples/vision/knowledge_distillation.py: compile() overridden with loss functions and a
    temperature, compute_loss() overridden (without a `training` argument), the default train/test steps."""
    softmax = shendu.softmax if lib is shendu.keras else lib.ops.softmax

    class Distiller(lib.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1, temperature=3):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                softmax(teacher_pred / self.temperature, axis=1),
                softmax(y_pred / self.temperature, axis=1)) * self.temperature ** 2
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)

    return Distiller


def test_knowledge_distillation_matches_keras(keras):
    rng = np.random.default_rng(8)
    x = rng.random((24, 5)).astype("float32")
    y = rng.integers(0, 3, 24)
    results, weights = {}, None
    for lib in (shendu.keras, keras):
        teacher = lib.Sequential([lib.Input(shape=(5,)), lib.layers.Dense(6, activation="relu"), lib.layers.Dense(3)])
        student = lib.Sequential([lib.Input(shape=(5,)), lib.layers.Dense(3)])
        if weights is not None:
            teacher.set_weights(weights[0])
            student.set_weights(weights[1])
        weights = teacher.get_weights(), student.get_weights()
        # frozen here: Keras also differentiates a loss through y_true (the softened teacher output) and so
        # moves the teacher too, which shendu's losses do not; the comparison is about the steps
        teacher.trainable = False
        distiller = distiller_class(lib)(student=student, teacher=teacher)
        distiller.compile(optimizer=lib.optimizers.SGD(0.1), metrics=[lib.metrics.SparseCategoricalAccuracy()],
                          student_loss_fn=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                          distillation_loss_fn=lib.losses.KLDivergence(), alpha=0.1, temperature=10)
        history = distiller.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        results[lib.__name__] = history, distiller.evaluate(x, y, verbose=0), student.get_weights()
    ours, theirs = results["shendu.keras"], results["keras"]
    assert_histories_close(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4)
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_two_output_evaluate_lists_values_in_keras_order(keras):
    rng = np.random.default_rng(9)
    x, y1, y2 = rng.random((16, 3), "float32"), rng.random((16, 2), "float32"), rng.random((16, 1), "float32")
    results, weights = {}, None
    for lib in (shendu.keras, keras):
        inp = lib.Input(shape=(3,))
        model = lib.Model(inp, [lib.layers.Dense(2, name="a")(inp), lib.layers.Dense(1, name="b")(inp)])
        if weights is not None:
            model.set_weights(weights)
        weights = model.get_weights()
        model.compile("sgd", ["mse", "mae"], metrics=[["mae"], ["mse"]])
        results[lib.__name__] = model.evaluate(x, [y1, y2], verbose=0), model.evaluate(x, [y1, y2], verbose=0,
                                                                                      return_dict=True)
    np.testing.assert_allclose(results["shendu.keras"][0], results["keras"][0], rtol=1e-5)
    assert results["shendu.keras"][1] == pytest.approx(results["keras"][1], rel=1e-5)


def test_a_generator_or_pydataset_of_inputs_alone_feeds_a_custom_train_step():
    images = np.random.default_rng(10).random((12, 4)).astype("float32")
    seen = []

    class Unsupervised(keras.Model):
        def train_step(self, batch):
            seen.append(tuple(batch.shape))
            return {"mean": shendu.mean(batch)}

    class Images(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return images[4 * index:4 * index + 4]

    model = build(keras, Unsupervised)
    model.compile()
    model.fit((images[i:i + 6] for i in (0, 6)), steps_per_epoch=2, verbose=0)
    history = model.fit(Images(), epochs=1, shuffle=False, verbose=0).history   # fit shuffles batch order by default
    assert seen == [(6, 4), (6, 4), (4, 4), (4, 4), (4, 4)]
    assert history["mean"][0] == pytest.approx(float(images[8:].mean()), rel=1e-6)
    with pytest.raises(ValueError, match="a tuple of 4 items"):
        model.fit(iter([(images, images, images, images)]), verbose=0)
