"""Attention, AdditiveAttention and MultiHeadAttention against the oracles: Keras 3 (same weights via
get_weights/set_weights: outputs, attention scores, input gradients, constructor defaults) and
PyTorch (MultiHeadAttention forward and backward against F.scaled_dot_product_attention and
nn.MultiheadAttention after mapping the weights), all in float32."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import shendu as sd  # noqa: E402
from shendu import layers  # noqa: E402
from shendu.testing import assert_close  # noqa: E402

if keras.backend.backend() != "torch":    # the gradient comparisons below use torch.autograd on Keras tensors
    pytest.skip("these oracles need Keras on its torch backend", allow_module_level=True)

Q_MASK = np.array([[True, True, True, False], [True, True, True, True]])
V_MASK = np.array([[True, True, True, False, False], [True, False, True, True, True]])   # column 0 always kept


def _numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _keras_input(x, mask=None, grad=False):
    t = torch.tensor(x, requires_grad=grad)
    if mask is not None:
        t._keras_mask = torch.tensor(mask)
    return t


def _shendu_input(x, mask=None, grad=False):
    t = sd.tensor(x, requires_grad=grad)
    if mask is not None:
        t._keras_mask = mask
    return t


def _same_weights(keras_layer, shendu_layer, rng):
    """Perturb Keras's initial weights (so biases and scales are not 0 or 1) and copy them across."""
    weights = [w + rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in keras_layer.get_weights()]
    keras_layer.set_weights(weights)
    shendu_layer.set_weights(weights)


# ---------------------------------------------------------------- Attention and AdditiveAttention

ATTENTION_ROWS = [
    ("Attention", dict(), dict()),
    ("Attention", dict(use_scale=True), dict(use_causal_mask=True)),
    ("Attention", dict(score_mode="concat"), dict()),
    ("Attention", dict(score_mode="concat", use_scale=True), dict(use_causal_mask=True)),
    ("AdditiveAttention", dict(), dict(use_causal_mask=True)),
    ("AdditiveAttention", dict(use_scale=False), dict()),
]


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "masks"])
@pytest.mark.parametrize("with_key", [False, True], ids=["qv", "qvk"])
@pytest.mark.parametrize("name,kwargs,call", ATTENTION_ROWS,
                         ids=["dot", "dot-scale-causal", "concat", "concat-scale-causal", "additive-causal",
                              "additive-no-scale"])
def test_attention_matches_keras(name, kwargs, call, with_key, masked, rng):
    q = rng.normal(size=(2, 4, 3)).astype(np.float32)
    v = rng.normal(size=(2, 5, 6 if with_key else 3)).astype(np.float32)
    k = rng.normal(size=(2, 5, 3)).astype(np.float32)
    qm, vm = (Q_MASK, V_MASK) if masked else (None, None)
    keras_layer, shendu_layer = getattr(keras.layers, name)(**kwargs), getattr(layers, name)(**kwargs)

    def inputs(make, grad=False):
        ts = [make(q, qm, grad), make(v, vm, grad)] + ([make(k, None, grad)] if with_key else [])
        return ts

    keras_layer(inputs(_keras_input))
    shendu_layer(inputs(_shendu_input))
    assert [w.shape for w in shendu_layer.get_weights()] == [w.shape for w in keras_layer.get_weights()]
    _same_weights(keras_layer, shendu_layer, rng)

    kt, st = inputs(_keras_input, grad=True), inputs(_shendu_input, grad=True)
    k_out, k_scores = keras_layer(kt, return_attention_scores=True, **call)
    s_out, s_scores = shendu_layer(st, return_attention_scores=True, **call)
    assert_close(s_out, _numpy(k_out), atol=1e-6, rtol=1e-5, name=f"{name} output")
    assert_close(s_scores, _numpy(k_scores), atol=1e-6, rtol=1e-5, name=f"{name} scores")
    if masked:
        np.testing.assert_array_equal(s_out._keras_mask, Q_MASK)

    g = rng.normal(size=s_out.shape).astype(np.float32)
    (k_out * torch.tensor(g)).sum().backward()
    (s_out * sd.tensor(g)).sum().backward()
    for i, (a, b) in enumerate(zip(st, kt)):
        assert_close(a.grad, _numpy(b.grad), atol=1e-5, rtol=1e-5, name=f"{name} gradient of input {i}")


@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_attention_defaults_match_keras_config(name):
    expected = getattr(keras.layers, name)().get_config()
    got = getattr(layers, name)().get_config()
    for config in (expected, got):
        config.pop("name")
    assert got == expected


# ---------------------------------------------------------------- MultiHeadAttention against Keras

