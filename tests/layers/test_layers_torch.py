"""Core, conv, pooling and normalization layers against PyTorch: forward, input gradient and weight gradients.

Each test builds the shendu layer, copies its weights into torch's layout (Dense kernel (in, out) is
Linear.weight.T; Conv2D (kh, kw, in, out) -> (out, in, kh, kw); Conv2DTranspose (kh, kw, out, in) ->
(in, out, kh, kw)), runs both on the same float32 input, backpropagates the same random upstream
gradient, and requires max |shendu - torch| <= 1e-5 x max(1, max |torch|) for every result. The torch
side works in shendu's NHWC layout (it permutes to NCHW inside), so the results compare directly.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import shendu as sd  # noqa: E402
from shendu import initializers, layers  # noqa: E402

NCHW, NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


def _close(ours, theirs, what):
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, torch {theirs.shape}"
    scale = max(1.0, float(np.abs(theirs).max()))
    diff = float(np.abs(ours - theirs).max())
    assert diff <= 1e-5 * scale, f"{what}: max |shendu - torch| = {diff:.3g} > 1e-5 x {scale:.3g}"


def compare(layer, x, torch_fn, to_torch=(), seed=0, **call_kwargs):
    """Run ``layer`` and ``torch_fn(x, *params)`` on x; compare outputs, input gradients and weight gradients.

    ``to_torch`` has one function per trainable weight: Keras layout -> torch layout. Returns the torch params.
    """
    x = np.asarray(x, np.float32)
    layer(x)                                          # build (inference: BatchNormalization's statistics stay)
    weights = layer.trainable_weights
    assert len(weights) == len(to_torch)
    params = [torch.tensor(np.ascontiguousarray(f(w.numpy())), requires_grad=True) for f, w in zip(to_torch, weights)]

    t = sd.tensor(x, requires_grad=True)
    y = layer(t, **call_kwargs)
    v = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(np.float32)
    (y * sd.tensor(v)).sum().backward()

    tt = torch.tensor(x, requires_grad=True)
    yt = torch_fn(tt, *params)
    (yt * torch.tensor(v)).sum().backward()

    name = type(layer).__name__
    _close(y.numpy(), yt.detach().numpy(), f"{name} output")
    _close(t.grad.numpy(), tt.grad.numpy(), f"{name} input gradient")
    for f, w, p in zip(to_torch, weights, params):
        _close(f(w.grad.numpy()), p.grad.numpy(), f"{name} gradient of '{w.name}'")
    return params


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _same(size, k, s, d=1):
    """TensorFlow's 'same' padding (before, after) of one axis."""
    k_eff = (k - 1) * d + 1
    total = max((-(-size // s) - 1) * s + k_eff - size, 0)
    return total // 2, total - total // 2


IDENTITY = (lambda a: a)

# ---------------------------------------------------------------- Dense

@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3)], ids=["2d", "3d"])
def test_dense_matches_torch(shape):
    layer = layers.Dense(6, bias_initializer="random_normal")
    compare(layer, _input(shape), lambda x, W, b: F.linear(x, W, b), to_torch=(lambda k: k.T, IDENTITY))


def test_dense_activation_matches_torch():
    layer = layers.Dense(4, activation="sigmoid", bias_initializer="random_normal")
    compare(layer, _input((3, 5)), lambda x, W, b: torch.sigmoid(F.linear(x, W, b)),
            to_torch=(lambda k: k.T, IDENTITY))


# ---------------------------------------------------------------- convolutions

CONV_KERNEL = (lambda k: k.transpose(3, 2, 0, 1))             # (kh, kw, in, out) -> (out, in, kh, kw)


