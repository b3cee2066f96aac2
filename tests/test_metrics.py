"""shendu/metrics: every metric against Keras 3's over several uneven, weighted batches; lookup by
name, 'accuracy' resolution, configs."""
from __future__ import annotations

import re

import numpy as np
import pytest

import shendu as sd
from shendu import losses, metrics

BATCHES = (7, 5, 3)          # uneven on purpose: the last batch is short


def _np(x):
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)


# ------------------------------------------------------------------------------ data generators

def probs(r, n, c):
    p = r.random((n, c)).astype(np.float32) + 0.05
    return p / p.sum(-1, keepdims=True)


def one_hot(r, n, c):
    return np.eye(c, dtype=np.float32)[r.integers(0, c, n)]


DATA = {
    # name: (y_true, y_pred) for a batch of n samples
    "binary": lambda r, n: (r.integers(0, 2, (n, 1)).astype(np.float32), r.random((n, 1)).astype(np.float32)),
    "binary_flat_labels": lambda r, n: (r.integers(0, 2, n).astype(np.float32), r.random((n, 1)).astype(np.float32)),
    "multilabel": lambda r, n: (r.integers(0, 2, (n, 4)).astype(np.float32), r.random((n, 4)).astype(np.float32)),
    "onehot": lambda r, n: (one_hot(r, n, 5), probs(r, n, 5)),
    "sparse": lambda r, n: (r.integers(0, 5, n), probs(r, n, 5)),
    "sparse_col": lambda r, n: (r.integers(0, 5, (n, 1)), probs(r, n, 5)),
    "sparse_seq": lambda r, n: (r.integers(0, 5, (n, 3)), probs(r, n * 3, 5).reshape(n, 3, 5)),
    "labels": lambda r, n: (r.integers(0, 3, (n, 1)), r.integers(0, 3, (n, 1))),
    "regression": lambda r, n: (r.normal(size=(n, 3)).astype(np.float32), r.normal(size=(n, 3)).astype(np.float32)),
    "positive": lambda r, n: ((r.random((n, 3)) + 0.5).astype(np.float32), (r.random((n, 3)) + 0.5).astype(np.float32)),
    "distribution": lambda r, n: (probs(r, n, 4), probs(r, n, 4)),
    "seq_regression": lambda r, n: (r.normal(size=(n, 4, 2)).astype(np.float32),
                                    r.normal(size=(n, 4, 2)).astype(np.float32)),
    "logits": lambda r, n: (r.integers(0, 2, (n, 1)).astype(np.float32), r.normal(size=(n, 1)).astype(np.float32) * 3),
}

WEIGHTS = {
    "none": lambda r, n, data: None,
    "per_sample": lambda r, n, data: r.random(n).astype(np.float32),
    "column": lambda r, n, data: r.random((n, 1)).astype(np.float32),
}


def run_both(keras, ours, theirs, data, weights, seed=0):
    r = np.random.default_rng(seed)
    for n in BATCHES:
        y_true, y_pred = DATA[data](r, n)
        sw = WEIGHTS[weights](r, n, data) if isinstance(weights, str) else weights(r, n, y_true)
        ours.update_state(y_true, y_pred, sample_weight=sw)
        theirs.update_state(y_true, y_pred, sample_weight=sw)
        np.testing.assert_allclose(np.asarray(ours.result(), np.float64), _np(theirs.result()),
                                   rtol=1e-6, atol=1e-6, err_msg=f"{ours.name} after a batch of {n}")
    return ours


