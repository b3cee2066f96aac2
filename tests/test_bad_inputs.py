"""What a new user gets for a bad input: one row per mistake, with the exact exception type and the
words the message must contain (what was expected, what arrived, the fix). Shapes in messages say
``None`` for the batch axis."""
from __future__ import annotations

import re

import numpy as np
import pytest

import shendu as sd
from shendu.autograd import BroadcastError
from shendu import keras
from shendu.keras import constraints, layers
from shendu.preprocessing.sequence import pad_sequences

X = np.random.default_rng(0).random((8, 4)).astype("float32")
Y = np.array([0, 1, 2, 0, 1, 2, 0, 1])


def classifier(metrics=None):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=metrics)
    return model


def fit(**kwargs):
    return lambda: classifier().fit(X, Y, verbose=0, **kwargs)


def add_tensors(op, a, b):
    return lambda: op(sd.tensor(np.ones(a)), sd.tensor(np.ones(b)))


def compile_with(optimizer="adam", loss="mse", metrics=None):
    return lambda: keras.Sequential([layers.Dense(1)]).compile(optimizer, loss, metrics=metrics)


def fit_with_metric(name):
    def run():
        model = classifier()
        model.compile("adam", "sparse_categorical_crossentropy", metrics=[name])
        model.fit(X, Y, verbose=0)
    return run


def backward_of(make):
    return lambda: make().backward()


def sparse_ce(y_true, y_pred):
    return lambda: keras.losses.sparse_categorical_crossentropy(np.asarray(y_true), np.asarray(y_pred, "float32"))


STRINGS = np.array([["a", "b", "c", "d"]] * 8)