@pytest.mark.parametrize("shape,filters,k,s,d,padding", [
    ((2, 7, 6, 3), 4, (3, 3), (1, 1), (1, 1), "valid"),
    ((2, 7, 6, 3), 4, (3, 3), (1, 1), (1, 1), "same"),
    ((2, 8, 7, 2), 3, (3, 3), (2, 2), (1, 1), "same"),
    ((1, 6, 6, 2), 2, (2, 4), (2, 1), (1, 1), "same"),
    ((2, 9, 8, 2), 3, (3, 3), (1, 1), (2, 2), "same"),
    ((1, 9, 7, 1), 2, (3, 2), (2, 3), (1, 1), "valid"),
], ids=["valid", "same", "same-stride2", "same-even-kernel", "same-dilation2", "valid-rect-strides"])
def test_conv2d_matches_torch(shape, filters, k, s, d, padding):
    pads = [_same(shape[1 + i], k[i], s[i], d[i]) if padding == "same" else (0, 0) for i in range(2)]

    def theirs(x, W, b):
        x = F.pad(x.permute(*NCHW), (*pads[1], *pads[0]))
        return F.conv2d(x, W, b, stride=s, dilation=d).permute(*NHWC)

    layer = layers.Conv2D(filters, k, strides=s, padding=padding, dilation_rate=d, bias_initializer="random_normal")
    compare(layer, _input(shape), theirs, to_torch=(CONV_KERNEL, IDENTITY))


def test_conv2d_channels_first_matches_torch():
    layer = layers.Conv2D(3, 3, data_format="channels_first", bias_initializer="random_normal")
    compare(layer, _input((2, 2, 6, 5)), lambda x, W, b: F.conv2d(x, W, b), to_torch=(CONV_KERNEL, IDENTITY))


@pytest.mark.parametrize("padding,k,s,d", [("valid", 3, 1, 1), ("same", 4, 2, 1), ("causal", 3, 1, 2),
                                           ("valid", 2, 3, 1)], ids=["valid", "same-stride2", "causal", "stride3"])
def test_conv1d_matches_torch(padding, k, s, d):
    shape = (2, 11, 3)
    pads = {"valid": (0, 0), "same": _same(shape[1], k, s, d), "causal": ((k - 1) * d, 0)}[padding]

    def theirs(x, W, b):
        return F.conv1d(F.pad(x.transpose(1, 2), pads), W, b, stride=s, dilation=d).transpose(1, 2)

    layer = layers.Conv1D(4, k, strides=s, padding=padding, dilation_rate=d, bias_initializer="random_normal")
    compare(layer, _input(shape), theirs, to_torch=(lambda K: K.transpose(2, 1, 0), IDENTITY))


@pytest.mark.parametrize("padding,s", [("valid", 1), ("same", 2)])
def test_conv1d_with_relu_matches_torch_through_the_fused_op(padding, s):
    """Conv1D(activation='relu') runs Conv2D's fused op on a one-row image: ReLU's gradient included."""
    shape, k = (3, 12, 5), 4
    pads = _same(shape[1], k, s, 1) if padding == "same" else (0, 0)

    def theirs(x, W, b):
        return F.relu(F.conv1d(F.pad(x.transpose(1, 2), pads), W, b, stride=s)).transpose(1, 2)

    layer = layers.Conv1D(6, k, strides=s, padding=padding, activation="relu", bias_initializer="random_normal")
    compare(layer, _input(shape), theirs, to_torch=(lambda K: K.transpose(2, 1, 0), IDENTITY))
    assert layer(_input(shape)).creator.__class__.__name__ != "Conv2DAct"   # a reshape of the fused op's output
    assert layer(_input(shape)).creator.inputs[0].creator.__class__.__name__ == "Conv2DAct"


