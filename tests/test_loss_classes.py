"""shendu/losses.py, the Loss classes: one reduction path with sample weights, checked against
Keras 3's loss classes; gradients by gradcheck; lookup by name; configs."""
from __future__ import annotations


import numpy as np
import pytest

import shendu as sd
from shendu import losses
from shendu.testing import gradcheck

REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def _np(x):
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)


def probs(r, shape):
    p = r.random(shape) + 0.05
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)


DATA = {
    "regression": lambda r, n: (r.normal(size=(n, 3)), r.normal(size=(n, 3))),
    "positive": lambda r, n: (r.random((n, 3)) + 0.5, r.random((n, 3)) + 0.5),
    "binary": lambda r, n: (r.integers(0, 2, (n, 3)), r.random((n, 3))),
    "signed": lambda r, n: (2 * r.integers(0, 2, (n, 3)) - 1, r.normal(size=(n, 3))),
    "logits": lambda r, n: (r.integers(0, 2, (n, 3)), 4 * r.normal(size=(n, 3))),
    "onehot": lambda r, n: (np.eye(4)[r.integers(0, 4, n)], probs(r, (n, 4))),
    "onehot_logits": lambda r, n: (np.eye(4)[r.integers(0, 4, n)], 3 * r.normal(size=(n, 4))),
    "distribution": lambda r, n: (probs(r, (n, 4)), probs(r, (n, 4))),
    "sparse": lambda r, n: (r.integers(0, 4, n), probs(r, (n, 4))),
    "sparse_col": lambda r, n: (r.integers(0, 4, (n, 1)), 3 * r.normal(size=(n, 4))),
    "sequence": lambda r, n: (r.normal(size=(n, 5, 2)), r.normal(size=(n, 5, 2))),
    "sparse_sequence": lambda r, n: (r.integers(0, 4, (n, 5)), probs(r, (n, 5, 4))),
    "flat_labels": lambda r, n: (r.integers(0, 2, n), r.random((n, 1))),
}

CASES = [
    ("MeanSquaredError", {}, "regression"),
    ("MeanSquaredError", {}, "sequence"),
    ("MeanSquaredError", {}, "flat_labels"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "positive"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("Huber", {}, "regression"),
    ("Huber", {"delta": 0.4}, "sequence"),
    ("LogCosh", {}, "regression"),
    ("KLDivergence", {}, "distribution"),
    ("Poisson", {}, "positive"),
    ("Hinge", {}, "binary"),
    ("Hinge", {}, "signed"),
    ("SquaredHinge", {}, "signed"),
    ("CategoricalHinge", {}, "onehot"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {}, "flat_labels"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logits"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot_logits"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_col"),
    ("SparseCategoricalCrossentropy", {}, "sparse_sequence"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 0, "from_logits": True}, "sparse_col"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse_sequence"),
]

WEIGHTS = {
    "none": lambda r, y_pred: None,
    "per_sample": lambda r, y_pred: r.random(y_pred.shape[0]).astype(np.float32) if y_pred.ndim == 2 else None,
    "column": lambda r, y_pred: r.random((y_pred.shape[0], 1)).astype(np.float32),
    "per_timestep": lambda r, y_pred: r.random(y_pred.shape[:2]).astype(np.float32) if y_pred.ndim == 3 else None,
}


def _case_id(case):
    name, kwargs, data = case
    return f"{name}({','.join(f'{k}={v}' for k, v in kwargs.items())})-{data}"


@pytest.mark.parametrize("reduction", REDUCTIONS, ids=str)
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_loss_class_matches_keras(keras, case, reduction):
    name, kwargs, data = case
    r = np.random.default_rng(0)
    y_true, y_pred = DATA[data](r, 6)
    y_pred = y_pred.astype(np.float32)
    ours = getattr(losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    for weighting, make in WEIGHTS.items():
        sw = make(r, y_pred)
        if sw is None and weighting != "none":
            continue
        if weighting == "column" and "ignore_class" in kwargs and y_pred.ndim == 3:
            continue    # Keras multiplies (batch, 1) weights by the (batch, time) mask in place and fails
        got = ours(y_true, sd.tensor(y_pred), sample_weight=sw)
        assert isinstance(got, sd.Tensor) and got.dtype == np.float32
        expected = _np(theirs(y_true, y_pred, sample_weight=sw))
        assert got.shape == expected.shape, weighting
        np.testing.assert_allclose(got.numpy(), expected, rtol=2e-6, atol=1e-6, err_msg=weighting)


def test_per_sample_weights_scale_whole_sequences():
    """(batch,) weights with (batch, time) losses weigh each sample's sequence (Keras 3 would fail or
    broadcast them over the time axis when batch == time)."""
    r = np.random.default_rng(1)
    y_true, y_pred = r.normal(size=(4, 4, 2)), r.normal(size=(4, 4, 2))
    sw = np.array([0.0, 1.0, 2.0, 0.5])
    per_step = ((y_pred - y_true) ** 2).mean(-1)
    expected = (per_step * sw[:, None]).sum()
    got = losses.MeanSquaredError(reduction="sum")(y_true, y_pred, sample_weight=sw)
    assert float(got) == pytest.approx(expected)
    got = losses.MeanSquaredError()(y_true, y_pred, sample_weight=sw)
    assert float(got) == pytest.approx(expected / 16)


def test_keras_mask_on_predictions_averages_over_kept_steps():
    y_true, y_pred = np.zeros((2, 3, 1)), sd.tensor(np.arange(6.0).reshape(2, 3, 1))
    y_pred._keras_mask = np.array([[True, True, False], [True, False, False]])
    got = losses.MeanSquaredError()(y_true, y_pred)
    assert float(got) == pytest.approx((0 + 1 + 9) / 3)
    got = losses.MeanSquaredError(reduction="sum")(y_true, y_pred)
    assert float(got) == pytest.approx(10.0)


def test_zero_weights_give_zero_not_nan():
    got = losses.MeanSquaredError(reduction="mean_with_sample_weight")(np.ones((3, 2)), np.zeros((3, 2)),
                                                                        sample_weight=np.zeros(3))
    assert float(got) == 0.0


@pytest.mark.parametrize("loss, data, sw", [
    (losses.MeanSquaredError(), "regression", "per_sample"),
    (losses.Huber(delta=0.7, reduction="sum"), "regression", "column"),
    (losses.LogCosh(reduction="mean_with_sample_weight"), "sequence", "per_timestep"),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), "logits", "per_sample"),
    (losses.CategoricalCrossentropy(), "onehot", "none"),
    (losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1), "sparse_col", "per_sample"),
    (losses.KLDivergence(), "distribution", "column"),
    (losses.MeanSquaredLogarithmicError(reduction="none"), "positive", "per_sample"),
], ids=lambda x: x if isinstance(x, str) else type(x).__name__)
def test_loss_gradients(loss, data, sw):
    r = np.random.default_rng(2)
    y_true, y_pred = DATA[data](r, 5)
    weights = WEIGHTS[sw](r, y_pred)
    assert gradcheck(lambda p: loss(y_true, p, sample_weight=weights), y_pred.astype(np.float64))


