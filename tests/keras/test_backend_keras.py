"""shendu/keras/backend.py: Keras 3's keras.backend helpers (checked against Keras 3) and tf.keras 2's
K.* functions (checked against NumPy), with teaching errors for the graph-era ones."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu.keras import backend as K
from shendu.testing import gradcheck

X = np.array([[1.0, -2.0, 3.0], [4.0, 0.5, -6.0]])


def test_keras3_backend_helpers_agree_with_keras(keras):
    assert K.floatx() == keras.backend.floatx() == "float32"
    assert K.epsilon() == keras.backend.epsilon()
    assert K.image_data_format() == keras.backend.image_data_format()
    for dtype in ("float32", "int64", "bool", np.float64):
        assert K.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
        assert K.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
        assert K.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)
    # (Keras narrows 64-bit results to 32 bits; shendu keeps float64 and int64 where they were given)
    for dtypes in [("int32", "float32"), ("int16", "int8"), ("float16", "float32"), ("bool", "int32"), ("bool",),
                   (float, "int32"), ("float16", float)]:
        assert K.result_type(*dtypes) == keras.backend.result_type(*dtypes), dtypes
    assert K.backend() == "shendu"
    assert K.is_keras_tensor(sd.keras.Input((3,))) and not K.is_keras_tensor(sd.tensor(X))
    assert K.get_uid("k_test") + 1 == K.get_uid("k_test")
    K.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="channels_last"):
        K.set_image_data_format("channels_first")


@pytest.mark.parametrize("call, expected", [
    (lambda: K.mean(X, axis=1), X.mean(1)), (lambda: K.sum(X, 0, True), X.sum(0, keepdims=True)),
    (lambda: K.max(X), X.max()), (lambda: K.min(X, 1), X.min(1)), (lambda: K.std(X), X.std()),
    (lambda: K.var(X, 0), X.var(0)), (lambda: K.prod(X, 1), X.prod(1)), (lambda: K.square(X), X ** 2),
    (lambda: K.exp(X), np.exp(X)), (lambda: K.log(np.abs(X)), np.log(np.abs(X))), (lambda: K.abs(X), np.abs(X)),
    (lambda: K.sqrt(np.abs(X)), np.sqrt(np.abs(X))), (lambda: K.pow(np.abs(X), 3), np.abs(X) ** 3),
    (lambda: K.clip(X, -1, 1), np.clip(X, -1, 1)), (lambda: K.argmax(X), X.argmax(-1)),
    (lambda: K.cumsum(X), np.cumsum(X, 0)), (lambda: K.dot(X, X.T), X @ X.T),
    (lambda: K.batch_dot(X, X), (X * X).sum(1, keepdims=True)),
    (lambda: K.batch_dot(np.ones((2, 3, 4)), np.ones((2, 4, 5))), np.full((2, 3, 5), 4.0)),
    (lambda: K.batch_dot(np.ones((2, 3, 4)), np.ones((2, 3, 5)), axes=1), np.full((2, 4, 5), 3.0)),
    (lambda: K.concatenate([X, X]), np.concatenate([X, X], -1)), (lambda: K.stack([X, X]), np.stack([X, X])),
    (lambda: K.reshape(X, (3, 2)), X.reshape(3, 2)), (lambda: K.permute_dimensions(X, (1, 0)), X.T),
    (lambda: K.expand_dims(X), X[..., None]), (lambda: K.squeeze(X[None], 0), X),
    (lambda: K.flatten(X), X.ravel()), (lambda: K.batch_flatten(np.ones((2, 3, 4))), np.ones((2, 12))),
    (lambda: K.tile(X, (1, 2)), np.tile(X, (1, 2))), (lambda: K.repeat_elements(X, 2, 1), np.repeat(X, 2, 1)),
    (lambda: K.gather(X, [1]), X[[1]]), (lambda: K.one_hot([1, 0], 2), [[0, 1], [1, 0]]),
    (lambda: K.switch(X > 0, X, -X), np.abs(X)), (lambda: K.l2_normalize(X, 1), X / np.linalg.norm(X, axis=1,
                                                                                                  keepdims=True)),
    (lambda: K.relu(X), np.maximum(X, 0)), (lambda: K.relu(X, alpha=0.1, max_value=2.0),
                                            np.minimum(np.where(X >= 0, X, 0.1 * X), 2)),
    (lambda: K.relu(X, threshold=1.0), np.where(X >= 1, X, 0)),
    (lambda: K.hard_sigmoid(X), np.clip(0.2 * X + 0.5, 0, 1)), (lambda: K.softmax(X)[0].sum(), 1.0),
    (lambda: K.categorical_crossentropy(np.eye(3)[[0, 2]], np.full((2, 3), 1 / 3)), [np.log(3)] * 2),
    (lambda: K.sparse_categorical_crossentropy([0, 2], np.full((2, 3), 1 / 3)), [np.log(3)] * 2),
    (lambda: K.binary_crossentropy(np.ones(2), np.full(2, 0.5)), [np.log(2)] * 2),
    (lambda: K.zeros((2,)), [0, 0]), (lambda: K.ones_like(X), np.ones_like(X)), (lambda: K.eye(2), np.eye(2)),
    (lambda: K.arange(3), [0, 1, 2]), (lambda: K.constant(1.5, shape=(2,)), [1.5, 1.5]),
    (lambda: K.cast(X, "int32"), X.astype("int32")), (lambda: K.in_top_k(X, [2, 0], 1), [True, True]),
    (lambda: K.bias_add(X, [1.0, 1.0, 1.0]), X + 1), (lambda: K.random_bernoulli((4,), p=1.0), np.ones(4)),
])
def test_tf_keras_2_backend_functions_match_numpy(call, expected):
    got = call()
    np.testing.assert_allclose(np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=float),
                               np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-6)


def test_backend_shapes_variables_and_values():
    v = K.variable(np.ones((2, 3)), name="k")
    assert v.dtype == np.float32 and K.int_shape(v) == (2, 3) and K.shape(v) == (2, 3) and K.ndim(v) == 2
    assert K.int_shape(sd.keras.Input((4,))) == (None, 4)
    assert K.count_params(v) == 6 and K.dtype(v) == "float32"
    K.update_add(v, np.ones((2, 3)))
    K.update_sub(v, 0.5)
    np.testing.assert_array_equal(K.eval(v), np.full((2, 3), 1.5))
    K.batch_set_value([(v, np.zeros((2, 3)))])
    assert K.batch_get_value([v])[0].sum() == 0
    assert K.random_normal((3, 2), seed=1).shape == (3, 2)
    assert K.random_uniform((5,), 2.0, 3.0).numpy().min() >= 2.0
    assert K.truncated_normal((100,), stddev=0.1).numpy().max() <= 0.2
    assert K.dropout(np.ones((4, 4)), 0.5, seed=0).numpy().max() == 2.0


def test_backend_functions_are_differentiable():
    for f in (lambda x: K.mean(K.square(x), axis=1), lambda x: K.batch_dot(x, x), lambda x: K.l2_normalize(x, 1),
              lambda x: K.relu(x, alpha=0.1, max_value=2.5), lambda x: K.switch(x > 0, x, K.exp(x))):
        assert gradcheck(f, X + 0.01)


def test_graph_era_backend_names_teach_the_eager_way():
    with pytest.raises(AttributeError, match="training=True"):
        K.learning_phase
    with pytest.raises(AttributeError, match="fixed epsilon"):
        K.set_epsilon(1e-5)


TF_KERAS_2_BACKEND = """
abs all any arange argmax argmin backend batch_dot batch_flatten batch_get_value batch_normalization batch_set_value
bias_add binary_crossentropy binary_focal_crossentropy cast cast_to_floatx categorical_crossentropy
categorical_focal_crossentropy clear_session clip concatenate constant conv1d conv2d conv2d_transpose conv3d cos
count_params ctc_batch_cost ctc_decode ctc_label_dense_to_sparse cumprod cumsum depthwise_conv2d dot dropout dtype elu
epsilon equal eval exp expand_dims eye flatten floatx foldl foldr function gather get_uid get_value gradients greater
greater_equal hard_sigmoid image_data_format in_top_k int_shape is_keras_tensor is_sparse l2_normalize learning_phase
learning_phase_scope less less_equal local_conv1d local_conv2d log manual_variable_initialization map_fn max maximum
mean min minimum moving_average_update name_scope ndim not_equal one_hot ones ones_like permute_dimensions placeholder
pool2d pool3d pow print_tensor prod random_bernoulli random_binomial random_normal random_normal_variable random_uniform
random_uniform_variable relu repeat repeat_elements reset_uids reshape resize_images resize_volumes reverse rnn round
separable_conv2d set_epsilon set_floatx set_image_data_format set_learning_phase set_value shape sigmoid sign sin
softmax softplus softsign sparse_categorical_crossentropy spatial_2d_padding spatial_3d_padding sqrt square squeeze
stack std stop_gradient sum switch tanh temporal_padding tile to_dense transpose truncated_normal update update_add
update_sub var variable zeros zeros_like
""".split()


def test_every_tf_keras_2_backend_name_exists_or_teaches():
    from shendu.missing import UnsupportedError
    missing = []
    for name in TF_KERAS_2_BACKEND:
        try:
            getattr(K, name)
        except UnsupportedError:
            pass
        except AttributeError:
            missing.append(name)
    assert missing == []


def test_tf_keras_2_backend_helpers_added_for_completeness():
    np.testing.assert_array_equal(K.repeat(np.ones((2, 3)), 4).shape, (2, 4, 3))
    np.testing.assert_array_equal(K.temporal_padding(np.ones((1, 2, 1)), (1, 2)).numpy()[0, :, 0], [0, 1, 1, 0, 0])
    assert K.spatial_2d_padding(np.ones((1, 2, 2, 1))).shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(K.reverse(np.arange(3.0), 0).numpy(), [2, 1, 0])
    assert K.cast_to_floatx([1, 2]).dtype == np.float32 and not K.is_sparse(X)
    assert float(K.foldl(lambda a, x: a + x, np.arange(4.0))) == 6.0
    np.testing.assert_allclose(K.batch_normalization(X, X.mean(0), X.var(0), 0.0, 1.0, epsilon=0.0).numpy(),
                               (X - X.mean(0)) / X.std(0), rtol=1e-6)
    v = K.random_uniform_variable((3,), 1.0, 2.0, seed=0)
    assert v.trainable and 1.0 <= v.numpy().min() and v.numpy().max() < 2.0
    K.reset_uids()
    assert K.get_uid("x") == 1