def _deconv_length(size, k, s, padding, output_padding):
    if output_padding is None:
        return size * s + max(k - s, 0) if padding == "valid" else size * s
    return (size - 1) * s + k - 2 * (k // 2 if padding == "same" else 0) + output_padding


@pytest.mark.parametrize("shape,k,s,padding,output_padding", [
    ((2, 4, 5, 2), 3, 1, "valid", None),
    ((2, 3, 4, 2), 3, 2, "valid", None),
    ((1, 3, 3, 3), 4, 2, "same", None),
    ((1, 3, 4, 2), 3, 2, "same", None),
    ((2, 3, 2, 1), 2, 3, "valid", None),
    ((1, 2, 3, 2), 3, 3, "same", None),
    ((1, 3, 4, 2), 3, 2, "valid", 1),
    ((1, 3, 3, 2), 3, 2, "same", 1),
], ids=["valid-s1", "valid-s2", "same-s2-even", "same-s2-odd", "valid-s3", "same-s3", "output-padding-valid",
        "output-padding-same"])
def test_conv2d_transpose_matches_torch(shape, k, s, padding, output_padding):
    # torch's full transposed conv ((in - 1) s + k), then TensorFlow's crop (or zero extension) to Keras's length
    out = [_deconv_length(n, k, s, padding, output_padding) for n in shape[1:3]]
    full = [(n - 1) * s + k for n in shape[1:3]]
    before = [max(f - o, 0) // 2 if padding == "same" else 0 for f, o in zip(full, out)]

    def theirs(x, W, b):
        y = F.conv_transpose2d(x.permute(*NCHW), W, None, stride=s)
        extra = [max(bf + o - f, 0) for bf, o, f in zip(before, out, full)]
        y = F.pad(y, (0, extra[1], 0, extra[0]))
        y = y[:, :, before[0]:before[0] + out[0], before[1]:before[1] + out[1]]
        return y.permute(*NHWC) + b

    layer = layers.Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=output_padding,
                                   bias_initializer="random_normal")
    compare(layer, _input(shape), theirs, to_torch=(lambda K: K.transpose(3, 2, 0, 1), IDENTITY))


def test_conv2d_transpose_matches_torch_module_padding():
    # where torch's symmetric `padding` expresses Keras's 'same' exactly (k - s even), use torch's own module
    layer = layers.Conv2DTranspose(2, 4, strides=2, padding="same", bias_initializer="random_normal")
    module = torch.nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)

    def theirs(x, W, b):
        y = torch.func.functional_call(module, {"weight": W, "bias": b}, (x.permute(*NCHW),))
        return y.permute(*NHWC)

    params = compare(layer, _input((2, 3, 4, 3)), theirs, to_torch=(lambda K: K.transpose(3, 2, 0, 1), IDENTITY))
    assert params[0].shape == (3, 2, 4, 4)


# ---------------------------------------------------------------- pooling

@pytest.mark.parametrize("name,k,s", [("MaxPooling2D", 2, 2), ("MaxPooling2D", 3, 2), ("MaxPooling2D", (3, 2), 1),
                                      ("AveragePooling2D", 2, 2), ("AveragePooling2D", 3, 2),
                                      ("AveragePooling2D", (2, 3), (1, 2))],
                         ids=["max", "max-overlap", "max-rect", "avg", "avg-overlap", "avg-rect"])
def test_pooling2d_matches_torch(name, k, s):
    pool = F.max_pool2d if name.startswith("Max") else F.avg_pool2d
    compare(getattr(layers, name)(k, s), _input((2, 7, 8, 3)),
            lambda x: pool(x.permute(*NCHW), k, s).permute(*NHWC))


@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling1D"])
def test_pooling1d_matches_torch(name):
    pool = F.max_pool1d if name.startswith("Max") else F.avg_pool1d
    compare(getattr(layers, name)(3, 2), _input((2, 9, 3)), lambda x: pool(x.transpose(1, 2), 3, 2).transpose(1, 2))


def test_global_pooling_matches_torch():
    compare(layers.GlobalAveragePooling2D(), _input((2, 4, 5, 3)), lambda x: x.mean(dim=(1, 2)))
    compare(layers.GlobalMaxPooling1D(), _input((2, 6, 3)), lambda x: x.amax(dim=1))


# ---------------------------------------------------------------- normalization