def test_float64_predictions_stay_float64_and_dtype_casts():
    y = np.zeros((2, 3))
    assert losses.MeanSquaredError()(y, np.ones((2, 3))).dtype == np.float64
    assert losses.MeanSquaredError(dtype="float32")(y, np.ones((2, 3))).dtype == np.float32


def test_loss_function_wrapper_and_custom_subclass():
    def scaled_mse(y_true, y_pred, scale=1.0):
        return scale * losses.mean_squared_error(y_true, y_pred)

    y_true, y_pred = np.zeros((4, 2)), np.ones((4, 2), np.float32)
    wrapped = losses.LossFunctionWrapper(scaled_mse, scale=3.0, reduction="sum")
    assert float(wrapped(y_true, y_pred)) == pytest.approx(12.0)
    assert wrapped.name == "loss_function_wrapper"

    class AbsSum(losses.Loss):
        def call(self, y_true, y_pred):
            return sd.sum(sd.abs(y_pred - y_true), axis=-1)

    assert float(AbsSum()(y_true, y_pred, sample_weight=[1, 0, 0, 1])) == pytest.approx(1.0)
    assert AbsSum().name == "abs_sum"


def test_invalid_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


def test_get_mirrors_keras(keras):
    for identifier in ["mse", "MSE", "mae", "mape", "msle", "bce", "kld", "mean_squared_error", "huber", "log_cosh",
                       "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                       "hinge", "MeanSquaredError", "Huber", "SparseCategoricalCrossentropy", "BinaryCrossentropy"]:
        ours, theirs = losses.get(identifier), keras.losses.get(identifier)
        if isinstance(theirs, keras.losses.Loss):
            assert type(ours).__name__ == type(theirs).__name__, identifier
        else:
            assert ours.__name__ == theirs.__name__, identifier
    assert losses.get(None) is None
    assert losses.get(losses.huber) is losses.huber
    fn = lambda y_true, y_pred: y_pred    # noqa: E731
    assert losses.get(fn) is fn
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    got = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(got, losses.CategoricalCrossentropy) and got.from_logits


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Could not interpret loss identifier 'mean_sqared_error'.*"
                                         "sparse_categorical_crossentropy"):
        losses.get("mean_sqared_error")
    with pytest.raises(ValueError):
        losses.get(3.5)


def test_configs_match_keras_and_round_trip(keras):
    for name, kwargs, _ in CASES:
        ours, theirs = getattr(losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
        mine = ours.get_config()
        for key, value in theirs.get_config().items():
            assert mine[key] == value, (name, key)
        again = losses.deserialize(losses.serialize(ours))
        assert type(again) is type(ours) and again.get_config() == mine
    # Keras drops Huber's delta from its config; ours keeps it so the round trip is faithful
    assert losses.deserialize(losses.serialize(losses.Huber(delta=0.3))).get_config()["delta"] == 0.3
    assert losses.deserialize(losses.serialize(losses.mean_squared_error)) is losses.mean_squared_error


def test_wrapper_config_round_trip_with_custom_objects():
    def my_loss(y_true, y_pred, power=2):
        return sd.mean(sd.abs(y_pred - y_true) ** power, axis=-1)

    wrapped = losses.LossFunctionWrapper(my_loss, name="mine", power=3)
    config = losses.serialize(wrapped)
    assert config["config"]["fn"]["config"] == "my_loss" and config["config"]["power"] == 3
    again = losses.deserialize(config, custom_objects={"my_loss": my_loss})
    assert again.fn is my_loss and again.get_config() == wrapped.get_config()
