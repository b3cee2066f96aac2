"""shendu/layers/normalization.py (and the fused op in shendu/ops/normalization.py): BatchNormalization
and LayerNormalization through the layer contract, plus the moving-statistics rules and frozen layers."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import call_with_weights, layer_contract

import shendu as sd
from shendu import initializers, layers

# non-trivial statistics and affine weights, so the references test every term
WEIGHTS = dict(gamma_initializer=initializers.RandomUniform(0.5, 1.5), beta_initializer="random_normal",
               moving_mean_initializer="random_normal",
               moving_variance_initializer=initializers.RandomUniform(0.5, 2.0))


def _shaped(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def bn_train(x, gamma, beta, *moving, axis=-1, eps=1e-3):
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return _shaped(gamma, x.ndim, axis) * (x - mean) / np.sqrt(var + eps) + _shaped(beta, x.ndim, axis)


def bn_infer(x, gamma, beta, mm, mv, axis=-1, eps=1e-3):
    return (_shaped(gamma, x.ndim, axis) * (x - _shaped(mm, x.ndim, axis)) / np.sqrt(_shaped(mv, x.ndim, axis) + eps)
            + _shaped(beta, x.ndim, axis))


# ---------------------------------------------------------------- BatchNormalization

@pytest.mark.parametrize("shape,axis,training", [
    ((8, 5), -1, False), ((4, 3, 3, 2), -1, False), ((4, 3, 5), 1, False),
    ((6, 4), -1, True), ((4, 3, 3, 2), -1, True), ((4, 3, 5), 1, True),
], ids=["2d-inference", "4d-inference", "axis1-inference", "2d-training", "4d-training", "axis1-training"])
def test_batch_norm_contract(shape, axis, training):
    dim = shape[axis]
    ref = bn_train if training else bn_infer
    layer_contract(partial(layers.BatchNormalization, axis=axis, **WEIGHTS), shape, shape, [(dim,)] * 4,
                   non_trainable=2, call_kwargs=dict(training=training),
                   reference=lambda x, *w: ref(x, *w, axis=axis))


def test_batch_norm_without_center_and_scale_contract():
    layer_contract(partial(layers.BatchNormalization, center=False, scale=False), (6, 3), (6, 3), [(3,), (3,)],
                   non_trainable=2, call_kwargs=dict(training=True),
                   reference=lambda x, mm, mv: bn_train(x, np.ones(3), np.zeros(3)))


@pytest.mark.parametrize("shape,axis", [((16, 3), -1), ((4, 3, 5, 2), -1), ((4, 3, 5), 1)],
                         ids=["2d", "4d", "axis1"])
def test_batch_norm_moving_statistics_update(shape, axis):
    x = np.random.default_rng(0).normal(2.0, 3.0, size=shape).astype(np.float32)
    bn = layers.BatchNormalization(axis=axis, **WEIGHTS)
    bn(x)                                               # build; inference leaves the statistics alone
    m0, v0 = bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()
    np.testing.assert_array_equal(bn.get_weights()[2], m0)
    bn(x, training=True)
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    # m <- 0.99 m + 0.01 batch, with the biased batch variance (Keras's rule; torch uses the unbiased one)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.99 * m0 + 0.01 * x.mean(axis=axes), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 * v0 + 0.01 * x.var(axis=axes), rtol=1e-5, atol=1e-6)
    assert bn.moving_mean.dtype == np.float32 and bn.moving_variance.dtype == np.float32


def test_batch_norm_custom_momentum():
    x = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    bn = layers.BatchNormalization(momentum=0.5)
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * x.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.5 + 0.5 * x.var(0), rtol=1e-5)


def test_frozen_batch_norm_runs_in_inference_mode_contract():
    def frozen(dtype):
        bn = layers.BatchNormalization(dtype=dtype, **WEIGHTS)
        bn.trainable = False
        return bn
    bn = layer_contract(frozen, (6, 4), (6, 4), [(4,)] * 4, non_trainable=4, call_kwargs=dict(training=True),
                        reference=bn_infer)
    assert bn.trainable_weights == []


def test_frozen_batch_norm_statistics_do_not_move():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 3)).astype(np.float32)
    bn = layers.BatchNormalization(**WEIGHTS)
    bn(x)
    bn.trainable = False
    before = bn.get_weights()
    y = bn(x, training=True).numpy()
    for old, new in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_allclose(y, bn_infer(x.astype(np.float64), *before), rtol=1e-5, atol=1e-5)
    bn.trainable = True                              # unfrozen: training mode again
    bn(x, training=True)
    assert not np.array_equal(bn.get_weights()[2], before[2])


def test_batch_norm_training_output_is_normalized():
    x = np.random.default_rng(0).normal(5.0, 4.0, size=(64, 3)).astype(np.float32)
    y = layers.BatchNormalization()(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(0), 16.0 / (16.0 + 1e-3), rtol=1e-3)


def test_batch_norm_fused_gradient_matches_composed_ops():
    # the fused op (STYLE.md section 4) against the same formula built from primitives
    rng = np.random.default_rng(0)
    x, g, b, v = rng.normal(size=(5, 3)), rng.uniform(0.5, 1.5, 3), rng.normal(size=3), rng.normal(size=(5, 3))
    xs = [sd.tensor(a, requires_grad=True) for a in (x, g, b)]
    bn = layers.BatchNormalization(dtype="float64")
    bn(x)
    bn.set_weights([g, b, np.zeros(3), np.ones(3)])
    fused = call_with_weights(bn, xs[0], xs[1:], training=True)
    (fused * sd.tensor(v)).sum().backward()
    ys = [sd.tensor(a, requires_grad=True) for a in (x, g, b)]
    mean = sd.mean(ys[0], axis=0, keepdims=True)
    var = sd.mean((ys[0] - mean) ** 2, axis=0, keepdims=True)
    composed = ys[1] * (ys[0] - mean) / sd.sqrt(var + 1e-3) + ys[2]
    (composed * sd.tensor(v)).sum().backward()
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12, atol=1e-12)
    for a, c in zip(xs, ys):
        np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- LayerNormalization

def ln(x, gamma, beta, axes=(-1,), eps=1e-3):
    axes = tuple(a % x.ndim for a in axes)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    return gamma.reshape(shape) * (x - mean) / np.sqrt(var + eps) + beta.reshape(shape)


LN_WEIGHTS = dict(gamma_initializer=initializers.RandomUniform(0.5, 1.5), beta_initializer="random_normal")


@pytest.mark.parametrize("shape,axis,weight_shape", [
    ((3, 4, 6), -1, (6,)), ((3, 4, 6), [1, 2], (4, 6)), ((3, 4, 6), 1, (4,)), ((5, 7), -1, (7,)),
    ((2, 3, 4, 2), [1, 3], (3, 2)),
], ids=["last", "axes12", "axis1", "2d", "axes13"])
def test_layer_norm_contract(shape, axis, weight_shape):
    axes = tuple(axis) if isinstance(axis, list) else (axis,)
    for training in (False, True):                    # the same computation either way
        layer_contract(partial(layers.LayerNormalization, axis=axis, **LN_WEIGHTS), shape, shape,
                       [weight_shape] * 2, call_kwargs=dict(training=training),
                       reference=lambda x, g, b: ln(x, g, b, axes), grad=not training)


def test_layer_norm_without_center_and_scale_has_no_weights():
    layer_contract(partial(layers.LayerNormalization, center=False, scale=False, epsilon=1e-5), (3, 5), (3, 5), [],
                   reference=lambda x: ln(x, np.ones(5), np.zeros(5), eps=1e-5))


def test_layer_norm_normalizes_each_sample():
    x = np.random.default_rng(0).normal(3.0, 5.0, size=(4, 50)).astype(np.float32)
    y = layers.LayerNormalization(epsilon=1e-6)(x).numpy()
    np.testing.assert_allclose(y.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(1), 1.0, rtol=1e-4)


STEP_MASK = np.array([[True, True, False, True], [True, False, False, False], [True, True, True, False]])


def bn_train_masked(x, gamma, beta, *moving, eps=1e-3):
    kept = x[STEP_MASK]                                   # (kept steps, channels): padding does not count
    count = len(kept) + 1e-7                              # Keras adds its epsilon to the count
    mean = kept.sum(axis=0) / count
    var = ((kept - mean) ** 2).sum(axis=0) / count
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def test_batch_norm_training_with_a_mask_contract():
    layer_contract(partial(layers.BatchNormalization, **WEIGHTS), (3, 4, 2), (3, 4, 2), [(2,)] * 4,
                   non_trainable=2, call_kwargs=dict(training=True, mask=STEP_MASK), reference=bn_train_masked)


def test_batch_norm_mask_keeps_padding_out_of_the_moving_statistics():
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    x[~STEP_MASK] = 100.0                                  # padded steps: any value, they must not count
    t = sd.tensor(x)
    t._keras_mask = STEP_MASK                              # as Embedding(mask_zero=True) would leave it
    bn = layers.BatchNormalization()
    bn(t, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x[STEP_MASK].mean(0), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * x[STEP_MASK].var(0), rtol=1e-5)


def test_layer_norm_rms_scaling_follows_keras_contract():
    # Keras's deprecated rms_scaling: y = γ x / √(var + ε) (the variance, not the mean square), no β
    def ref(x, g):
        return g * x / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-3)
    layer_contract(partial(layers.LayerNormalization, rms_scaling=True, **LN_WEIGHTS), (3, 5), (3, 5), [(5,)],
                   reference=ref)
