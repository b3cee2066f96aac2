"""shendu/callbacks: each callback driven hook by hook with scripted logs (a fake model records what the
callback did), the same scripts fed to the Keras 3 callbacks as the oracle, and a few real ``fit`` runs."""
from __future__ import annotations

import csv
import inspect
import io
import math
import os
import re
import warnings

import numpy as np
import pytest

from shendu import callbacks
from shendu.callbacks import (BackupAndRestore, Callback, CSVLogger, EarlyStopping, LambdaCallback,
                              LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN)


# ---------------------------------------------------------------------------- a fake model and a driver
class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    """What a callback touches: weights, stop_training, optimizer.learning_rate, save/save_weights."""

    def __init__(self, learning_rate=0.1):
        self.name = "fake"
        self.built = True
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.weights = _marker(-1)
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, filepath, overwrite=True):
        self.saved.append(("model", filepath))
        with open(filepath, "w") as f:
            f.write("model")

    def save_weights(self, filepath, overwrite=True):
        self.saved.append(("weights", filepath))
        np.savez(filepath + ".npz", *self.weights)
        os.replace(filepath + ".npz", filepath)

    def load_weights(self, filepath):
        with np.load(filepath) as data:
            self.weights = [data[f"arr_{i}"] for i in range(len(data.files))]


def _marker(epoch):
    """Weights of a Dense(1) on 2 features, filled with the epoch number so a restore shows its epoch."""
    return [np.full((2, 1), epoch, dtype="float32"), np.full((1,), epoch, dtype="float32")]


def drive(cb, model, logs_seq, mark_weights=True):
    """Run the epoch hooks as fit's CallbackList does (logs always a dict); returns (epochs run, the logs
    each epoch ended with). Works for shendu's and Keras's callbacks alike."""
    cb.set_model(model)
    model.stop_training = False
    cb.on_train_begin({})
    seen = []
    for epoch, logs in enumerate(logs_seq):
        cb.on_epoch_begin(epoch, {})
        if mark_weights:
            model.set_weights(_marker(epoch))
        logs = dict(logs)
        cb.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    cb.on_train_end({})
    return len(seen), seen


def val_loss(*values):
    return [{"loss": 1.0, "val_loss": v} for v in values]


# ---------------------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience_counts_epochs_without_improvement():
    ran, _ = drive(EarlyStopping(patience=2), FakeModel(), val_loss(1.0, 0.9, 0.95, 0.92, 0.8, 0.7))
    assert ran == 4                       # epochs 2 and 3 do not beat 0.9: stop at the end of epoch 3


def test_early_stopping_patience_zero_never_stops_after_first_epoch():
    ran, _ = drive(EarlyStopping(patience=0), FakeModel(), val_loss(1.0, 1.1, 0.5))
    assert ran == 2


def test_early_stopping_min_delta_ignores_small_gains():
    cb = EarlyStopping(patience=1, min_delta=0.1)
    ran, _ = drive(cb, FakeModel(), val_loss(1.0, 0.95, 0.5))
    assert ran == 2 and cb.stopped_epoch == 1 and cb.best == 1.0


def test_early_stopping_auto_mode_maximizes_accuracy():
    logs = [{"val_accuracy": a} for a in (0.5, 0.6, 0.55, 0.58)]
    cb = EarlyStopping(monitor="val_accuracy", patience=1)
    ran, _ = drive(cb, FakeModel(), logs)
    assert ran == 3 and cb.best == 0.6 and cb.monitor_op is np.greater


def test_early_stopping_baseline_must_be_beaten_to_reset_patience():
    # the epochs above the baseline 0.5 keep counting, so the first plateau stops at once
    assert drive(EarlyStopping(patience=2, baseline=0.5), FakeModel(), val_loss(0.9, 0.8, 0.85, 0.1))[0] == 3
    assert drive(EarlyStopping(patience=2), FakeModel(), val_loss(0.9, 0.8, 0.85, 0.1))[0] == 4


