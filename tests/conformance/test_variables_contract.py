"""A weight is a Keras variable: assign in place, .value, .numpy() as a snapshot, .trainable, .path/.name,
and the layer's own-variables saving hooks; a layer's dtype policy."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
import shendu.keras as sk


def _dense(units=3, features=4, **kwargs):
    layer = sk.layers.Dense(units, **kwargs)
    layer.build((None, features))
    return layer


def test_assign_overwrites_in_place_and_keeps_identity():
    layer = _dense()
    kernel = layer.kernel
    new = np.arange(12, dtype=np.float64).reshape(4, 3)
    assert kernel.assign(new) is kernel
    assert layer.kernel is kernel and kernel.dtype == np.float32
    np.testing.assert_array_equal(kernel.numpy(), new.astype(np.float32))
    np.testing.assert_array_equal(layer(np.eye(4, dtype=np.float32)).numpy(), new + layer.bias.numpy())


def test_assign_add_and_assign_sub():
    v = _dense().bias
    v.assign(np.ones(3))
    v.assign_add(np.array([1.0, 2.0, 3.0]))
    v.assign_sub(sd.tensor(np.array([0.5, 0.5, 0.5], np.float32)))
    np.testing.assert_allclose(v.numpy(), [1.5, 2.5, 3.5])


def test_assign_of_another_shape_names_both_shapes():
    v = _dense().kernel
    with pytest.raises(ValueError, match=r"dense.*/kernel.*\(4, 3\).*\(3, 4\) must match"):
        v.assign(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="must match"):
        v.assign_add(np.zeros(3))


def test_numpy_is_a_snapshot_that_training_does_not_change():
    model = sk.Sequential([sk.Input((4,)), sk.layers.Dense(2)])
    model.compile("sgd", "mse")
    before = model.layers[0].kernel.numpy()
    kept = before.copy()
    model.fit(np.ones((8, 4), np.float32), np.full((8, 2), 5.0, np.float32), epochs=2, verbose=0)
    np.testing.assert_array_equal(before, kept)
    assert not np.array_equal(model.layers[0].kernel.numpy(), before)


def test_numpy_is_a_copy_but_asarray_shares():
    t = sd.tensor(np.zeros(3, np.float32))
    t.numpy()[0] = 5.0
    assert t.numpy()[0] == 0.0
    np.asarray(t)[1] = 7.0                      # np.asarray is the zero-copy route, as for a NumPy array
    assert t.numpy()[1] == 7.0


def test_value_is_the_variable_and_carries_gradients():
    layer = _dense()
    assert layer.kernel.value is layer.kernel
    out = (sd.tensor(np.ones((2, 4), np.float32)) @ layer.kernel.value).sum()
    out.backward()
    np.testing.assert_allclose(layer.kernel.grad.numpy(), np.full((4, 3), 2.0))


def test_trainable_flag_and_paths():
    bn = sk.layers.BatchNormalization(name="bn")
    bn.build((None, 5))
    assert [w.trainable for w in bn.weights] == [True, True, False, False]
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.path for w in bn.weights] == ["bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]
    layer = _dense()
    layer.bias.trainable = False
    assert not layer.bias.requires_grad
    assert layer.trainable_weights == [layer.kernel] and layer.non_trainable_weights == [layer.bias]


def test_a_plain_tensor_is_trainable_when_it_requires_gradients():
    assert sd.tensor(np.ones(2, np.float32), requires_grad=True).trainable
    assert not sd.tensor(np.ones(2, np.float32)).trainable
    assert sd.tensor(np.ones(2)).path is None


def test_save_and_load_own_variables_round_trip():
    source = sk.layers.BatchNormalization()
    source.build((None, 3))
    source.moving_mean.assign(np.array([1.0, 2.0, 3.0]))
    store = {}
    source.save_own_variables(store)
    assert sorted(store) == ["0", "1", "2", "3"]
    store["0"][0] = 99.0                                  # the store holds copies
    assert source.gamma.numpy()[0] == 1.0
    target = sk.layers.BatchNormalization()
    target.build((None, 3))
    target.load_own_variables(store)
    np.testing.assert_array_equal(target.moving_mean.numpy(), [1.0, 2.0, 3.0])
    assert target.gamma.numpy()[0] == 99.0


def test_own_variables_are_trainable_first_then_the_rest():
    layer = _dense()
    layer.kernel.trainable = False
    store = {}
    layer.save_own_variables(store)
    assert store["0"].shape == (3,) and store["1"].shape == (4, 3)


def test_load_own_variables_checks_the_count():
    layer = _dense()
    with pytest.raises(ValueError, match=r"expected 2 variables, but received 1 .*\['kernel', 'bias'\]"):
        layer.load_own_variables({"0": np.zeros((4, 3))})
    with pytest.raises(ValueError, match="must match"):
        layer.load_own_variables({"0": np.zeros((3, 3)), "1": np.zeros(3)})


def test_a_layer_that_overrides_the_hooks_is_saved_through_them(tmp_path):
    class Scaled(sk.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1],), "ones")
            self.built = True

        def call(self, x):
            return x * self.w

        def save_own_variables(self, store):
            store["scaled"] = self.w.numpy() * 10

        def load_own_variables(self, store):
            self.w.assign(store["scaled"] / 10)

    pytest.importorskip("h5py")
    model = sk.Sequential([sk.Input((3,)), Scaled()])
    model.layers[0].w.assign(np.array([1.0, 2.0, 3.0]))
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    other = sk.Sequential([sk.Input((3,)), Scaled()])
    other.load_weights(path)
    np.testing.assert_allclose(other.layers[0].w.numpy(), [1.0, 2.0, 3.0])


def test_dtype_policy():
    layer = sk.layers.Dense(2, dtype="float64")
    policy = layer.dtype_policy
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == ("float64", "float64", "float64")
    assert policy.quantization_mode is None
    assert layer.compute_dtype == layer.variable_dtype == "float64"
    assert sk.layers.Dense(2, dtype=policy).dtype == "float64"
    assert sk.layers.Dense(2, dtype={"class_name": "DTypePolicy", "config": {"name": "float16"}}).dtype == "float16"
    assert type(policy).from_config(policy.get_config()) == policy
    assert sk.dtype_policies.DTypePolicy("float64") == policy


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16", "int8_from_float32", "float8_from_float32"])
def test_mixed_and_quantized_policies_are_refused_as_out_of_scope(name):
    with pytest.raises(ValueError, match=rf"'{name}'.*out of scope"):
        sk.layers.Dense(2, dtype=name)


def test_bfloat16_layers_compute_and_train_in_bfloat16():
    pytest.importorskip("ml_dtypes")
    layer = sk.layers.Dense(3, dtype="bfloat16", activation="relu")
    out = layer(np.ones((2, 4), np.float32))
    assert out.dtype.name == "bfloat16" and layer.kernel.dtype.name == "bfloat16"
    out.sum().backward()
    assert layer.kernel.grad.dtype.name == "bfloat16"
    assert layer.dtype_policy.name == "bfloat16"


def test_bfloat16_without_ml_dtypes_says_how_to_get_it(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_ml_dtypes(name, *args, **kwargs):
        if name == "ml_dtypes":
            raise ImportError("no ml_dtypes")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ml_dtypes)
    with pytest.raises(TypeError, match="ml_dtypes package: pip install ml-dtypes"):
        sd.backend.dtype("bfloat16")