# (id, action, exception type, regex the message must match)
ROWS = [
    # shapes that do not combine
    ("add-layer-symbolic", lambda: layers.Add(name="join")([keras.Input((3,)), keras.Input((5,))]), ValueError,
     r"Add layer 'join'.*\(None, 3\).*\(None, 5\)"),
    ("add-layer-eager", lambda: layers.Add(name="sum2")([np.ones((2, 3), "f"), np.ones((2, 5), "f")]), ValueError,
     r"Add layer 'sum2'.*\(None, 3\).*\(None, 5\)"),
    ("concatenate-layer", lambda: layers.Concatenate(axis=-1)([keras.Input((3, 2)), keras.Input((4, 2))]),
     ValueError, r"\(None, 3, 2\).*\(None, 4, 2\)"),
    ("tensor-plus-tensor", add_tensors(lambda a, b: a + b, (2, 3), (2, 5)), BroadcastError,
     r"add: shapes \(2, 3\) and \(2, 5\) cannot be combined.*size-1 axis"),
    ("tensor-times-tensor", add_tensors(lambda a, b: a * b, (4,), (3,)), BroadcastError,
     r"mul: shapes \(4,\) and \(3,\) cannot be combined"),
    ("tensor-minus-tensor", add_tensors(lambda a, b: a - b, (2, 2), (3, 1)), BroadcastError,
     r"sub: shapes \(2, 2\) and \(3, 1\)"),
    ("broadcast-inside-a-layer", lambda: layers.Lambda(lambda x: x * np.ones((4,), "f"), name="scale")(
        np.ones((2, 3), "f")), BroadcastError,
     r"^Lambda layer 'scale' \(inputs \(None, 3\)\): mul: shapes \(2, 3\) and \(4,\)"),
    # a layer without a shape rule is run on sample sizes to learn its output shape: its errors show None instead
    ("broadcast-in-a-symbolic-call", lambda: layers.Lambda(lambda x: x * np.ones((4,), "f"), name="scale_s")(
        keras.Input((3,))), BroadcastError,
     r"^Lambda layer 'scale_s' \(inputs \(None, 3\)\): mul: shapes \(None, 3\) and \(4,\) cannot be combined"),
    ("reshape-in-a-symbolic-call", lambda: layers.Lambda(lambda x: x.reshape((5, 7)), name="resh_s")(
        keras.Input((None, 3))), ValueError,
     r"^Cannot reshape a tensor of shape \(None, None, 3\) \(None values\) into \(5, 7\).*compute_output_shape"),
    # what fit/evaluate/predict are given
    ("predict-dict-on-sequential", lambda: classifier().predict({"foo": X}, verbose=0), ValueError,
     r"single input.*dict with keys \['foo'\].*functional Model"),
    ("fit-strings-in-x", lambda: classifier().fit(STRINGS, Y, verbose=0), TypeError,
     r"Dense layer '.*' got an array of strings \(dtype <U1, shape \(8, 4\)\).*TextVectorization.*astype"),
    ("predict-strings-in-x", lambda: classifier().predict(STRINGS, verbose=0), TypeError,
     r"got an array of strings.*computes with numbers"),
    ("fit-string-labels", lambda: classifier().fit(X, np.array(list("abcabcab")), verbose=0), ValueError,
     r"sparse_categorical_crossentropy expects integer class ids 0\.\.2.*strings.*np\.unique"),
    ("sparse-ce-string-labels", sparse_ce(["x", "y"], [[0.5, 0.5], [0.5, 0.5]]), ValueError,
     r"integer class ids.*strings such as \['x', 'y'\]"),
    ("sparse-ce-label-out-of-range", sparse_ce([0, 5], [[0.5, 0.5], [0.5, 0.5]]), ValueError,
     r"label 5 is out of range.*2 classes"),
    ("sparse-ce-one-hot-labels", sparse_ce([[1, 0], [0, 1]], [[0.5, 0.5], [0.5, 0.5]]), ValueError,
     r"one-hot.*categorical_crossentropy"),
    ("layer-on-ragged-list", lambda: layers.Dense(2, name="d_ragged")([[1.0, 2.0], [3.0]]), ValueError,
     r"Dense layer 'd_ragged' was called on a ragged Python list \(rows of lengths \[2, 1\]\).*pad_sequences"),
    ("predict-on-batch-ragged-list", lambda: classifier().predict_on_batch([[1.0, 2.0, 3.0, 4.0], [1.0]]),
     ValueError, r"The model was called on a ragged Python list \(rows of lengths \[4, 1\]\)"),
    ("fit-x-y-lengths-differ", lambda: classifier().fit(X, Y[:5], verbose=0), ValueError,
     r"x has 8, y has 5"),
    ("fit-without-y", lambda: classifier().fit(X, verbose=0), ValueError, r"got x but no y.*fit\(x, y"),
    ("fit-before-compile", lambda: keras.Sequential([keras.Input((4,)), layers.Dense(1)]).fit(X, Y, verbose=0),
     RuntimeError, r"compile"),
    ("fit-empty-x", lambda: classifier().fit(X[:0], Y[:0], verbose=0), ValueError, r"empty.*0 samples"),
    # counts that must be whole and positive
    ("fit-epochs-float", fit(epochs=2.5), ValueError,
     r"epochs must be a non-negative integer.*got 2\.5.*epochs=2"),
    ("fit-epochs-negative", fit(epochs=-1), ValueError, r"epochs must be a non-negative integer.*got -1"),
    ("fit-epochs-string", fit(epochs="3"), ValueError, r"epochs must be a non-negative integer.*got '3'"),
    ("fit-initial-epoch-negative", fit(initial_epoch=-2), ValueError, r"initial_epoch must be a non-negative"),
    ("fit-batch-size-zero", fit(batch_size=0), ValueError, r"fit: batch_size must be a positive integer.*got 0"),
    ("fit-batch-size-negative", fit(batch_size=-5), ValueError, r"fit: batch_size must be a positive.*got -5"),
    ("fit-batch-size-float", fit(batch_size=2.5), ValueError, r"batch_size must be a positive integer.*2\.5"),
    ("fit-validation-batch-size-zero", fit(validation_data=(X, Y), validation_batch_size=0), ValueError,
     r"validation: batch_size must be a positive integer.*got 0"),
    ("fit-steps-per-epoch-zero", fit(steps_per_epoch=0), ValueError,
     r"fit: steps_per_epoch must be a positive integer \(batches per epoch\), got 0"),
    ("fit-validation-freq-zero", fit(validation_data=(X, Y), validation_freq=0), ValueError,
     r"validation_freq must be a positive integer.*got 0"),
    ("fit-validation-split-above-one", fit(validation_split=1.5), ValueError,
     r"validation_split must be between 0 and 1, got 1\.5"),
    ("evaluate-steps-negative", lambda: classifier().evaluate(X, Y, steps=-2, verbose=0), ValueError,
     r"evaluate: steps must be a positive integer.*got -2"),
    ("predict-steps-zero", lambda: classifier().predict(X, steps=0, verbose=0), ValueError,
     r"predict: steps must be a positive integer.*got 0"),
    ("evaluate-batch-size-zero", lambda: classifier().evaluate(X, Y, batch_size=0, verbose=0), ValueError,
     r"evaluate: batch_size must be a positive integer.*got 0.*batch_size=32"),
    ("predict-batch-size-zero", lambda: classifier().predict(X, batch_size=0, verbose=0), ValueError,
     r"predict: batch_size must be a positive integer.*got 0"),
    ("pad-sequences-maxlen-zero", lambda: pad_sequences([[1, 2], [3]], maxlen=0), ValueError,
     r"maxlen must be a positive integer.*got 0.*maxlen=None"),
    ("pad-sequences-maxlen-negative", lambda: pad_sequences([[1, 2]], maxlen=-3), ValueError,
     r"maxlen must be a positive integer.*got -3"),
    ("pad-sequences-flat-list", lambda: pad_sequences([1, 2, 3]), ValueError, r"pad_sequences\(\[seq\]\)"),
    ("dense-input-shape-int", lambda: layers.Dense(3, input_shape=4), ValueError,
     r"input_shape=4, but input_shape is a tuple.*input_shape=\(4,\)"),
    ("dense-batch-input-shape-int", lambda: layers.Dense(3, batch_input_shape=4), ValueError,
     r"batch_input_shape=4, but batch_input_shape is a tuple.*batch_input_shape=\(None, 4\)"),
    ("count-params-unbuilt-model", lambda: keras.Sequential([layers.Dense(3)]).count_params(), ValueError,
     r"Sequential '.*' is not built yet.*build\(input_shape\).*keras\.Input"),
    ("count-params-unbuilt-layer", lambda: layers.Dense(3, name="d_unbuilt").count_params(), ValueError,
     r"Dense 'd_unbuilt' is not built yet.*d_unbuilt\.build"),
    # names: the valid ones and the nearest
    ("unknown-activation", lambda: layers.Dense(3, activation="rleu"), ValueError,
     r"Unknown activation 'rleu'\. Did you mean 'relu'.*Valid activations are: .*sigmoid"),
    ("unknown-loss", compile_with(loss="mse2"), ValueError,
     r"loss identifier 'mse2'\. Did you mean 'mse'.*Valid names are: .*binary_crossentropy"),
    ("unknown-optimizer", compile_with(optimizer="adamm"), ValueError,
     r"Unknown optimizer 'adamm'\. Did you mean 'adam'.*Valid optimizer identifiers are: .*rmsprop"),
    ("unknown-optimizer-capitalised", compile_with(optimizer="Adamm"), ValueError, r"Did you mean 'Adam'"),
    ("unknown-metric", fit_with_metric("acuracy"), ValueError,
     r"metric identifier 'acuracy'\. Did you mean 'accuracy'.*Valid names are: .*AUC"),
    ("unknown-initializer", lambda: layers.Dense(3, kernel_initializer="glorot_unifrom"), ValueError,
     r"Unknown initializer 'glorot_unifrom'\. Did you mean 'glorot_uniform'.*he_normal"),
    ("unknown-regularizer", lambda: layers.Dense(3, kernel_regularizer="l3"), ValueError,
     r"Unknown regularizer 'l3'\. Did you mean .*'l2'.*Valid regularizer identifiers are: .*l1_l2"),
    ("unknown-constraint", lambda: layers.Dense(3, kernel_constraint="max_nrom"), ValueError,
     r"constraint identifier 'max_nrom'\. Did you mean 'max_norm'.*non_neg"),
    ("unknown-constraint-object", lambda: constraints.get(3), ValueError, r"constraint identifier 3.*Constraint"),
    ("unknown-name-far-from-all", lambda: layers.Dense(3, activation="zzzzqqq"), ValueError,
     r"^Unknown activation 'zzzzqqq'\. Valid activations"),
    ("unknown-layer-keyword", lambda: layers.Dense(3, unitz=4), TypeError, r"unexpected keyword.*unitz"),
    # the engine
    ("backward-non-scalar", backward_of(lambda: sd.tensor(np.ones(3), requires_grad=True) * 2), RuntimeError,
     r"only for a scalar.*shape \(3,\).*sum\(\)"),
    ("backward-without-grad", backward_of(lambda: sd.tensor(np.ones(())) * 2), RuntimeError,
     r"does not require grad.*requires_grad=True"),
    ("unknown-backend", lambda: sd.set_backend("tpu"), ValueError, r"'numpy' or 'cupy'"),
    ("dropout-rate-above-one", lambda: sd.ops.dropout(sd.tensor(np.ones(3)), 1.5), ValueError,
     r"rate must be in \[0, 1\), got 1\.5"),
]


