"""The metric contract, stated with shendu's metrics: state in named variables, Keras 3's values for the
operating-point metrics and AUC(curve='PRGAIN'), config round trips and argument errors."""
from __future__ import annotations

import numpy as np
import pytest

from shendu import metrics

RNG = np.random.default_rng(3)
Y_TRUE = (RNG.uniform(size=(64,)) > 0.4).astype(np.float32)
Y_PRED = np.clip(Y_TRUE * 0.3 + RNG.uniform(size=(64,)) * 0.7, 0, 1).astype(np.float32)
WEIGHTS = RNG.uniform(0.2, 2.0, size=(64,)).astype(np.float32)
MULTI_TRUE = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, size=40)]
MULTI_PRED = RNG.uniform(size=(40, 3)).astype(np.float32)

OPERATING_POINT = [
    ("SensitivityAtSpecificity", {"specificity": 0.6}),
    ("SensitivityAtSpecificity", {"specificity": 0.95, "num_thresholds": 17}),
    ("SpecificityAtSensitivity", {"sensitivity": 0.7}),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "num_thresholds": 1}),
    ("PrecisionAtRecall", {"recall": 0.5}),
    ("PrecisionAtRecall", {"recall": 0.9, "num_thresholds": 50}),
    ("RecallAtPrecision", {"precision": 0.7}),
    ("RecallAtPrecision", {"precision": 1.0}),
]


def _two_batches(metric, y_true, y_pred, sample_weight=None):
    half = len(y_true) // 2
    for part in (slice(0, half), slice(half, None)):
        metric.update_state(y_true[part], y_pred[part],
                            sample_weight=None if sample_weight is None else sample_weight[part])
    return float(np.asarray(metric.result()))


@pytest.mark.parametrize("name,kwargs", OPERATING_POINT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPERATING_POINT)])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_operating_point_metrics_match_keras(keras, name, kwargs, weighted):
    w = WEIGHTS if weighted else None
    want = _two_batches(getattr(keras.metrics, name)(**kwargs), Y_TRUE, Y_PRED, w)
    got = _two_batches(getattr(metrics, name)(**kwargs), Y_TRUE, Y_PRED, w)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name,kwargs", OPERATING_POINT[::2], ids=[n for n, _ in OPERATING_POINT[::2]])
def test_operating_point_metrics_with_class_id_match_keras(keras, name, kwargs):
    want = _two_batches(getattr(keras.metrics, name)(class_id=1, **kwargs), MULTI_TRUE, MULTI_PRED)
    got = _two_batches(getattr(metrics, name)(class_id=1, **kwargs), MULTI_TRUE, MULTI_PRED)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name,kwargs", OPERATING_POINT[::2], ids=[n for n, _ in OPERATING_POINT[::2]])
def test_operating_point_metrics_keep_four_named_variables_and_reset(name, kwargs):
    m = getattr(metrics, name)(num_thresholds=9, **kwargs)
    assert [v.name for v in m.variables] == ["true_positives", "false_positives", "true_negatives",
                                             "false_negatives"]
    assert all(v.shape == (9,) for v in m.variables)
    m.update_state(Y_TRUE, Y_PRED)
    assert m.true_positives.numpy().sum() > 0
    m.reset_state()
    assert all(not v.numpy().any() for v in m.variables)
    assert m.result() == 0.0


@pytest.mark.parametrize("name,kwargs", OPERATING_POINT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPERATING_POINT)])
def test_operating_point_metrics_config_round_trip(name, kwargs):
    m = getattr(metrics, name)(class_id=2, name="op", **kwargs)
    config = m.get_config()
    target = next(iter(kwargs))
    assert config[target] == kwargs[target] and config["class_id"] == 2 and config["name"] == "op"
    assert config["num_thresholds"] == kwargs.get("num_thresholds", 200)
    assert type(m).from_config(config).get_config() == config
    rebuilt = metrics.deserialize(metrics.serialize(m))
    assert type(rebuilt) is type(m) and rebuilt.get_config() == config


@pytest.mark.parametrize("name,target", [("SensitivityAtSpecificity", "specificity"),
                                         ("SpecificityAtSensitivity", "sensitivity"),
                                         ("PrecisionAtRecall", "recall"), ("RecallAtPrecision", "precision")])
def test_operating_point_metrics_refuse_bad_arguments(name, target):
    with pytest.raises(ValueError, match=rf"`{target}` must be in the range \[0, 1\]. Received: {target}=1.5"):
        getattr(metrics, name)(1.5)
    with pytest.raises(ValueError, match=r"`num_thresholds` must be an integer > 0. Received: num_thresholds=0"):
        getattr(metrics, name)(0.5, num_thresholds=0)