# (shendu factory, keras factory) by name, the data they take, and the weightings that make sense
CASES = [
    ("Accuracy", {}, "labels"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary_flat_labels"),
    ("BinaryAccuracy", {}, "multilabel"),
    ("CategoricalAccuracy", {}, "onehot"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_col"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse_col"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.3, 0.5, 0.7]}, "multilabel"),
    ("Precision", {"thresholds": [0.0, 0.5, 1.0]}, "binary"),
    ("Precision", {"top_k": 2}, "multilabel"),
    ("Precision", {"class_id": 1}, "multilabel"),
    ("Recall", {}, "binary_flat_labels"),
    ("Recall", {"thresholds": [0.2, 0.6]}, "multilabel"),
    ("Recall", {"top_k": 1, "class_id": 2}, "multilabel"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.25, 0.75]}, "binary"),
    ("TrueNegatives", {}, "multilabel"),
    ("FalseNegatives", {}, "binary"),
    ("AUC", {}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"num_thresholds": 17, "summation_method": "minoring"}, "multilabel"),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "multilabel"),
    ("AUC", {"thresholds": [0.1, 0.35, 0.4, 0.8]}, "binary"),
    ("AUC", {"multi_label": True}, "multilabel"),
    ("AUC", {"multi_label": True, "curve": "PR", "label_weights": [1.0, 2.0, 0.5, 0.0]}, "multilabel"),
    ("AUC", {"from_logits": True}, "logits"),
    ("F1Score", {}, "onehot"),
    ("F1Score", {"average": "micro", "threshold": 0.5}, "multilabel"),
    ("F1Score", {"average": "macro"}, "multilabel"),
    ("F1Score", {"average": "weighted", "threshold": 0.4}, "multilabel"),
    ("FBetaScore", {"beta": 2.0, "average": "macro", "threshold": 0.5}, "multilabel"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanSquaredError", {}, "seq_regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression"),
    ("RootMeanSquaredError", {}, "seq_regression"),
    ("MeanAbsolutePercentageError", {}, "positive"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("LogCoshError", {}, "regression"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logits"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {}, "sparse_seq"),
    ("KLDivergence", {}, "distribution"),
    ("Poisson", {}, "positive"),
    ("Hinge", {}, "multilabel"),
    ("SquaredHinge", {}, "multilabel"),
    ("CategoricalHinge", {}, "onehot"),
]


def _case_id(case):
    name, kwargs, data = case
    args = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{name}({args})-{data}"


# Keras's F-scores expand (batch, 1) weights to (batch, 1, 1) and broadcast them wrongly, so for them
# column weights are not compared with Keras (test_f_score_column_weights_equal_per_sample_weights covers them)
WEIGHTED_CASES = [(case, weights) for case in CASES for weights in ("none", "per_sample", "column")
                  if not (case[0].startswith(("F1", "FBeta")) and weights == "column")]


@pytest.mark.parametrize("case,weights", WEIGHTED_CASES, ids=[f"{_case_id(c)}-{w}" for c, w in WEIGHTED_CASES])
def test_metric_matches_keras_over_uneven_weighted_batches(keras, case, weights):
    name, kwargs, data = case
    ours = getattr(metrics, name)(**kwargs)
    theirs = getattr(keras.metrics, name)(**kwargs)
    run_both(keras, ours, theirs, data, weights)
    # reset_state starts over: the same batches again give the same result
    first = np.asarray(ours.result())
    ours.reset_state()
    assert np.all(np.asarray(ours.result()) == 0)
    theirs.reset_state()
    run_both(keras, ours, theirs, data, weights)
    np.testing.assert_allclose(np.asarray(ours.result()), first, rtol=1e-12)


def test_sequence_weights_per_timestep_match_keras(keras):
    per_timestep = lambda r, n, y_true: r.random(y_true.shape[:2]).astype(np.float32)   # noqa: E731
    run_both(keras, metrics.MeanSquaredError(), keras.metrics.MeanSquaredError(), "seq_regression", per_timestep)
    run_both(keras, metrics.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy(), "sparse_seq",
             per_timestep)


@pytest.mark.parametrize("weights", ["none", "per_sample", "column"])
def test_mean_and_sum_match_keras(keras, weights):
    r = np.random.default_rng(1)
    for ours, theirs in [(metrics.Mean(), keras.metrics.Mean()), (metrics.Sum(), keras.metrics.Sum())]:
        for n in BATCHES:
            values = r.normal(size=(n, 3)).astype(np.float32)
            sw = WEIGHTS[weights](r, n, None)
            ours.update_state(values, sample_weight=sw)
            theirs.update_state(values, sample_weight=sw)
        np.testing.assert_allclose(ours.result(), _np(theirs.result()), rtol=1e-6, atol=1e-6)


def test_mean_of_one_number_per_update_equals_the_array_path():
    """The loss tracker's update (a float and a batch size) skips the arrays; its state is the same bit for bit."""
    quick, arrays = metrics.Mean(), metrics.Mean()
    r = np.random.default_rng(4)
    for value, weight in zip(r.normal(size=6), [None, 32, 7, 0.5, None, 1]):
        quick.update_state(float(value), sample_weight=weight)
        arrays.update_state(np.asarray([value]), sample_weight=None if weight is None else np.asarray([weight]))
    assert quick.total.value == arrays.total.value and quick.count.value == arrays.count.value
    assert quick.result() == arrays.result()


def test_mean_metric_wrapper_of_any_loss_matches_keras(keras):
    def mse(y_true, y_pred):       # a user's own per-sample function
        return ((y_pred - y_true) ** 2).mean(axis=-1)

    run_both(keras, metrics.MeanMetricWrapper(losses.huber, delta=0.5),
             keras.metrics.MeanMetricWrapper(keras.losses.huber, delta=0.5), "regression", "per_sample")
    run_both(keras, metrics.MeanMetricWrapper(mse), keras.metrics.MeanMetricWrapper(mse), "regression", "column")


def test_uneven_last_batch_is_weighted_by_its_size():
    m = metrics.BinaryAccuracy()
    m.update_state(np.ones((4, 1)), np.ones((4, 1)))       # 4 right
    m.update_state(np.ones((1, 1)), np.zeros((1, 1)))      # 1 wrong
    assert m.result() == pytest.approx(0.8)                # not (1 + 0) / 2


def test_metrics_accept_shendu_tensors():
    m = metrics.CategoricalAccuracy()
    y_pred = sd.tensor([[0.1, 0.9], [0.8, 0.2]], requires_grad=True)
    m.update_state(sd.tensor([[0.0, 1.0], [0.0, 1.0]]), y_pred)
    assert m.result() == 0.5
    mse = metrics.MeanSquaredError()
    mse.update_state(sd.tensor([[1.0], [2.0]]), y_pred[:, :1])
    assert mse.result() == pytest.approx(((0.1 - 1) ** 2 + (0.8 - 2) ** 2) / 2, rel=1e-6)


def test_keras_mask_on_predictions_is_honoured():
    y_pred = sd.tensor([[1.0, 2.0, 3.0]]).reshape(1, 3, 1)
    y_pred._keras_mask = np.array([[True, True, False]])
    m = metrics.MeanSquaredError()
    m.update_state(np.zeros((1, 3, 1)), y_pred)
    assert m.result() == pytest.approx((1 + 4) / 2)


def test_default_names_and_configs_match_keras(keras):
    for name, kwargs, _ in CASES:
        ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
        assert ours.name == re.sub(r"_\d+$", "", theirs.name)
        mine, expected = ours.get_config(), theirs.get_config()
        expected["name"] = ours.name
        for key, value in expected.items():
            if key == "label_weights" and value is not None:
                value = _np(value).tolist()
            assert mine[key] == value, (name, key)
        again = type(ours).from_config(mine)
        assert again.get_config() == mine


def test_get_mirrors_keras_names(keras):
    for identifier in ["mse", "mae", "MAPE", "msle", "bce", "binary_accuracy", "categorical_accuracy",
                       "sparse_categorical_accuracy", "top_k_categorical_accuracy",
                       "sparse_top_k_categorical_accuracy", "precision", "recall", "auc", "f1_score",
                       "root_mean_squared_error", "mean_squared_error", "binary_crossentropy",
                       "sparse_categorical_crossentropy", "kl_divergence", "AUC", "Precision", "log_cosh_error"]:
        assert type(metrics.get(identifier)).__name__ == type(keras.metrics.get(identifier)).__name__, identifier
    assert metrics.get(None) is None
    m = metrics.Recall()
    assert metrics.get(m) is m
    assert metrics.get(metrics.binary_accuracy) is metrics.binary_accuracy
    assert isinstance(metrics.get({"class_name": "AUC", "config": {"curve": "PR"}}), metrics.AUC)


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Could not interpret metric identifier 'acuracy'.*binary_accuracy"):
        metrics.get("acuracy")
    with pytest.raises(ValueError):
        metrics.get(42)


def test_get_accuracy_is_resolved_on_first_update():
    for identifier in ("accuracy", "acc"):
        m = metrics.get(identifier)
        assert isinstance(m, metrics.AutoAccuracy) and m.name == identifier
        m.update_state(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]))
        assert isinstance(m.resolved, metrics.SparseCategoricalAccuracy)
        assert m.result() == 0.5
        m.reset_state()
        assert m.result() == 0.0