def test_early_stopping_start_from_epoch_skips_warm_up():
    cb = EarlyStopping(patience=0, start_from_epoch=3)
    ran, _ = drive(cb, FakeModel(), val_loss(1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    assert ran == 5                      # first monitored epoch is 3, the next one stops


def test_early_stopping_restores_the_best_weights_at_train_end():
    model = FakeModel()
    cb = EarlyStopping(patience=2, restore_best_weights=True)
    ran, _ = drive(cb, model, val_loss(1.0, 0.5, 0.7, 0.8, 0.1))
    assert ran == 4 and cb.best_epoch == 1
    np.testing.assert_array_equal(model.get_weights()[0], _marker(1)[0])


def test_early_stopping_restores_best_weights_even_without_stopping():
    model = FakeModel()
    drive(EarlyStopping(patience=5, restore_best_weights=True), model, val_loss(1.0, 0.5, 0.7))
    np.testing.assert_array_equal(model.get_weights()[1], _marker(1)[1])


def test_early_stopping_without_restore_keeps_last_weights():
    model = FakeModel()
    drive(EarlyStopping(patience=1), model, val_loss(1.0, 0.5, 0.7, 0.8))
    np.testing.assert_array_equal(model.get_weights()[0], _marker(2)[0])      # stopped at epoch 2


def test_early_stopping_resets_between_fits():
    cb, model = EarlyStopping(patience=1), FakeModel()
    drive(cb, model, val_loss(0.1, 0.2, 0.3))
    ran, _ = drive(cb, model, val_loss(5.0, 4.0, 3.0))
    assert ran == 3 and cb.best == 3.0


def test_early_stopping_missing_monitor_warns_with_available_keys():
    cb = EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available.*loss,accuracy"):
        ran, _ = drive(cb, FakeModel(), [{"loss": 1.0, "accuracy": 0.5}] * 3)
    assert ran == 3


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'up' is unknown"):
        cb = EarlyStopping(mode="up")
    assert cb.mode == "auto"


def test_auto_mode_that_cannot_tell_direction_raises():
    cb = EarlyStopping(monitor="my_score")
    with pytest.raises(ValueError, match="mode='max'"):
        drive(cb, FakeModel(), [{"my_score": 1.0}])


@pytest.mark.parametrize("name, direction", [("val_loss", "min"), ("dense_1_loss", "min"), ("acc", "max"),
                                             ("val_categorical_accuracy", "max"), ("auc", "max"),
                                             ("val_mean_squared_error", "min"), ("mae", "min"),
                                             ("val_precision", "max"), ("unknown", None)])
def test_auto_direction_from_the_metric_name(name, direction):
    assert callbacks.monitor.infer_direction(FakeModel(), name) == direction


def test_auto_direction_prefers_the_metric_objects_own_direction():
    class Metric:
        name, _direction = "score", "up"
    model = FakeModel()
    model._metric_objs = [(0, Metric(), False)]
    assert callbacks.monitor.infer_direction(model, "val_score") == "max"


# ---------------------------------------------------------------------------- ReduceLROnPlateau
def lr_sequence(cb, values, monitor="val_loss", lr=0.1):
    model = FakeModel(lr)
    _, seen = drive(cb, model, [{monitor: v} for v in values], mark_weights=False)
    return [logs["learning_rate"] for logs in seen], model.optimizer.learning_rate


def test_reduce_lr_on_plateau_reduces_after_patience():
    logged, final = lr_sequence(ReduceLROnPlateau(factor=0.5, patience=2), [1.0, 1.0, 1.0, 1.0, 1.0, 0.5])
    # 'learning_rate' is the rate used during that epoch; the cut happens at its end
    assert logged == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])
    assert final == pytest.approx(0.025)


def test_reduce_lr_on_plateau_cooldown_and_min_lr():
    cb = ReduceLROnPlateau(factor=0.1, patience=1, cooldown=2, min_lr=0.0005)
    logged, final = lr_sequence(cb, [1.0] * 8)
    # cooldown=2: the epoch after a cut is idle, the next one counts again
    assert logged == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0005, 0.0005])
    assert final == pytest.approx(0.0005)


