"""The loss contract, stated with shendu's losses: Keras 3's values for the focal, overlap, similarity,
generalized and CTC losses; config round trips; rebuilding from a Keras config; gradients in float64."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import losses
from shendu.saving import deserialize_keras_object, serialize_keras_object
from shendu.testing import gradcheck

RNG = np.random.default_rng(7)
PROBS = RNG.uniform(0.05, 0.95, size=(4, 3)).astype(np.float32)
LABELS = (RNG.uniform(size=(4, 3)) > 0.5).astype(np.float32)
ONE_HOT = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]
SOFT = PROBS / PROBS.sum(-1, keepdims=True)
LOGITS = RNG.normal(size=(4, 3)).astype(np.float32)
INT_LABELS = np.array([0, 2, 1, 2])
EMB = RNG.normal(size=(6, 4)).astype(np.float32)
EMB /= np.linalg.norm(EMB, axis=-1, keepdims=True)
EMB_LABELS = np.array([0, 1, 0, 1, 2, 2])
CTC_LOGITS = RNG.normal(size=(2, 6, 4)).astype(np.float32)
CTC_LABELS = np.array([[1, 2, 2, 0], [3, 1, 0, 0]])

# (class name, constructor kwargs, y_true, y_pred)
CASES = [
    ("CosineSimilarity", {}, LABELS + 0.1, PROBS),
    ("CosineSimilarity", {"axis": 0}, LABELS + 0.1, PROBS),
    ("BinaryFocalCrossentropy", {}, LABELS, PROBS),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 3.0}, LABELS, PROBS),
    ("BinaryFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, LABELS, LOGITS),
    ("CategoricalFocalCrossentropy", {}, ONE_HOT, SOFT),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": 0.5, "gamma": 1.0}, ONE_HOT, LOGITS),
    ("CategoricalFocalCrossentropy", {"label_smoothing": 0.2}, ONE_HOT, SOFT),
    ("Dice", {}, LABELS, PROBS),
    ("Dice", {"axis": 1}, LABELS, PROBS),
    ("Tversky", {}, LABELS, PROBS),
    ("Tversky", {"alpha": 0.6, "beta": 0.6, "axis": 1}, LABELS, PROBS),
    ("CategoricalGeneralizedCrossEntropy", {}, INT_LABELS, SOFT),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.8}, INT_LABELS, SOFT),
    ("Circle", {}, EMB_LABELS, EMB),
    ("Circle", {"gamma": 10.0, "margin": 0.25, "remove_diagonal": False}, EMB_LABELS, EMB),
    ("CTC", {}, CTC_LABELS, CTC_LOGITS),
]
IDS = [f"{name}-{i}" for i, (name, *_rest) in enumerate(CASES)]


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", CASES, ids=IDS)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", None])
def test_new_losses_match_keras(keras, name, kwargs, y_true, y_pred, reduction):
    want = keras.ops.convert_to_numpy(getattr(keras.losses, name)(reduction=reduction, **kwargs)(y_true, y_pred))
    got = getattr(losses, name)(reduction=reduction, **kwargs)(y_true, y_pred).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


# per-sample weights need one value per sample: Dice/Tversky with axis=None give one value for the whole batch,
# and cosine similarity along axis 0 gives one per feature
WEIGHTED = [(case, i) for case, i in zip(CASES, IDS)
            if not (case[0] in ("Dice", "Tversky") and "axis" not in case[1]) and case[1].get("axis") != 0]


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", [c for c, _ in WEIGHTED], ids=[i for _, i in WEIGHTED])
def test_new_losses_weighted_match_keras(keras, name, kwargs, y_true, y_pred):
    w = np.linspace(0.5, 2.0, len(y_pred)).astype(np.float32)
    want = keras.ops.convert_to_numpy(getattr(keras.losses, name)(**kwargs)(y_true, y_pred, sample_weight=w))
    got = getattr(losses, name)(**kwargs)(y_true, y_pred, sample_weight=w).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


FUNCTIONS = [("cosine_similarity", {}, LABELS + 0.1, PROBS), ("binary_focal_crossentropy", {"gamma": 2.5}, LABELS, PROBS),
             ("categorical_focal_crossentropy", {}, ONE_HOT, SOFT), ("dice", {"axis": 1}, LABELS, PROBS),
             ("tversky", {"alpha": 0.4, "beta": 0.4, "axis": 1}, LABELS, PROBS),
             ("categorical_generalized_cross_entropy", {"q": 0.3}, INT_LABELS.astype(np.float32), SOFT),
             ("circle", {}, EMB_LABELS, EMB),
             ("ctc", {}, CTC_LABELS, CTC_LOGITS)]


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_function_forms_match_keras(keras, name, kwargs, y_true, y_pred):
    want = keras.ops.convert_to_numpy(getattr(keras.losses, name)(y_true, keras.ops.convert_to_tensor(y_pred),
                                                                  **kwargs))
    got = getattr(losses, name)(y_true, y_pred, **kwargs).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_ctc_with_a_repeated_label_and_a_blank_inside_the_labels_matches_keras(keras):
    # label lengths count the non-zero labels; a 0 inside the first label_length entries is kept as a label
    labels, logits = np.array([[1, 1, 0, 0], [2, 0, 2, 0]]), CTC_LOGITS
    want = keras.ops.convert_to_numpy(keras.losses.ctc(labels, logits))
    np.testing.assert_allclose(losses.ctc(labels, logits).numpy(), want, rtol=1e-5)


def test_ctc_that_no_alignment_can_fit_is_infinite():
    logits = np.zeros((1, 2, 3), np.float32)                  # 2 steps cannot emit 1, 1 (needs a blank between)
    assert np.isinf(losses.ctc(np.array([[1, 1]]), logits).numpy()[0])


def test_tversky_alpha_weighs_false_positives_and_beta_false_negatives():
    """The documented rule (Keras's docstring, and Keras from 3.16; 3.15 swapped the two weights)."""
    p, t = PROBS.astype(np.float64), LABELS.astype(np.float64)
    tp, fp, fn = (p * t).sum(1), ((1 - t) * p).sum(1), (t * (1 - p)).sum(1)
    want = 1 - tp / (tp + 0.9 * fp + 0.1 * fn + 1e-7)
    got = losses.tversky(t, p, alpha=0.9, beta=0.1, axis=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_generalized_cross_entropy_takes_labels_with_a_trailing_axis():
    flat = losses.categorical_generalized_cross_entropy(INT_LABELS, SOFT, q=0.5).numpy()
    np.testing.assert_allclose(losses.categorical_generalized_cross_entropy(INT_LABELS[:, None], SOFT, q=0.5).numpy(),
                               flat)
    np.testing.assert_allclose(flat, (1 - SOFT[np.arange(4), INT_LABELS] ** 0.5) / 0.5, rtol=1e-6)


# the config keys of Keras 3 (its current sources): every argument is saved, `fn` never is
CONFIG_KEYS = {
    "CosineSimilarity": {"axis"}, "BinaryFocalCrossentropy": {"apply_class_balancing", "alpha", "gamma",
                                                             "from_logits", "label_smoothing", "axis"},
    "CategoricalFocalCrossentropy": {"alpha", "gamma", "from_logits", "label_smoothing", "axis"},
    "Dice": {"axis"}, "Tversky": {"alpha", "beta", "axis"}, "CategoricalGeneralizedCrossEntropy": {"q"},
    "Circle": {"gamma", "margin", "remove_diagonal"}, "CTC": set(), "Huber": {"delta"},
    "SparseCategoricalCrossentropy": {"from_logits", "ignore_class", "axis"},
}
CONFIGS = [(name, kwargs) for name, kwargs, *_ in CASES]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_new_losses_config_round_trip(name, kwargs):
    loss = getattr(losses, name)(name="my_loss", reduction="sum", **kwargs)
    config = loss.get_config()
    assert set(config) == {"name", "reduction"} | CONFIG_KEYS[name]
    assert config["name"] == "my_loss" and config["reduction"] == "sum"
    assert all(config[k] == v for k, v in kwargs.items())
    assert type(loss).from_config(config).get_config() == config


@pytest.mark.parametrize("name", ["Huber", "SparseCategoricalCrossentropy"])
def test_existing_losses_save_exactly_their_arguments(name):
    assert set(getattr(losses, name)().get_config()) == {"name", "reduction"} | CONFIG_KEYS[name]


@pytest.mark.parametrize("name,kwargs", CONFIGS[::2] + [("Huber", {"delta": 2.0})], ids=lambda v: str(v))
def test_losses_rebuild_from_keras_configs(keras, name, kwargs):
    """A config written by Keras 3 (module 'keras.losses') rebuilds the shendu loss; shendu's own config
    rebuilds an equal loss."""
    keras_config = keras.saving.serialize_keras_object(getattr(keras.losses, name)(**kwargs))
    rebuilt = deserialize_keras_object(keras_config)
    assert type(rebuilt) is getattr(losses, name)
    mine = getattr(losses, name)(**kwargs)
    again = deserialize_keras_object(serialize_keras_object(mine))
    assert type(again) is type(mine) and again.get_config() == mine.get_config()


def test_loss_identifiers_reach_the_new_losses():
    assert isinstance(losses.get("Dice"), losses.Dice)
    assert losses.get("binary_focal_crossentropy") is losses.binary_focal_crossentropy
    assert isinstance(losses.deserialize({"class_name": "CTC", "config": {"name": "c"}}), losses.CTC)


def test_generalized_cross_entropy_refuses_q_outside_0_1():
    for q in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match=r"q must be in the interval \(0, 1\).*q=" + str(q)):
            losses.CategoricalGeneralizedCrossEntropy(q=q)


def test_categorical_losses_warn_on_a_single_class():
    for fn in (losses.categorical_crossentropy, losses.categorical_focal_crossentropy):
        with pytest.warns(SyntaxWarning, match=r"expected y_pred.shape to be \(batch_size, num_classes\)"):
            fn(np.ones((2, 1), np.float32), np.full((2, 1), 0.5, np.float32))


def test_binary_crossentropy_refuses_labels_of_another_width():
    with pytest.raises(ValueError, match="must have the same shape"):
        losses.BinaryCrossentropy()(np.zeros((3, 1)), np.full((3, 3), 0.5, np.float32))


def test_invalid_reduction_names_the_argument():
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`.*'abc'"):
        losses.Dice(reduction="abc")


@pytest.mark.parametrize("name", ["CosineSimilarity", "BinaryFocalCrossentropy", "Dice", "CTC"])
def test_loss_dtype_argument_sets_the_computation_dtype(name):
    pytest.importorskip("ml_dtypes")
    case = next(c for c in CASES if c[0] == name)
    out = getattr(losses, name)(dtype="bfloat16", **case[1])(case[2], case[3])
    assert out.dtype.name == "bfloat16"
    out64 = getattr(losses, name)(dtype="float64", **case[1])(case[2], case[3])
    assert out64.dtype == np.float64


# ---------------------------------------------------------------------------------- gradients (float64)

GRAD_CASES = [
    ("cosine_similarity", {}, LABELS + 0.1, PROBS),
    ("binary_focal_crossentropy", {"gamma": 2.0, "apply_class_balancing": True}, LABELS, PROBS),
    ("binary_focal_crossentropy", {"from_logits": True}, LABELS, LOGITS),
    ("categorical_focal_crossentropy", {}, ONE_HOT, SOFT),
    ("categorical_focal_crossentropy", {"from_logits": True}, ONE_HOT, LOGITS),
    ("dice", {"axis": 1}, LABELS, PROBS),
    ("tversky", {"alpha": 0.3, "beta": 0.7}, LABELS, PROBS),
    ("categorical_generalized_cross_entropy", {"q": 0.5}, INT_LABELS, SOFT),
    ("circle", {"gamma": 4.0}, EMB_LABELS, EMB),
    ("ctc", {}, CTC_LABELS, CTC_LOGITS),
]


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", GRAD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(GRAD_CASES)])
def test_new_losses_gradcheck_float64(name, kwargs, y_true, y_pred):
    fn = getattr(losses, name)
    gradcheck(lambda p: fn(y_true, p, **kwargs), y_pred.astype(np.float64), atol=1e-6, rtol=1e-4)


def test_ctc_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    logits = sd.tensor(CTC_LOGITS.astype(np.float64), requires_grad=True)
    losses.ctc(CTC_LABELS, logits).sum().backward()
    t = torch.tensor(CTC_LOGITS.astype(np.float64), requires_grad=True)
    lengths = torch.tensor((CTC_LABELS != 0).sum(-1))
    torch.nn.functional.ctc_loss(torch.log_softmax(t, -1).transpose(0, 1), torch.tensor(CTC_LABELS),
                                 torch.full((2,), 6), lengths, blank=0, reduction="sum").backward()
    np.testing.assert_allclose(logits.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-9)
