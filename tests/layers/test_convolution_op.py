"""Conv.convolution_op as Keras's override point: a subclass changes the convolution alone and the layer
adds the bias and applies the activation around it, in either data_format; compared with Keras 3."""
import numpy as np
import pytest

from shendu import keras as shendu_keras


def _centered_kernel_conv(keras, base):
    class CenteredKernel(base):
        """Convolves with the kernel minus its mean."""
        def convolution_op(self, inputs, kernel):
            return super().convolution_op(inputs, kernel - keras.ops.mean(kernel))
    return CenteredKernel


@pytest.mark.parametrize("name, shape, kwargs", [
    ("Conv2D", (2, 7, 6, 3), dict(filters=4, kernel_size=(3, 2), activation="relu")),
    ("Conv2D", (2, 3, 7, 6), dict(filters=4, kernel_size=3, data_format="channels_first", activation="tanh")),
    ("Conv3D", (1, 5, 4, 4, 2), dict(filters=3, kernel_size=2, strides=2)),
])
def test_overridden_convolution_op_matches_keras(keras, name, shape, kwargs):
    import torch
    layer = _centered_kernel_conv(shendu_keras, getattr(shendu_keras.layers, name))(**kwargs)
    reference = _centered_kernel_conv(keras, getattr(keras.layers, name))(**kwargs)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    reference.build(shape)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    layer.build(shape)
    layer.set_weights(weights)
    np.testing.assert_allclose(layer(x).numpy(), reference(x).detach().numpy(), rtol=1e-4, atol=1e-5)
    xt = torch.tensor(x, requires_grad=True)
    reference(xt).sum().backward()
    from shendu import Tensor
    xs = Tensor(x, requires_grad=True)
    layer(xs).sum().backward()
    np.testing.assert_allclose(xs.grad.numpy() if hasattr(xs.grad, "numpy") else xs.grad, xt.grad.numpy(),
                               rtol=1e-4, atol=1e-5)


def test_default_convolution_op_is_the_convolution_without_bias(keras):
    layer = shendu_keras.layers.Conv2D(3, 2, activation="relu", bias_initializer="ones")
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 2)).astype("float32")
    y = layer(x).numpy()
    raw = layer.convolution_op(x, layer.kernel).numpy()
    np.testing.assert_allclose(y, np.maximum(raw + 1.0, 0), rtol=1e-6)


def test_conv1d_honours_the_override_as_tf_keras2_does():
    """Keras 3's Conv1D.call bypasses convolution_op (its override has no effect there); tf.keras 2's Conv1D
    goes through it, and so does shendu's: the result equals a plain Conv1D given the centered kernel."""
    layer = _centered_kernel_conv(shendu_keras, shendu_keras.layers.Conv1D)(5, 4, padding="same")
    plain = shendu_keras.layers.Conv1D(5, 4, padding="same")
    x = np.random.default_rng(0).normal(size=(1, 9, 2)).astype("float32")
    layer.build(x.shape)
    plain.build(x.shape)
    kernel, bias = [np.random.default_rng(1).normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights([kernel, bias])
    plain.set_weights([kernel - kernel.mean(), bias])
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)