def test_reduce_lr_on_plateau_rejects_factor_of_one_or_more():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_missing_monitor_warns():
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        logged, _ = lr_sequence(ReduceLROnPlateau(), [1.0], monitor="loss")
    assert logged == [0.1]


# ---------------------------------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_two_argument_form():
    cb = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5)
    logged, final = lr_sequence(cb, [1.0] * 4, lr=0.2)
    assert logged == pytest.approx([0.2, 0.2, 0.1, 0.05]) and final == pytest.approx(0.05)


def test_learning_rate_scheduler_one_argument_form():
    logged, _ = lr_sequence(LearningRateScheduler(lambda epoch: 1e-3 * 10 ** (epoch / 20)), [1.0] * 3)
    assert logged == pytest.approx([1e-3 * 10 ** (e / 20) for e in range(3)])


def test_learning_rate_scheduler_rejects_non_numbers():
    with pytest.raises(ValueError, match="should be a float"):
        lr_sequence(LearningRateScheduler(lambda epoch, lr: "fast"), [1.0])


# ---------------------------------------------------------------------------- ModelCheckpoint
@pytest.mark.parametrize("path, weights_only, match", [("model.h5w", False, "must end in `.keras`"),
                                                       ("model.keras", True, "must end in `.weights.h5`"),
                                                       ("w.h5", True, "must end in `.weights.h5`")])
def test_model_checkpoint_checks_the_file_extension(path, weights_only, match):
    with pytest.raises(ValueError, match=match):
        ModelCheckpoint(path, save_weights_only=weights_only)


def test_model_checkpoint_rejects_an_unknown_save_freq():
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.keras", save_freq="batch")


def test_model_checkpoint_formats_epoch_and_logs_into_the_name(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.2f}.keras")
    drive(ModelCheckpoint(pattern), model, val_loss(0.5, 0.25))
    assert [p for _, p in model.saved] == [str(tmp_path / "ckpt" / n) for n in ("model-01-0.50.keras",
                                                                              "model-02-0.25.keras")]
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["model-01-0.50.keras", "model-02-0.25.keras"]


def test_model_checkpoint_save_best_only_writes_on_improvement(tmp_path):
    model = FakeModel()
    cb = ModelCheckpoint(str(tmp_path / "w-{epoch}.weights.h5"), save_best_only=True, save_weights_only=True)
    drive(cb, model, val_loss(1.0, 1.2, 0.8, 0.8, 0.3))
    assert model.saved == [("weights", str(tmp_path / f"w-{e}.weights.h5")) for e in (1, 3, 5)]
    assert cb.best == 0.3


def test_model_checkpoint_initial_value_threshold_and_max_mode(tmp_path):
    model = FakeModel()
    cb = ModelCheckpoint(str(tmp_path / "m.keras"), monitor="val_accuracy", save_best_only=True,
                         initial_value_threshold=0.7)
    drive(cb, model, [{"val_accuracy": a} for a in (0.6, 0.75, 0.7, 0.9)])
    assert len(model.saved) == 2 and cb.best == 0.9


def test_model_checkpoint_save_best_only_without_the_monitor_saves_and_warns(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match="only with val_loss available"):
        drive(ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True), model, [{"loss": 1.0}])
    assert len(model.saved) == 1


def test_model_checkpoint_save_freq_counts_batches_across_epochs(tmp_path):
    model = FakeModel()
    cb = ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.keras"), save_freq=3)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(2):
        cb.on_epoch_begin(epoch)
        for batch in range(4):
            cb.on_train_batch_end(batch, {"loss": 1.0})
        cb.on_epoch_end(epoch, {"loss": 1.0})
    names = [os.path.basename(p) for _, p in model.saved]
    assert names == ["m-1-3.keras", "m-2-2.keras"]          # after batches 3 and 6 of 8


def test_model_checkpoint_unknown_field_in_the_name_teaches(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "m-{val_acc:.2f}.keras"))
    with pytest.raises(KeyError, match="Failed to format this callback filepath.*available"):
        drive(cb, FakeModel(), val_loss(1.0))