SHAPES = [((8, 1), (8, 1)), ((8,), (8, 1)), ((8,), (8, 10)), ((8, 1), (8, 10)), ((8, 10), (8, 10)),
          ((8, 5), (8, 5, 7)), ((8, 5, 1), (8, 5, 7)), ((8, 5, 7), (8, 5, 7)), ((8, 3), (8, 3))]


@pytest.mark.parametrize("shapes", SHAPES, ids=[f"{a}-{b}" for a, b in SHAPES])
@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
def test_resolve_accuracy_matches_keras_compile(keras, shapes, identifier):
    from keras.src.trainers.compile_utils import get_metric
    y_true, y_pred = np.zeros(shapes[0]), np.zeros(shapes[1])
    theirs = get_metric(identifier, y_true, y_pred)
    for loss in (None, "binary_crossentropy", losses.categorical_crossentropy):
        ours = metrics.resolve_accuracy(loss, y_true.shape, y_pred.shape, name=identifier)
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.name == theirs.name == identifier
    ours = metrics.resolve(identifier, shapes[0], shapes[1])
    assert (type(ours).__name__, ours.name) == (type(theirs).__name__, theirs.name)


def test_resolve_names_metrics_like_keras_compile(keras):
    from keras.src.trainers.compile_utils import get_metric
    y = np.zeros((4, 1))
    for identifier, ours_id, theirs_id in [
        ("mse", "mse", "mse"), ("mae", "mae", "mae"), ("auc", "auc", "auc"), ("precision", "precision", "precision"),
        ("binary_accuracy", "binary_accuracy", "binary_accuracy"),
        ("fn", losses.mean_squared_error, keras.losses.mean_squared_error),
        ("instance", metrics.Recall(name="rec"), keras.metrics.Recall(name="rec")),
        ("loss object", losses.Huber(), keras.losses.Huber()),
    ]:
        ours, theirs = metrics.resolve(ours_id, y.shape, y.shape), get_metric(theirs_id, y, y)
        assert ours.name == theirs.name, identifier
        assert isinstance(ours, metrics.Metric)
    wrapped = metrics.resolve(losses.mean_squared_error, y.shape, y.shape)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "mean_squared_error"