MHA_ROWS = [   # (constructor args, query shape, value shape, key shape or None, call args)
    (dict(num_heads=2, key_dim=3), (2, 4, 6), (2, 5, 6), None, dict()),
    (dict(num_heads=2, key_dim=3), (1, 4, 6), (1, 5, 6), None, dict(use_causal_mask=True)),
    (dict(num_heads=3, key_dim=2, value_dim=4, use_bias=False), (2, 4, 6), (2, 5, 3), (2, 5, 7), dict()),
    (dict(num_heads=2, key_dim=3, output_shape=(2, 5)), (2, 4, 6), (2, 5, 6), None, dict(use_causal_mask=True)),
    (dict(num_heads=2, key_dim=3, use_gate=True), (2, 4, 6), (2, 5, 6), None, dict()),
    (dict(num_heads=2, key_dim=3, sliding_window=2), (2, 4, 6), (2, 5, 6), None, dict(use_causal_mask=True)),
    (dict(num_heads=2, key_dim=3, attention_axes=(1, 2)), (2, 3, 4, 6), (2, 2, 5, 6), None, dict()),
    (dict(num_heads=2, key_dim=3, attention_axes=2), (2, 3, 4, 6), (2, 3, 5, 6), None, dict()),
]


MHA_IDS = ["basic", "batch1-causal", "key-value-dim-no-bias", "output-shape-causal", "gate", "sliding-window",
           "axes-1-2", "axis-2"]
# Keras masks are (batch, T): they apply to sequence inputs only, so the image rows run unmasked
MHA_PARAMS = [pytest.param(*row, masked, id=f"{name}-{'masks' if masked else 'no-mask'}")
              for row, name in zip(MHA_ROWS, MHA_IDS) for masked in (False, True) if len(row[1]) == 3 or not masked]


@pytest.mark.parametrize("kwargs,q_shape,v_shape,k_shape,call,masked", MHA_PARAMS)
def test_multi_head_attention_matches_keras(kwargs, q_shape, v_shape, k_shape, call, masked, rng):
    q = rng.normal(size=q_shape).astype(np.float32)
    v = rng.normal(size=v_shape).astype(np.float32)
    k = rng.normal(size=k_shape).astype(np.float32) if k_shape else None
    qm, vm = (Q_MASK[:q_shape[0]], V_MASK[:q_shape[0]]) if masked else (None, None)
    keras_layer = keras.layers.MultiHeadAttention(**kwargs)
    shendu_layer = layers.MultiHeadAttention(**kwargs)
    keras_layer(q, v, k)
    shendu_layer(q, v, k)
    assert [w.shape for w in shendu_layer.get_weights()] == [w.shape for w in keras_layer.get_weights()]
    assert [w.path for w in shendu_layer.weights] == [w.path.replace(keras_layer.name, shendu_layer.name)
                                                      for w in keras_layer.weights]
    _same_weights(keras_layer, shendu_layer, rng)

    # Keras 3 reads the query mask from the query tensor only (an explicit query_mask is ignored), so
    # the masks travel on the tensors here, as they do after Embedding(mask_zero=True)
    k_out, k_scores = keras_layer(_keras_input(q, qm), _keras_input(v, vm), None if k is None else torch.tensor(k),
                                  return_attention_scores=True, **call)
    s_out, s_scores = shendu_layer(_shendu_input(q, qm), _shendu_input(v, vm), k, return_attention_scores=True,
                                   **call)
    assert_close(s_out, _numpy(k_out), atol=1e-6, rtol=1e-5, name="MultiHeadAttention output")
    assert_close(s_scores, _numpy(k_scores), atol=1e-6, rtol=1e-5, name="MultiHeadAttention scores")
    if not masked or not (~qm).any():
        # Keras's fused path (no scores returned) agrees too, except on a fully hidden query row, which it
        # averages over every value where the scores path (and shendu) gives weights 0
        fused = keras_layer(_keras_input(q, qm), _keras_input(v, vm), None if k is None else torch.tensor(k), **call)
        assert_close(s_out, _numpy(fused), atol=1e-6, rtol=1e-5, name="MultiHeadAttention output (Keras fused)")


def test_multi_head_attention_attention_mask_matches_keras(rng):
    q, v = rng.normal(size=(2, 4, 6)).astype(np.float32), rng.normal(size=(2, 5, 6)).astype(np.float32)
    attention_mask = rng.random((2, 4, 5)) > 0.4
    attention_mask[..., 0] = True
    keras_layer, shendu_layer = keras.layers.MultiHeadAttention(2, 3), layers.MultiHeadAttention(2, 3)
    keras_layer(q, v)
    shendu_layer(q, v)
    _same_weights(keras_layer, shendu_layer, rng)
    for call in (dict(), dict(use_causal_mask=True)):
        k_out, k_scores = keras_layer(q, v, attention_mask=attention_mask, return_attention_scores=True, **call)
        s_out, s_scores = shendu_layer(q, v, attention_mask=attention_mask, return_attention_scores=True, **call)
        assert_close(s_out, _numpy(k_out), atol=1e-6, rtol=1e-5, name="output")
        assert_close(s_scores, _numpy(k_scores), atol=1e-6, rtol=1e-5, name="scores")


def test_multi_head_attention_defaults_match_keras_config():
    def strip(config):
        config.pop("name")
        return config

    for built in (False, True):
        keras_layer, shendu_layer = keras.layers.MultiHeadAttention(2, 3), layers.MultiHeadAttention(2, 3)
        if built:
            x = np.zeros((1, 4, 5), np.float32)
            keras_layer(x, x)
            shendu_layer(x, x)
        assert strip(shendu_layer.get_config()) == strip(keras_layer.get_config())


