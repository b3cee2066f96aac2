"""shendu/variable.py: tf.Variable: assign / assign_add / assign_sub, trainable, numpy() copies, gradients,
optimizers and layers that own one."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as tf
from shendu.variable import Variable


def test_variable_holds_a_copy_and_assigns_in_tensorflow_style():
    init = np.zeros(3, np.float32)
    v = tf.Variable(init, name="v")
    init[0] = 9
    assert v.numpy().tolist() == [0, 0, 0] and v.name == "v" and v.trainable and v.requires_grad
    assert v.assign([1.0, 2.0, 3.0]) is v
    v.assign_add(np.ones(3))
    v.assign_sub(tf.constant([0.5, 0.5, 0.5]))
    np.testing.assert_array_equal(v.numpy(), [1.5, 2.5, 3.5])
    assert v.dtype == np.float32 and v.shape == (3,)
    out = v.numpy()
    out[0] = 100
    assert v.numpy()[0] == 1.5                       # numpy() is the caller's own copy
    assert v.assign([0.0, 0.0, 0.0], read_value=False) is None
    assert "numpy=" in repr(v) and "'v'" in repr(v)


def test_variable_defaults_trainable_and_dtype_like_tensorflow():
    assert tf.Variable(3.0).dtype == np.float32
    count = tf.Variable(0, trainable=False)
    assert count.dtype.kind == "i" and not count.trainable
    count.assign_add(1)
    assert int(count.numpy()) == 1
    assert not tf.Variable(1).trainable
    assert tf.Variable(lambda: np.ones(2), dtype=tf.float64).dtype == np.float64
    v = tf.Variable(np.ones(2))
    v.trainable = False
    assert not v.requires_grad


def test_variable_errors_name_the_fix():
    with pytest.raises(ValueError, match="shape \\(2,\\) but the assigned value has shape \\(3,\\)"):
        tf.Variable(np.ones(2)).assign(np.ones(3))
    free = tf.Variable(np.ones(2), validate_shape=False)
    free.assign(np.ones(3))
    assert free.shape == (3,)
    with pytest.raises(ValueError, match="only float variables can be trainable"):
        tf.Variable(1, trainable=True)
    with pytest.raises(ValueError, match="initial_value"):
        tf.Variable()


def test_assign_keeps_recorded_graphs_intact_and_gradients_flow():
    v = tf.Variable(np.array([2.0, 3.0]))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v * v)
    v.assign([10.0, 10.0])                            # after recording: the backward pass uses the old values
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [4.0, 6.0])


def test_a_layer_tracks_variables_assigned_to_its_attributes_and_trains_them():
    class Linear(tf.keras.layers.Layer):
        def __init__(self, units=2, input_dim=3):
            super().__init__()
            self.w = tf.Variable(np.full((input_dim, units), 0.1, np.float32), trainable=True)
            self.b = tf.Variable(np.zeros(units, np.float32), trainable=True)
            self.steps = tf.Variable(0, trainable=False)

        def call(self, inputs):
            self.steps.assign_add(1)
            return tf.matmul(inputs, self.w) + self.b

    layer = Linear()
    assert [tuple(w.shape) for w in layer.weights] == [(3, 2), (2,), ()]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 1
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.1)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x) - y))
        grads = tape.gradient(loss, layer.trainable_weights)
        optimizer.apply_gradients(zip(grads, layer.trainable_weights))
    assert int(layer.steps.numpy()) == 3
    assert float(tf.reduce_mean(tf.square(layer(x) - y)).numpy()) < float(loss.numpy())
    assert isinstance(layer.w, Variable)