# ---------------------------------------------------------------------------- CSVLogger
def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_writes_epoch_then_sorted_keys(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7},
            {"loss": 0.25, "accuracy": 0.875, "val_loss": 0.5, "val_accuracy": 0.8}]
    drive(CSVLogger(str(path)), FakeModel(), logs)
    assert read_csv(path) == [["epoch", "accuracy", "loss", "val_accuracy", "val_loss"],
                              ["0", "0.75", "0.5", "0.7", "0.6"], ["1", "0.875", "0.25", "0.8", "0.5"]]


def test_csv_logger_adds_val_columns_when_first_epoch_has_none(tmp_path):
    path = tmp_path / "log.csv"
    drive(CSVLogger(str(path), separator=";"), FakeModel(), [{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.7}])
    assert read_csv(path, ";") == [["epoch", "loss", "val_loss"], ["0", "1.0", "NA"], ["1", "0.5", "0.7"]]


def test_csv_logger_append_keeps_one_header(tmp_path):
    path = tmp_path / "log.csv"
    cb = CSVLogger(str(path), append=True)
    drive(cb, FakeModel(), [{"loss": 1.0, "val_loss": 2.0}])
    drive(cb, FakeModel(), [{"loss": 0.5, "val_loss": 1.0}])
    assert read_csv(path) == [["epoch", "loss", "val_loss"], ["0", "1.0", "2.0"], ["0", "0.5", "1.0"]]


def test_csv_logger_overwrites_without_append(tmp_path):
    path = tmp_path / "log.csv"
    cb = CSVLogger(str(path))
    drive(cb, FakeModel(), [{"loss": 1.0}])
    drive(cb, FakeModel(), [{"loss": 0.5}])
    assert read_csv(path) == [["epoch", "loss", "val_loss"], ["0", "0.5", "NA"]]


# ---------------------------------------------------------------------------- the small ones
def test_terminate_on_nan_stops_gracefully(capsys):
    model, cb = FakeModel(), TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    cb.on_train_batch_end(1, {"loss": float("inf")})
    assert model.stop_training and "Batch 1: Invalid loss" in capsys.readouterr().out


def test_terminate_on_nan_can_raise():
    cb = TerminateOnNaN(raise_error=True)
    cb.set_model(FakeModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        cb.on_train_batch_end(3, {"loss": float("nan")})


def test_lambda_callback_calls_the_given_functions():
    calls = []
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: calls.append(("epoch", epoch, logs["val_loss"])),
                        on_train_end=lambda logs: calls.append(("end",)),
                        on_test_begin=lambda logs: calls.append(("test",)))
    drive(cb, FakeModel(), val_loss(0.5))
    cb.on_test_begin({})
    assert calls == [("epoch", 0, 0.5), ("end",), ("test",)]


def test_callback_list_passes_logs_like_keras():
    """Positional logs for epoch and begin/end hooks, ``logs=`` for batch hooks, {} when there are none."""
    calls = []
    cb = LambdaCallback(on_train_begin=lambda logs: calls.append(("begin", logs)),
                        on_epoch_begin=lambda epoch, logs: calls.append(("epoch", epoch, logs)),
                        on_train_batch_end=lambda batch, logs: calls.append(("batch", batch, logs)))
    model = FakeModel()
    cbs = callbacks.CallbackList([cb], model=model, epochs=3)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_end(4, {"loss": 1.0})
    assert calls == [("begin", {}), ("epoch", 0, {}), ("batch", 4, {"loss": 1.0})]
    assert cb.model is model and cb.params == {"epochs": 3}


def test_callback_list_shares_the_epoch_logs():
    seen = {}
    cbs = callbacks.CallbackList([LearningRateScheduler(lambda epoch, lr: lr),
                                  LambdaCallback(on_epoch_end=lambda epoch, logs: seen.update(logs))],
                                 model=FakeModel(0.5))
    cbs.on_epoch_begin(0)
    cbs.on_epoch_end(0, {"loss": 1.0})
    assert seen == {"loss": 1.0, "learning_rate": 0.5}


def test_callback_list_rejects_a_plain_function():
    with pytest.raises(TypeError, match="LambdaCallback"):
        callbacks.CallbackList([print])