# ---------------------------------------------------------------- MultiHeadAttention against PyTorch

def _torch_weights(layer):
    return [torch.tensor(w, requires_grad=True) for w in layer.get_weights()]


def _torch_mha(q, v, k, weights, num_heads, key_dim, mask):
    """The same projections in torch, then F.scaled_dot_product_attention on (batch, heads, T, key_dim)."""
    Wq, bq, Wk, bk, Wv, bv, Wo, bo = weights

    def heads(x, W, b):
        y = x @ W.reshape(W.shape[0], -1) + b.reshape(-1)
        return y.reshape(x.shape[0], x.shape[1], num_heads, -1).transpose(1, 2)

    O = torch.nn.functional.scaled_dot_product_attention(heads(q, Wq, bq), heads(k, Wk, bk), heads(v, Wv, bv),
                                                         attn_mask=mask)
    O = O.transpose(1, 2).reshape(q.shape[0], q.shape[1], -1)
    return O @ Wo.reshape(-1, Wo.shape[-1]) + bo


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "value-mask-causal"])
def test_multi_head_attention_forward_and_backward_match_torch_sdpa(masked, rng):
    heads, key_dim = 2, 4
    q = rng.normal(size=(2, 4, 6)).astype(np.float32)
    v = rng.normal(size=(2, 5, 5)).astype(np.float32)
    k = rng.normal(size=(2, 5, 3)).astype(np.float32)
    layer = layers.MultiHeadAttention(heads, key_dim, bias_initializer="glorot_uniform")
    call = dict(value_mask=V_MASK, use_causal_mask=True) if masked else {}
    layer(q, v, k)
    tq, tv, tk = (torch.tensor(x, requires_grad=True) for x in (q, v, k))
    tw = _torch_weights(layer)
    mask = torch.tensor((V_MASK[:, None, :] & np.tril(np.ones((4, 5), bool)))[:, None]) if masked else None
    expected = _torch_mha(tq, tv, tk, tw, heads, key_dim, mask)

    sq, sv, sk = (sd.tensor(x, requires_grad=True) for x in (q, v, k))
    out = layer(sq, sv, sk, **call)
    assert_close(out, _numpy(expected), atol=1e-6, rtol=1e-5, name="forward")
    g = rng.normal(size=out.shape).astype(np.float32)
    (expected * torch.tensor(g)).sum().backward()
    (out * sd.tensor(g)).sum().backward()
    pairs = [("query", sq, tq), ("value", sv, tv), ("key", sk, tk)] + \
            [(w.path, w, t) for w, t in zip(layer.weights, tw)]
    # float32 rounding scaled by the largest gradient: the key bias's true gradient is 0 (the softmax
    # cancels the shift q·b_k), so both sides hold only rounding noise there
    scale = max(float(t.grad.abs().max()) for _, _, t in pairs)
    for name, a, b in pairs:
        assert_close(a.grad, _numpy(b.grad), atol=1e-6 * scale, rtol=1e-5, name=f"gradient of {name}")


def test_multi_head_attention_matches_torch_multihead_attention(rng):
    embed, heads = 8, 2
    x = rng.normal(size=(3, 5, embed)).astype(np.float32)
    layer = layers.MultiHeadAttention(heads, embed // heads, bias_initializer="glorot_uniform")
    layer(x, x)
    Wq, bq, Wk, bk, Wv, bv, Wo, bo = (torch.tensor(w) for w in layer.get_weights())
    ref = torch.nn.MultiheadAttention(embed, heads, batch_first=True)
    with torch.no_grad():      # torch keeps (out, in) matrices: ours transposed, q/k/v stacked
        ref.in_proj_weight.copy_(torch.cat([W.reshape(embed, embed).T for W in (Wq, Wk, Wv)]))
        ref.in_proj_bias.copy_(torch.cat([b.reshape(-1) for b in (bq, bk, bv)]))
        ref.out_proj.weight.copy_(Wo.reshape(embed, embed).T)
        ref.out_proj.bias.copy_(bo)
    padding = np.array([[False] * 5, [False, False, False, True, True], [False] * 4 + [True]])
    tx = torch.tensor(x, requires_grad=True)
    expected, expected_scores = ref(tx, tx, tx, key_padding_mask=torch.tensor(padding), need_weights=True,
                                    average_attn_weights=False)
    sx = sd.tensor(x, requires_grad=True)
    out, scores = layer(sx, sx, value_mask=~padding, return_attention_scores=True)
    assert_close(out, _numpy(expected), atol=1e-6, rtol=1e-5, name="forward")
    assert_close(scores, _numpy(expected_scores), atol=1e-6, rtol=1e-5, name="attention weights")
    g = rng.normal(size=out.shape).astype(np.float32)
    (expected * torch.tensor(g)).sum().backward()
    (out * sd.tensor(g)).sum().backward()
    assert_close(sx.grad, _numpy(tx.grad), atol=1e-6 * float(tx.grad.abs().max()), rtol=1e-5, name="input gradient")
