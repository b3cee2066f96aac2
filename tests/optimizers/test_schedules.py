"""Learning-rate schedules: Keras 3's formulas, by hand and against Keras 3 over a range of steps."""
from __future__ import annotations

import math

import numpy as np
import pytest

from shendu import optimizers
from shendu.optimizers import schedules

# (class name, constructor kwargs)
CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[5, 20], values=[1.0, 0.5, 0.1])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=30, end_learning_rate=0.01, power=2.0,
                             cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=40, alpha=0.1, warmup_target=0.2, warmup_steps=10)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10, t_mul=1.0, m_mul=0.5,
                                 alpha=0.1)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
STEPS = list(range(0, 75)) + [100, 1000]


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_schedule_matches_keras(keras, name, kwargs):
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    got = np.array([ours(step) for step in STEPS])
    want = np.array([float(keras.ops.convert_to_numpy(theirs(step))) for step in STEPS])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)   # Keras evaluates in float32


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_config_round_trip_and_keras_keys(keras, name, kwargs):
    ours = getattr(schedules, name)(**kwargs)
    config = ours.get_config()
    assert config == getattr(keras.optimizers.schedules, name)(**kwargs).get_config()
    again = type(ours).from_config(config)
    assert again.get_config() == config
    rebuilt = schedules.deserialize(schedules.serialize(ours))
    assert type(rebuilt) is type(ours) and rebuilt(13) == ours(13)


def test_formulas_by_hand():
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(20) == pytest.approx(0.025)
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(19) == pytest.approx(0.05)
    piecewise = schedules.PiecewiseConstantDecay([5, 20], [1.0, 0.5, 0.1])
    assert [piecewise(s) for s in (0, 5, 6, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    assert schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.0)(5) == pytest.approx(0.05)
    assert schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.0)(50) == pytest.approx(0.0)
    assert schedules.InverseTimeDecay(0.1, 1, 1.0)(3) == pytest.approx(0.025)
    assert schedules.CosineDecay(0.1, 10)(5) == pytest.approx(0.05)
    assert schedules.CosineDecay(0.1, 10, alpha=0.2)(100) == pytest.approx(0.02)
    warm = schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)
    assert [warm(s) for s in (0, 2, 4, 9, 14)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    restarts = schedules.CosineDecayRestarts(1.0, 10, t_mul=2.0)
    assert restarts(10) == pytest.approx(1.0) and restarts(20) == pytest.approx(0.5)   # period 2: 10..30


def test_invalid_arguments_teach():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.01])
    with pytest.raises(NotImplementedError):
        schedules.LearningRateSchedule()(0)


def test_keras_serialized_schedule_deserializes(keras):
    theirs = keras.optimizers.schedules.CosineDecay(0.1, 40, warmup_target=0.2, warmup_steps=5)
    ours = schedules.deserialize(keras.optimizers.schedules.serialize(theirs))
    assert isinstance(ours, schedules.CosineDecay) and ours(7) == pytest.approx(float(theirs(7)), rel=1e-6)


def test_optimizer_evaluates_schedule_at_iterations():
    opt = optimizers.SGD(learning_rate=schedules.InverseTimeDecay(1.0, 1, 1.0))
    assert opt.learning_rate == 1.0
    opt.iterations = 3
    assert opt.learning_rate == pytest.approx(0.25)
    assert math.isclose(opt.get_config()["learning_rate"]["config"]["decay_rate"], 1.0)