def test_lambda_callback_rejects_a_name_that_is_not_a_hook():
    with pytest.raises(TypeError, match="not a callback hook"):
        LambdaCallback(on_epoch_finish=print)


def test_legacy_on_batch_end_runs_from_the_train_batch_hook():
    seen = []

    class Legacy(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(batch)

    callbacks.CallbackList([Legacy()]).on_train_batch_end(7, {})
    assert seen == [7]


def test_backup_and_restore_resumes_weights_and_epoch(tmp_path):
    backup = tmp_path / "backup"
    model = FakeModel()
    cb = BackupAndRestore(str(backup), delete_checkpoint=False)
    drive(cb, model, val_loss(1.0, 0.9))                      # "interrupted" after epoch 2
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "training_metadata.json"]
    fresh = FakeModel()
    cb2 = BackupAndRestore(str(backup))
    cb2.set_model(fresh)
    cb2.on_train_begin()
    assert fresh._initial_epoch == 2
    np.testing.assert_array_equal(fresh.get_weights()[0], _marker(1)[0])
    cb2.on_train_end()
    assert not backup.exists()


# ---------------------------------------------------------------------------- Keras 3 as the oracle
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the comparison runs Keras 3 on its torch backend")
    return keras


@pytest.fixture(scope="module")
def keras_model():
    keras = _keras()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


def _keras_lr(model):
    return float(np.asarray(model.optimizer.learning_rate))


EARLY_STOPPING_CASES = [
    (dict(patience=0), val_loss(1.0, 0.9, 0.95, 0.5)),
    (dict(patience=2), val_loss(1.0, 0.9, 0.95, 0.92, 0.8, 0.7, 0.71, 0.72, 0.73)),
    (dict(patience=1, min_delta=0.1), val_loss(1.0, 0.95, 0.85, 0.84, 0.5)),
    (dict(patience=2, baseline=0.5), val_loss(0.9, 0.8, 0.7, 0.6)),
    (dict(patience=1, baseline=0.5), val_loss(0.9, 0.4, 0.45, 0.3, 0.35, 0.36)),
    (dict(patience=0, start_from_epoch=2), val_loss(1.0, 2.0, 3.0, 4.0, 5.0)),
    (dict(patience=2, restore_best_weights=True), val_loss(1.0, 0.5, 0.7, 0.8, 0.1)),
    (dict(patience=3, restore_best_weights=True, baseline=0.2), val_loss(1.0, 0.5, 0.7, 0.8, 0.1)),
    (dict(patience=9, restore_best_weights=True, start_from_epoch=1), val_loss(0.1, 0.5, 0.4, 0.45)),
    (dict(monitor="val_accuracy", mode="max", patience=1), [{"val_accuracy": a} for a in (0.5, 0.6, 0.55, 0.5)]),
    (dict(monitor="loss", mode="min", patience=1, min_delta=-0.05), [{"loss": v} for v in (1.0, 1.02, 1.1, 0.9)]),
]


@pytest.mark.parametrize("kwargs, logs", EARLY_STOPPING_CASES)
def test_early_stopping_matches_keras(keras_model, kwargs, logs):
    keras = _keras()
    theirs = keras.callbacks.EarlyStopping(**kwargs)
    ours, model = EarlyStopping(**kwargs), FakeModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ran_theirs, _ = drive(theirs, keras_model, logs)
        ran_ours, _ = drive(ours, model, logs)
    assert ran_ours == ran_theirs
    assert (ours.stopped_epoch, ours.wait, ours.best) == (theirs.stopped_epoch, theirs.wait, theirs.best)
    if kwargs.get("restore_best_weights"):
        assert ours.best_epoch == theirs.best_epoch
        np.testing.assert_array_equal(model.get_weights()[0], keras_model.get_weights()[0])


REDUCE_LR_CASES = [
    (dict(factor=0.5, patience=2), [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.7]),
    (dict(factor=0.1, patience=1, cooldown=2, min_lr=0.0005), [1.0] * 9),
    (dict(factor=0.2, patience=0, min_delta=0.1), [1.0, 0.95, 0.8, 0.85, 0.5]),
    (dict(factor=0.5, patience=1, cooldown=1), [1.0, 1.1, 0.9, 1.0, 1.2, 0.5, 0.6, 0.7]),
    (dict(factor=0.5, patience=1, mode="max", monitor="val_accuracy"), [0.5, 0.6, 0.55, 0.5, 0.7, 0.7]),
    (dict(factor=0.5, patience=1, min_lr=0.1), [1.0, 1.0, 1.0]),
]