def test_recall_at_an_unreachable_precision_is_zero():
    m = metrics.RecallAtPrecision(0.99)
    m.update_state([0, 0, 1, 1], [0.9, 0.8, 0.1, 0.2])
    assert m.result() == 0.0


@pytest.mark.parametrize("summation_method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_auc_prgain_matches_keras(keras, summation_method, weighted):
    w = WEIGHTS if weighted else None
    want = _two_batches(keras.metrics.AUC(num_thresholds=25, curve="PRGAIN", summation_method=summation_method),
                        Y_TRUE, Y_PRED, w)
    got = _two_batches(metrics.AUC(num_thresholds=25, curve="PRGAIN", summation_method=summation_method),
                       Y_TRUE, Y_PRED, w)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_auc_prgain_multi_label_matches_keras(keras):
    want = _two_batches(keras.metrics.AUC(num_thresholds=20, curve="PRGAIN", multi_label=True), MULTI_TRUE,
                        MULTI_PRED)
    got = _two_batches(metrics.AUC(num_thresholds=20, curve="PRGAIN", multi_label=True), MULTI_TRUE, MULTI_PRED)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_auc_state_is_four_variables_made_late_for_unknown_label_counts():
    assert [v.name for v in metrics.AUC(num_thresholds=7).variables] == [
        "true_positives", "false_positives", "true_negatives", "false_negatives"]
    assert metrics.AUC(num_thresholds=7, multi_label=True, num_labels=3).true_positives.shape == (7, 3)
    late = metrics.AUC(num_thresholds=7, multi_label=True)
    assert late.variables == []
    late.update_state(MULTI_TRUE, MULTI_PRED)
    assert late.false_negatives.shape == (7, 3)
    late.reset_state()
    assert not late.true_positives.numpy().any()


def test_auc_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r'Invalid AUC curve value: "Invalid"'):
        metrics.AUC(curve="Invalid")
    with pytest.raises(ValueError, match=r'Invalid AUC summation method value: "Invalid"'):
        metrics.AUC(summation_method="Invalid")
    with pytest.raises(ValueError, match=r"`num_thresholds` must be an integer > 1. Received: num_thresholds=1"):
        metrics.AUC(num_thresholds=1)
    assert metrics.AUC(curve="prgain").get_config()["curve"] == "PRGAIN"


@pytest.mark.parametrize("cls,names", [
    (metrics.Precision, ["true_positives", "false_positives"]),
    (metrics.Recall, ["true_positives", "false_negatives"]),
    (metrics.TruePositives, ["accumulator"]), (metrics.FalseNegatives, ["accumulator"]),
    (metrics.Accuracy, ["total", "count"]), (metrics.BinaryAccuracy, ["total", "count"]),
    (metrics.Mean, ["total", "count"]), (metrics.Sum, ["total"]),
    (metrics.MeanSquaredError, ["total", "count"]),
])
def test_metrics_expose_their_state_as_named_variables(cls, names):
    m = cls()
    assert [v.name for v in m.variables] == names
    for v in m.variables:
        assert getattr(m, v.name) is v


def test_confusion_state_accumulates_in_the_variables():
    p = metrics.Precision(thresholds=[0.3, 0.7])
    p.update_state([0, 1, 1, 0], [0.9, 0.8, 0.4, 0.2])
    np.testing.assert_array_equal(p.true_positives.numpy(), [2, 1])
    np.testing.assert_array_equal(p.false_positives.numpy(), [1, 1])
    snapshot = p.true_positives.numpy()
    p.update_state([1], [0.95])
    np.testing.assert_array_equal(snapshot, [2, 1])              # a copy, not a view of the state
    np.testing.assert_array_equal(p.true_positives.numpy(), [3, 2])


def test_mean_state_accumulates_in_the_variables():
    a = metrics.Accuracy()
    a.update_state([1, 2, 3, 4], [1, 2, 0, 4], sample_weight=[1, 1, 2, 1])
    assert float(a.total.numpy()) == 3.0 and float(a.count.numpy()) == 5.0
    assert a.result() == pytest.approx(0.6)
    a.reset_state()
    assert float(a.count.numpy()) == 0.0


def test_thresholds_out_of_range_are_named():
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]. Received: \[-1, 2\]"):
        metrics.FalsePositives(thresholds=[-1, 0.5, 2])
    with pytest.raises(ValueError, match=r"Received: \[None\]"):
        metrics.Precision(thresholds=[None])


def test_class_id_needs_two_dimensional_predictions():
    with pytest.raises(ValueError, match=r"When class_id is provided, y_pred must be a 2D array.*found shape: \(3,\)"):
        metrics.Precision(class_id=1).update_state([0, 1, 1], [0.2, 0.7, 0.9])