def test_serialize_round_trip():
    for m in [metrics.AUC(curve="PR", num_thresholds=20), metrics.Precision(thresholds=[0.2, 0.4]),
              metrics.BinaryAccuracy(threshold=0.3), metrics.F1Score(average="macro"),
              metrics.SparseCategoricalCrossentropy(from_logits=True),
              metrics.MeanMetricWrapper(losses.huber, name="hub", delta=2.0)]:
        again = metrics.deserialize(metrics.serialize(m))
        assert type(again) is type(m) and again.get_config() == m.get_config()
    assert metrics.deserialize(metrics.serialize(metrics.binary_accuracy)) is metrics.binary_accuracy


def test_custom_metric_with_add_variable():
    class BinaryTruePositives(metrics.Metric):
        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros", name="tp")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hits = (np.asarray(y_true) == 1) & (np.asarray(y_pred) > 0.5)
            self.true_positives.assign_add(hits.sum())

        def result(self):
            return self.true_positives

    m = BinaryTruePositives()
    m.update_state(np.array([1, 1, 0]), np.array([0.9, 0.2, 0.8]))
    m.update_state(np.array([1]), np.array([0.7]))
    assert float(m.result()) == 2.0 and m.result() + 1 == 3.0
    m.reset_states()
    assert float(m.result()) == 0.0


def test_argument_errors():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="ROCK")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="2-D"):
        metrics.F1Score().update_state(np.array([1, 0]), np.array([0.3, 0.6]))


@pytest.mark.parametrize("name", ["F1Score", "FBetaScore"])
def test_f_score_column_weights_equal_per_sample_weights(name):
    rng = np.random.default_rng(3)
    y_true = (rng.random((12, 3)) > 0.5).astype("float32")
    y_pred = rng.random((12, 3)).astype("float32")
    w = rng.random(12).astype("float32")
    by_sample, by_column = getattr(metrics, name)(threshold=0.5), getattr(metrics, name)(threshold=0.5)
    by_sample.update_state(y_true, y_pred, sample_weight=w)
    by_column.update_state(y_true, y_pred, sample_weight=w[:, None])
    np.testing.assert_allclose(by_column.result(), by_sample.result(), rtol=1e-6)
    assert np.any(np.asarray(by_sample.result()) > 0)