@pytest.mark.parametrize("kwargs, values", REDUCE_LR_CASES)
def test_reduce_lr_on_plateau_matches_keras(keras_model, kwargs, values):
    keras = _keras()
    monitor = kwargs.get("monitor", "val_loss")
    logs = [{monitor: v} for v in values]
    keras_model.optimizer.learning_rate = 0.1
    _, theirs = drive(keras.callbacks.ReduceLROnPlateau(**kwargs), keras_model, logs, mark_weights=False)
    model = FakeModel(0.1)
    _, ours = drive(ReduceLROnPlateau(**kwargs), model, logs, mark_weights=False)
    np.testing.assert_allclose([l["learning_rate"] for l in ours], [l["learning_rate"] for l in theirs], rtol=1e-6)
    np.testing.assert_allclose(model.optimizer.learning_rate, _keras_lr(keras_model), rtol=1e-6)


@pytest.mark.parametrize("schedule", [lambda epoch, lr: lr * 0.5 if epoch % 2 else lr,
                                      lambda epoch: 0.1 / (1 + epoch)])
def test_learning_rate_scheduler_matches_keras(keras_model, schedule):
    keras = _keras()
    keras_model.optimizer.learning_rate = 0.1
    _, theirs = drive(keras.callbacks.LearningRateScheduler(schedule), keras_model, [{"loss": 1.0}] * 4,
                      mark_weights=False)
    _, ours = drive(LearningRateScheduler(schedule), FakeModel(0.1), [{"loss": 1.0}] * 4, mark_weights=False)
    np.testing.assert_allclose([l["learning_rate"] for l in ours], [l["learning_rate"] for l in theirs], rtol=1e-6)


def test_csv_logger_file_matches_keras(tmp_path):
    keras = _keras()
    logs = [{"loss": 1.0, "accuracy": 0.5}, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7},
            {"loss": 0.25, "accuracy": 0.875}]
    for append in (False, True):
        drive(keras.callbacks.CSVLogger(str(tmp_path / "theirs.csv"), separator="|", append=append), FakeModel(),
              logs)
        drive(CSVLogger(str(tmp_path / "ours.csv"), separator="|", append=append), FakeModel(), logs)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "theirs.csv").read_bytes()


@pytest.mark.parametrize("kwargs", [dict(save_best_only=True), dict(save_best_only=False),
                                    dict(save_best_only=True, monitor="val_accuracy", mode="max"),
                                    dict(save_best_only=True, initial_value_threshold=0.7)])
def test_model_checkpoint_saves_where_keras_saves(tmp_path, kwargs):
    keras = _keras()
    monitor = kwargs.get("monitor", "val_loss")
    logs = [{monitor: v, "loss": 1.0} for v in (0.9, 0.8, 0.85, 0.8, 0.6, 0.95)]

    saved = {}                       # the fake model records the paths; only the decisions are compared
    for name, cls in (("theirs", keras.callbacks.ModelCheckpoint), ("ours", ModelCheckpoint)):
        model = FakeModel()
        pattern = str(tmp_path / name / ("m-{epoch:02d}-{%s:.3f}.keras" % monitor))
        drive(cls(pattern, **kwargs), model, logs)
        saved[name] = [os.path.basename(p) for _, p in model.saved]
    assert saved["ours"] == saved["theirs"] and saved["ours"]


@pytest.mark.parametrize("path, weights_only", [("m.h5w", False), ("m.keras", True)])
def test_model_checkpoint_path_errors_match_keras(path, weights_only):
    keras = _keras()
    with pytest.raises(ValueError) as theirs:
        keras.callbacks.ModelCheckpoint(path, save_weights_only=weights_only)
    with pytest.raises(ValueError) as ours:
        ModelCheckpoint(path, save_weights_only=weights_only)
    assert str(ours.value).startswith(str(theirs.value))