BN_WEIGHTS = dict(gamma_initializer=initializers.RandomUniform(0.5, 1.5), beta_initializer="random_normal",
                  moving_mean_initializer="random_normal",
                  moving_variance_initializer=initializers.RandomUniform(0.5, 2.0))


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 5, 2)], ids=["2d", "4d"])
def test_batch_norm_training_matches_torch(shape):
    layer = layers.BatchNormalization(**BN_WEIGHTS)
    x = _input(shape) * 3 + 1
    layer(x)
    mean0, var0 = layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy()
    running_mean, running_var = torch.tensor(mean0), torch.tensor(var0)
    perm = (0, 3, 1, 2) if len(shape) == 4 else (0, 1)
    back = (0, 2, 3, 1) if len(shape) == 4 else (0, 1)

    def theirs(x, g, b):
        y = F.batch_norm(x.permute(*perm), running_mean, running_var, g, b, training=True, momentum=1 - 0.99,
                         eps=1e-3)
        return y.permute(*back)

    compare(layer, x, theirs, to_torch=(IDENTITY, IDENTITY), training=True)
    # moving mean: torch's running_mean follows the same rule m <- 0.99 m + 0.01 batch
    _close(layer.moving_mean.numpy(), running_mean.numpy(), "moving_mean")
    # moving variance: torch keeps the unbiased batch variance, Keras the biased one, so use Keras's formula
    axes = tuple(i for i in range(len(shape)) if i != len(shape) - 1)
    biased = torch.tensor(x).var(dim=axes, unbiased=False).numpy()
    _close(layer.moving_variance.numpy(), 0.99 * var0 + 0.01 * biased, "moving_variance")


def test_batch_norm_inference_matches_torch():
    layer = layers.BatchNormalization(**BN_WEIGHTS)
    x = _input((2, 4, 3, 3))
    layer(x)
    mean, var = torch.tensor(layer.moving_mean.numpy()), torch.tensor(layer.moving_variance.numpy())
    compare(layer, x, lambda x, g, b: F.batch_norm(x.permute(*NCHW), mean, var, g, b, training=False,
                                                   eps=1e-3).permute(*NHWC),
            to_torch=(IDENTITY, IDENTITY), training=False)


def test_batch_norm_axis1_matches_torch():
    layer = layers.BatchNormalization(axis=1, **BN_WEIGHTS)
    x = _input((4, 3, 6))
    layer(x)
    mean, var = torch.tensor(layer.moving_mean.numpy()), torch.tensor(layer.moving_variance.numpy())
    compare(layer, x, lambda x, g, b: F.batch_norm(x, mean, var, g, b, training=True, momentum=0.01, eps=1e-3),
            to_torch=(IDENTITY, IDENTITY), training=True)


@pytest.mark.parametrize("shape,axis", [((3, 4, 6), -1), ((3, 4, 6), [1, 2]), ((5, 8), -1)],
                         ids=["last", "axes12", "2d"])
def test_layer_norm_matches_torch(shape, axis):
    normalized = tuple(shape[a] for a in (axis if isinstance(axis, list) else [axis]))
    layer = layers.LayerNormalization(axis=axis, gamma_initializer=initializers.RandomUniform(0.5, 1.5),
                                      beta_initializer="random_normal")
    compare(layer, _input(shape) * 2 + 1, lambda x, g, b: F.layer_norm(x, normalized, g, b, eps=1e-3),
            to_torch=(IDENTITY, IDENTITY))


# ---------------------------------------------------------------- activation layers

@pytest.mark.parametrize("layer,theirs", [
    (lambda: layers.LeakyReLU(), lambda x: F.leaky_relu(x, 0.3)),
    (lambda: layers.LeakyReLU(negative_slope=0.05), lambda x: F.leaky_relu(x, 0.05)),
    (lambda: layers.ELU(), lambda x: F.elu(x)),
    (lambda: layers.ELU(alpha=0.5), lambda x: F.elu(x, 0.5)),
    (lambda: layers.Activation("gelu"), lambda x: F.gelu(x)),
    (lambda: layers.ReLU(max_value=1.0), lambda x: F.hardtanh(x, 0.0, 1.0)),
    (lambda: layers.ReLU(negative_slope=0.1, threshold=0.5), lambda x: torch.where(x >= 0.5, x, 0.1 * (x - 0.5))),
    (lambda: layers.Softmax(), lambda x: F.softmax(x, dim=-1)),
    (lambda: layers.Softmax(axis=1), lambda x: F.softmax(x, dim=1)),
    (lambda: layers.Activation("tanh"), torch.tanh),
], ids=["leaky", "leaky-0.05", "elu", "elu-0.5", "gelu", "relu-max", "relu-threshold", "softmax", "softmax-axis1",
        "tanh"])
def test_activation_layers_match_torch(layer, theirs):
    compare(layer(), _input((2, 3, 5)) * 2, theirs)