def test_bad_input_table_has_at_least_forty_distinct_rows():
    ids = [row[0] for row in ROWS]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("action,error,pattern", [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_bad_input_raises_a_teaching_error(action, error, pattern):
    with pytest.raises(Exception) as info:
        action()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert re.search(pattern, str(info.value), re.S), str(info.value)
    assert "trial" not in str(info.value)          # no internal trial batch size leaks into a message
    assert not re.search(r"\((2|3), (16|17)\b|\b(16|17)\)", str(info.value))     # nor the dry run's sample sizes


def test_fit_warns_once_about_nan_and_inf_in_its_inputs():
    x = X.copy()
    x[0, 0], x[3, 1], x[5, 2] = np.nan, np.inf, -np.inf
    with pytest.warns(RuntimeWarning) as record:
        classifier().fit(x, Y, epochs=3, batch_size=4, verbose=0)
    messages = [str(w.message) for w in record if "non-finite" in str(w.message)]
    assert len(messages) == 1                      # once per fit, not once per epoch or batch
    assert re.search(r"fit: x holds 3 non-finite value\(s\) \(1 NaN, 2 inf\) out of 32.*TerminateOnNaN", messages[0])


def test_fit_names_the_input_and_target_arrays_that_hold_nan():
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    model = keras.Model({"a": a, "b": b}, layers.Dense(1)(layers.Concatenate()([a, b])))
    model.compile("sgd", "mse")
    xb = np.ones((4, 2), "float32")
    xb[1, 1] = np.nan
    y = np.ones((4, 1), "float32")
    y[2, 0] = np.inf
    with pytest.warns(RuntimeWarning) as record:
        model.fit({"a": np.ones((4, 2), "float32"), "b": xb}, y, verbose=0)
    text = " | ".join(str(w.message) for w in record)
    assert "x['b'] holds 1 non-finite" in text and "y holds 1 non-finite" in text and "x['a']" not in text


def test_clean_inputs_give_no_warning():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        classifier().fit(X, Y, verbose=0)


def test_epochs_zero_trains_nothing_as_keras_does():
    model = classifier()
    before = model.get_weights()[0].copy()
    assert model.fit(X, Y, epochs=0, verbose=0).history == {}
    np.testing.assert_array_equal(model.get_weights()[0], before)


def test_a_rectangular_python_list_is_one_array_for_a_layer_and_a_model():
    dense = layers.Dense(2)
    out = dense([[1.0, 2.0, 3.0]])                  # one sample of three features, not three inputs
    assert out.shape == (1, 2) and out.dtype == np.float32
    model = classifier()
    np.testing.assert_allclose(model.predict_on_batch(X[:2].tolist()), model.predict_on_batch(X[:2]), rtol=1e-6)