def test_callback_names_match_keras():
    keras = _keras()
    wanted = {"BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
              "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau",
              "TerminateOnNaN"}
    assert wanted <= set(dir(keras.callbacks)) and wanted <= set(callbacks.__all__)
    for name in wanted - {"CallbackList", "ProgbarLogger", "LambdaCallback"}:
        theirs = inspect.signature(getattr(keras.callbacks, name)).parameters
        ours = inspect.signature(getattr(callbacks, name)).parameters
        defaults = {k: p.default for k, p in theirs.items() if p.kind is p.POSITIONAL_OR_KEYWORD}
        assert {k: ours[k].default for k in defaults if k in ours} == defaults, name


# ---------------------------------------------------------------------------- real fit() runs
@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
    return x, y


def small_model(lr=0.05):
    from shendu.layers import Dense, Input
    from shendu.models import Sequential
    from shendu.optimizers import SGD
    model = Sequential([Input((3,)), Dense(4, activation="tanh"), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    return model


def test_fit_early_stopping_restores_the_best_epoch(regression):
    """Real weights, scripted val_loss: a LambdaCallback ahead of EarlyStopping writes the monitor."""
    x, y = regression
    model, snapshots = small_model(), []
    script = [1.0, 0.6, 0.4, 0.5, 0.45, 0.7, 0.1]

    def record(epoch, logs):
        logs["val_loss"] = script[epoch]
        snapshots.append(model.get_weights())

    es = EarlyStopping(patience=3, restore_best_weights=True)
    history = model.fit(x, y, epochs=len(script), batch_size=16, verbose=0,
                        callbacks=[LambdaCallback(on_epoch_end=record), es])
    assert len(history.history["loss"]) == 6 and es.stopped_epoch == 5 and es.best_epoch == 2
    assert not np.allclose(snapshots[2][0], snapshots[5][0])          # training really moved the weights
    for got, want in zip(model.get_weights(), snapshots[2]):
        np.testing.assert_array_equal(got, want)


def test_fit_early_stopping_on_real_val_loss(regression):
    x, y = regression
    model = small_model(lr=0.05)
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0, validation_split=0.25,
                        callbacks=[EarlyStopping(monitor="val_loss", min_delta=10.0, patience=2)])
    assert len(history.history["val_loss"]) == 3      # nothing improves by 10: stop after patience epochs


def test_fit_reduce_lr_and_scheduler_log_learning_rate(regression):
    x, y = regression
    model = small_model(lr=0.05)
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0,
                        callbacks=[ReduceLROnPlateau(monitor="loss", min_delta=100.0, patience=1, factor=0.5)])
    # epoch 0 sets the best; each later epoch fails to improve by 100 and halves the rate at its end
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.05, 0.025, 0.0125])
    assert model.optimizer.learning_rate == pytest.approx(0.00625)
    model = small_model(lr=0.05)
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02, 0.03])


def test_fit_csv_logger(tmp_path, regression):
    x, y = regression
    path = tmp_path / "training.log"
    small_model().fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[CSVLogger(str(path))])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "val_loss"] and [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert all(math.isfinite(float(v)) for r in rows[1:] for v in r[1:])


def test_fit_terminate_on_nan_stops_at_the_first_bad_batch(regression, capsys):
    x, y = regression
    y = y.copy()
    y[20] = np.nan
    history = small_model().fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                                callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and "Batch 1: Invalid loss" in capsys.readouterr().out


def test_fit_verbose_2_prints_one_keras_line_per_epoch(regression):
    x, y = regression
    out = io.StringIO()
    small_model().fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[callbacks.ProgbarLogger(2, stream=out)])
    assert re.fullmatch(r"(Epoch [12]/2\n2/2 - \d+s - \d+(s|ms|us)/step - loss: \d+\.\d{4}\n){2}", out.getvalue())


def test_format_logs_switches_to_scientific_for_tiny_values():
    assert callbacks.format_logs({"loss": 0.12345, "lr": 1e-4, "n": 3}) == "loss: 0.1235 - lr: 1.0000e-04 - n: 3"


def test_fit_model_checkpoint_best_weights(tmp_path, regression):
    """Saves only when val_loss improves; the file reloads into a new model."""
    x, y = regression
    model = small_model()
    script, snapshots = [0.9, 0.95, 0.5, 0.7], []

    def scripted(epoch, logs):
        logs["val_loss"] = script[epoch]
        snapshots.append(model.get_weights())

    pattern = str(tmp_path / "best-{epoch:02d}.weights.h5")
    model.fit(x, y, epochs=4, batch_size=16, verbose=0,
              callbacks=[LambdaCallback(on_epoch_end=scripted),
                         ModelCheckpoint(pattern, save_best_only=True, save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["best-01.weights.h5", "best-03.weights.h5"]
    fresh = small_model()
    fresh.load_weights(str(tmp_path / "best-03.weights.h5"))
    for got, want in zip(fresh.get_weights(), snapshots[2]):
        np.testing.assert_array_equal(got, want)


def test_fit_model_checkpoint_whole_model(tmp_path, regression):
    from shendu.models import load_model
    x, y = regression
    model = small_model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"))])
    assert sorted(os.listdir(tmp_path)) == ["m-1.keras", "m-2.keras"]
    np.testing.assert_allclose(load_model(str(tmp_path / "m-2.keras")).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_fit_backup_and_restore_reloads_the_last_backup(tmp_path, regression):
    x, y = regression
    backup = str(tmp_path / "backup")
    first = small_model()
    first.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(backup, delete_checkpoint=False)])
    at_begin = []
    second = small_model()
    history = second.fit(x, y, epochs=3, verbose=0,
                         callbacks=[BackupAndRestore(backup), LambdaCallback(on_train_begin=lambda logs: at_begin.append(
                             second.get_weights()))])
    for got, want in zip(at_begin[0], first.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert history.epoch == [2]                      # resumed after the two finished epochs
    assert not os.path.exists(backup)


def test_progress_lines_for_predict_and_evaluate_on_a_generator_of_unknown_length(capsys):
    from shendu import keras

    def batches():
        for _ in range(3):
            yield np.ones((4, 3), "float32"), np.ones((4, 2), "float32")

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    assert model.predict(batches(), verbose=1).shape == (12, 2)
    model.evaluate(batches(), verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3/3 - ") and lines[0].endswith("/step")
    assert lines[1].startswith("3/3 - ") and "loss: " in lines[1]


@pytest.mark.parametrize("kill_at", ["write_atomically", "replace"])
def test_a_backup_killed_between_its_two_files_resumes_with_weights_and_epoch_that_belong_together(tmp_path,
                                                                                                   monkeypatch, kill_at):
    """A backup is two files (weights, then the epoch): a kill between them must never pair new weights with
    the old epoch count (which would train an epoch twice). Killed just before the epoch is committed, the
    job resumes from the previous backup; just after, from the new one."""
    from shendu import keras
    from shendu.callbacks import checkpoint

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")

    def model():
        keras.utils.set_random_seed(1)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        m.compile("sgd", "mse")
        return m

    whole = model()
    whole.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)

    real, saves = getattr(checkpoint, kill_at) if kill_at != "replace" else os.replace, []

    def killed(*args, **kwargs):
        saves.append(1)
        # the second epoch's backup: its metadata write, or its last rename (each backup renames three
        # times: the weights' and the metadata's atomic writes, then pending -> latest)
        if len(saves) == (2 if kill_at == "write_atomically" else 6):
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    if kill_at == "replace":
        monkeypatch.setattr(checkpoint.os, "replace", killed)
    else:
        monkeypatch.setattr(checkpoint, kill_at, killed)
    with pytest.raises(KeyboardInterrupt):
        model().fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                    callbacks=[BackupAndRestore(tmp_path / "backup")])
    monkeypatch.undo()
    resumed = model()
    history = resumed.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                          callbacks=[BackupAndRestore(tmp_path / "backup")])
    assert history.epoch == ([1, 2] if kill_at == "write_atomically" else [2])
    for ours, theirs in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
