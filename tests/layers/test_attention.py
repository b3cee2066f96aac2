"""shendu/layers/attention.py and shendu/layers/positional.py: every layer through the layer contract
(tests/helpers.py) against a NumPy reference, with and without masks, plus the rules the contract
cannot see (masks on the tensors, fully hidden rows, dropout, errors that teach).
Keras 3 and PyTorch comparisons live in test_attention_oracles.py."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import layer_contract

import shendu as sd
from shendu import layers
from shendu.layers.attention import causal_mask, masked_softmax, scaled_dot_product_attention
from shendu.layers.positional import positional_encoding
from shendu.testing import assert_close, gradcheck


# ---------------------------------------------------------------- NumPy references

def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _tril(tq, tk):
    return np.arange(tq)[:, None] >= np.arange(tk)[None, :]


def np_attention(inputs, *weights, mode="dot", use_scale=False, additive=False, q_mask=None, v_mask=None,
                 causal=False):
    """Keras 3's Attention / AdditiveAttention: scores, s - 1e9 where hidden, softmax, a v, hidden queries 0."""
    q, v = inputs[0], inputs[1]
    k = inputs[2] if len(inputs) > 2 else v
    w = list(weights)
    scale = w.pop(0) if use_scale else None
    if additive:
        t = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        s = (t * scale if scale is not None else t).sum(-1)
    elif mode == "dot":
        s = q @ k.swapaxes(-1, -2) * (scale if scale is not None else 1.0)
    else:
        pairs = q[:, :, None, :] + k[:, None, :, :]
        s = w.pop(0) * np.tanh(pairs * scale if scale is not None else pairs).sum(-1)
    keep = np.ones(s.shape, bool)
    if v_mask is not None:
        keep &= v_mask[:, None, :]
    if causal:
        keep &= _tril(*s.shape[-2:])
    out = _softmax(np.where(keep, s, s - 1e9)) @ v
    return out if q_mask is None else out * q_mask[..., None]


def np_mha(inputs, *weights, num_heads, key_dim, use_bias=True, use_gate=False, mask=None):
    """Vaswani et al.'s multi-head attention written with einsum, one letter per axis."""
    q, v = inputs[0], inputs[1]
    k = inputs[2] if len(inputs) > 2 else v
    w = list(weights)

    def proj(x, eq):
        kernel = w.pop(0)
        y = np.einsum(eq, x, kernel)
        return y + w.pop(0) if use_bias else y

    Q, K = proj(q, "btd,dnh->btnh"), proj(k, "bsd,dnh->bsnh")
    G = 1 / (1 + np.exp(-proj(q, "btd,dnh->btnh"))) if use_gate else 1.0
    V = proj(v, "bsd,dnh->bsnh")
    s = np.einsum("btnh,bsnh->bnts", Q, K) / np.sqrt(key_dim)
    if mask is not None:
        m = mask[:, None]
        a = np.where(m, _softmax(np.where(m, s, -1e9)), 0.0)
    else:
        a = _softmax(s)
    O = np.einsum("bnts,bsnh->btnh", a, V) * G
    return proj(O, "btnh,nho->bto")


class _ListMHA(layers.MultiHeadAttention):
    """MultiHeadAttention fed a list [query, value(, key)], so the contract can call it like other
    multi-input layers; the layer itself takes them as separate arguments, as Keras's does.

    The key bias is marked non-trainable here: it shifts each row of scores by the constant q·b_k,
    which the softmax ignores, so its gradient is zero by design (Keras keeps the weight for its
    layout) and the contract's "every trainable weight moves" check cannot hold for it.
    """

    def __call__(self, inputs, **kwargs):
        return super().__call__(*inputs, **kwargs)

    def build(self, *shapes):
        super().build(*shapes)
        if self.key_bias is not None:
            self.key_bias.trainable = False


Q_MASK = np.array([[True, True, False], [True, True, True]])
V_MASK = np.array([[True, True, True, False, False], [True, False, True, True, True]])   # column 0 always kept


# ---------------------------------------------------------------- scaled dot-product attention

def test_sdpa_matches_numpy_with_mask_and_causal(rng):
    q, k, v = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 6, 5)), rng.normal(size=(2, 3, 6, 2))
    mask = rng.random((2, 1, 4, 6)) > 0.3
    mask[..., 0] = True
    out, a = scaled_dot_product_attention(q, k, v, mask=mask, causal=True, return_weights=True)
    keep = mask & _tril(4, 6)
    s = q @ k.swapaxes(-1, -2) / np.sqrt(5)
    expected_a = np.where(keep, _softmax(np.where(keep, s, -1e9)), 0.0)
    assert_close(a, expected_a, atol=1e-12, rtol=1e-10)
    assert_close(out, expected_a @ v, atol=1e-12, rtol=1e-10)


def test_sdpa_gradcheck_with_mask_causal_and_scale(rng):
    q, k, v = rng.normal(size=(1, 2, 3, 4)), rng.normal(size=(1, 2, 5, 4)), rng.normal(size=(1, 2, 5, 3))
    mask = np.array([True, True, False, True, False])
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask, causal=True, scale=0.7),
                     q, k, v)
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v), q, k, v)


def test_masked_softmax_hidden_row_gives_zeros_and_no_gradient():
    s = sd.tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), requires_grad=True)
    mask = np.array([[True, False, True], [False, False, False]])
    a = masked_softmax(s, mask)
    np.testing.assert_allclose(a.numpy()[0], _softmax(np.array([1.0, 3.0]))[[0, 0, 1]] * [1, 0, 1])
    np.testing.assert_array_equal(a.numpy()[1], 0.0)
    (a * sd.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy()[1], 0.0)
    assert s.grad.numpy()[0, 1] == 0.0


def test_causal_mask_is_top_left_aligned():
    np.testing.assert_array_equal(causal_mask(2, 3)[0], [[True, False, False], [True, True, False]])


# ---------------------------------------------------------------- Attention and AdditiveAttention

ATTENTION_CASES = [
    (dict(), {}),
    (dict(use_scale=True), dict(use_causal_mask=True)),
    (dict(score_mode="concat"), dict(mask=[Q_MASK, V_MASK])),
    (dict(score_mode="concat", use_scale=True), dict(mask=[None, V_MASK], use_causal_mask=True)),
    (dict(use_scale=True), dict(mask=[Q_MASK, V_MASK], use_causal_mask=True)),
]


@pytest.mark.parametrize("kwargs,call", ATTENTION_CASES, ids=["dot", "scale-causal", "concat-masks",
                                                              "concat-scale-vmask-causal", "scale-all-masks"])
def test_attention_contract(kwargs, call):
    masks = call.get("mask") or [None, None]
    n_weights = kwargs.get("use_scale", False) + (kwargs.get("score_mode") == "concat")
    layer_contract(partial(layers.Attention, **kwargs), [(2, 3, 4), (2, 5, 4)], (2, 3, 4), [()] * n_weights,
                   call_kwargs=call,
                   reference=lambda xs, *w: np_attention(xs, *w, mode=kwargs.get("score_mode", "dot"),
                                                         use_scale=kwargs.get("use_scale", False), q_mask=masks[0],
                                                         v_mask=masks[1], causal=call.get("use_causal_mask", False)))


def test_attention_with_key_and_batch_one_contract():
    # value features (6) may differ from the query's and key's (4) once a key is given
    layer_contract(partial(layers.Attention, use_scale=True), [(1, 2, 4), (1, 5, 6), (1, 5, 4)], (1, 2, 6), [()],
                   call_kwargs=dict(use_causal_mask=True),
                   reference=lambda xs, *w: np_attention(xs, *w, use_scale=True, causal=True))


@pytest.mark.parametrize("use_scale", [True, False], ids=["scale", "no-scale"])
def test_additive_attention_contract(use_scale):
    call = dict(mask=[Q_MASK, V_MASK], use_causal_mask=True)
    layer_contract(partial(layers.AdditiveAttention, use_scale=use_scale), [(2, 3, 4), (2, 5, 4)], (2, 3, 4),
                   [(4,)] if use_scale else [], call_kwargs=call,
                   reference=lambda xs, *w: np_attention(xs, *w, use_scale=use_scale, additive=True,
                                                         q_mask=Q_MASK, v_mask=V_MASK, causal=True))


def test_additive_attention_batch_one_with_key_contract():
    layer_contract(layers.AdditiveAttention, [(1, 4, 3), (1, 2, 5), (1, 2, 3)], (1, 4, 5), [(3,)],
                   reference=lambda xs, *w: np_attention(xs, *w, use_scale=True, additive=True))


@pytest.mark.parametrize("cls", [layers.Attention, layers.AdditiveAttention])
def test_attention_on_one_tensor_says_what_to_pass(cls):
    x = np.zeros((2, 5, 8), np.float32)
    with pytest.raises(ValueError, match=r"list \[query, value\] or \[query, value, key\], got a single tensor of "
                                         r"shape \(2, 5, 8\)\. For self-attention pass the same tensor twice: "
                                         + cls.__name__ + r"\(\)\(\[x, x\]\)"):
        cls()(x)
    with pytest.raises(ValueError, match="got a list of 4 tensors"):
        cls()([x, x, x, x])


def test_attention_mismatched_query_and_key_features_teach():
    with pytest.raises(ValueError, match=r"same last axis.*\(None, 3, 4\).*\(None, 5, 6\).*Dense"):
        layers.Attention()([np.zeros((1, 3, 4), np.float32), np.zeros((1, 5, 6), np.float32)])
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="general")
    x = np.zeros((1, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"mask=\[query_mask, value_mask\].*a single ndarray"):
        layers.Attention()([x, x], mask=np.ones((1, 3), bool))


def test_attention_takes_masks_from_the_inputs_and_passes_the_query_mask_on(rng):
    q, v = sd.tensor(rng.normal(size=(2, 3, 4))), sd.tensor(rng.normal(size=(2, 5, 4)))
    q._keras_mask, v._keras_mask = Q_MASK, V_MASK
    layer = layers.Attention(dtype="float64")
    out = layer([q, v])
    expected = layer([q.detach(), v.detach()], mask=[Q_MASK, V_MASK])
    assert_close(out, expected, atol=0, rtol=0)
    np.testing.assert_array_equal(out._keras_mask, Q_MASK)
    np.testing.assert_array_equal(out.numpy()[0, 2], 0.0)           # the hidden query outputs zeros


def test_attention_scores_are_a_distribution_over_kept_values(rng):
    q, v = rng.normal(size=(2, 3, 4)).astype(np.float32), rng.normal(size=(2, 5, 4)).astype(np.float32)
    out, a = layers.Attention()([q, v], mask=[None, V_MASK], return_attention_scores=True, use_causal_mask=True)
    assert a.shape == (2, 3, 5)
    np.testing.assert_allclose(a.numpy().sum(-1), 1.0, rtol=1e-6)
    assert np.all(a.numpy()[~(V_MASK[:, None, :] & _tril(3, 5))] == 0)


def test_attention_dropout_only_in_training_and_seeded(rng):
    q, v = rng.normal(size=(2, 3, 4)).astype(np.float32), rng.normal(size=(2, 6, 4)).astype(np.float32)
    plain = layers.Attention()([q, v]).numpy()
    np.testing.assert_allclose(layers.Attention(dropout=0.5)([q, v]).numpy(), plain, rtol=1e-6)
    a = layers.Attention(dropout=0.5, seed=3)([q, v], training=True)
    b = layers.Attention(dropout=0.5, seed=3)([q, v], training=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), plain)
    out, scores = layers.Attention(dropout=0.5, seed=3)([q, v], training=True, return_attention_scores=True)
    # as in Keras 3, the weights returned are those applied: after dropout (some zeroed, the rest scaled by 2)
    assert (scores.numpy() == 0).any()
    np.testing.assert_allclose(out.numpy(), scores.numpy() @ v, rtol=1e-5, atol=1e-6)


def test_attention_config_round_trip():
    layer = layers.AdditiveAttention(use_scale=False, dropout=0.25, seed=2, name="att")
    config = layer.get_config()
    assert "score_mode" not in config and config["dropout"] == 0.25 and config["seed"] == 2
    assert layers.AdditiveAttention.from_config(config).get_config() == config


# ---------------------------------------------------------------- MultiHeadAttention

def _mha_shapes(dim_q, dim_k, dim_v, heads, key_dim, value_dim, out, use_bias=True, gate=False):
    shapes = []
    for dim, size in [(dim_q, key_dim), (dim_k, key_dim)] + ([(dim_q, value_dim)] if gate else []) + \
                     [(dim_v, value_dim)]:
        shapes += [(dim, heads, size)] + ([(heads, size)] if use_bias else [])
    return shapes + [(heads, value_dim) + out] + ([out] if use_bias else [])


MHA_CASES = [   # (constructor args, input shapes, call args, combined mask (batch, Tq, Tv) for the reference)
    (dict(), [(1, 3, 4), (1, 5, 4)], {}, None),
    (dict(), [(2, 3, 4), (2, 5, 4)], dict(use_causal_mask=True), np.broadcast_to(_tril(3, 5), (2, 3, 5))),
    (dict(), [(2, 3, 4), (2, 5, 4)], dict(query_mask=Q_MASK, value_mask=V_MASK, use_causal_mask=True),
     Q_MASK[:, :, None] & V_MASK[:, None, :] & _tril(3, 5)),
    (dict(use_bias=False, value_dim=2), [(2, 3, 4), (2, 5, 6), (2, 5, 3)],
     dict(attention_mask=np.array([[[1, 0, 1, 1, 0]] * 3, [[1, 1, 1, 1, 1]] * 3])),
     np.array([[[1, 0, 1, 1, 0]] * 3, [[1, 1, 1, 1, 1]] * 3], bool)),
    (dict(use_gate=True), [(2, 3, 4), (2, 5, 4)], dict(value_mask=V_MASK), np.broadcast_to(V_MASK[:, None], (2, 3, 5))),
]


@pytest.mark.parametrize("kwargs,shapes,call,mask", MHA_CASES,
                         ids=["batch1", "causal", "all-masks", "key-attention-mask-no-bias", "gate"])
def test_multi_head_attention_contract(kwargs, shapes, call, mask):
    heads, key_dim = 2, 3
    value_dim = kwargs.get("value_dim", key_dim)
    dims = [s[-1] for s in shapes] + [shapes[1][-1]]
    weight_shapes = _mha_shapes(dims[0], dims[2], dims[1], heads, key_dim, value_dim, (dims[0],),
                                kwargs.get("use_bias", True), kwargs.get("use_gate", False))
    layer_contract(partial(_ListMHA, heads, key_dim, bias_initializer="glorot_uniform", **kwargs), shapes,
                   shapes[0], weight_shapes, non_trainable=int(kwargs.get("use_bias", True)), call_kwargs=call,
                   reference=lambda xs, *w: np_mha(xs, *w, num_heads=heads, key_dim=key_dim,
                                                   use_bias=kwargs.get("use_bias", True),
                                                   use_gate=kwargs.get("use_gate", False), mask=mask))


def test_multi_head_attention_output_shape_contract():
    layer_contract(partial(_ListMHA, 3, 2, value_dim=4, output_shape=(2, 3)), [(2, 3, 5), (2, 4, 5)], (2, 3, 2, 3),
                   _mha_shapes(5, 5, 5, 3, 2, 4, (2, 3)), non_trainable=1)


def test_multi_head_attention_over_two_axes_contract():
    # a (batch, rows, cols, features) image attending over rows and columns together
    layer_contract(partial(_ListMHA, 2, 3, attention_axes=(1, 2)), [(1, 2, 3, 4), (1, 3, 2, 4)], (1, 2, 3, 4),
                   _mha_shapes(4, 4, 4, 2, 3, 3, (4,)), non_trainable=1)


def test_multi_head_attention_scores_shape_and_rows(rng):
    q, v = rng.normal(size=(2, 3, 4)).astype(np.float32), rng.normal(size=(2, 5, 4)).astype(np.float32)
    out, a = layers.MultiHeadAttention(4, 2)(q, v, return_attention_scores=True, value_mask=V_MASK)
    assert out.shape == (2, 3, 4) and a.shape == (2, 4, 3, 5)
    np.testing.assert_allclose(a.numpy().sum(-1), 1.0, rtol=1e-6)
    assert np.all(a.numpy()[:, :, :, 3:][0] == 0)


def test_multi_head_attention_masks_from_tensors_and_fully_hidden_queries(rng):
    mha = layers.MultiHeadAttention(2, 3, bias_initializer="glorot_uniform", dtype="float64")
    q, v = sd.tensor(rng.normal(size=(2, 3, 4))), sd.tensor(rng.normal(size=(2, 5, 4)))
    q._keras_mask, v._keras_mask = Q_MASK, V_MASK
    out = mha(q, v)
    np.testing.assert_array_equal(out._keras_mask, Q_MASK)      # the query's mask travels on
    expected = mha(q.detach(), v.detach(), query_mask=Q_MASK, value_mask=V_MASK)
    assert_close(out, expected, atol=0, rtol=0)
    # a hidden query attends to nothing: its weights are 0 and its output is the output bias alone (Keras 3's
    # return_attention_scores path; its fused path averages the values instead)
    np.testing.assert_allclose(out.numpy()[0, 2], mha.attention_output_bias.numpy(), rtol=1e-12)


def test_multi_head_attention_key_mask_ignored_when_key_is_value(rng):
    v = sd.tensor(rng.normal(size=(2, 5, 4)).astype(np.float32))
    v._keras_mask = V_MASK
    mha = layers.MultiHeadAttention(2, 3)
    np.testing.assert_array_equal(mha(v, v, v).numpy(), mha(v, v).numpy())


def test_multi_head_attention_key_bias_gradient_is_zero(rng):
    # q·(k_j + b_k) = q·k_j + q·b_k: the same shift for every j, which the softmax cancels
    mha = layers.MultiHeadAttention(2, 3, bias_initializer="glorot_uniform", dtype="float64")
    q, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    (mha(q, v, value_mask=V_MASK) * sd.tensor(rng.normal(size=(2, 3, 4)))).sum().backward()
    assert np.abs(mha.key_bias.grad.numpy()).max() < 1e-12
    assert np.abs(mha.query_bias.grad.numpy()).max() > 1e-3


def test_multi_head_attention_dropout_only_in_training(rng):
    x = rng.normal(size=(2, 6, 4)).astype(np.float32)
    mha = layers.MultiHeadAttention(2, 3, dropout=0.5, seed=1)
    inference = mha(x, x).numpy()
    np.testing.assert_array_equal(mha(x, x, training=False).numpy(), inference)
    assert not np.allclose(mha(x, x, training=True).numpy(), inference)


def test_multi_head_attention_call_errors_teach():
    x = np.zeros((2, 5, 8), np.float32)
    mha = layers.MultiHeadAttention(2, 4)
    with pytest.raises(ValueError, match=r"needs a query and a value.*\(2, 5, 8\).*mha\(x, x\)"):
        mha(x)
    with pytest.raises(ValueError, match=r"separate arguments, not a list.*mha\(x, x\)"):
        mha([x, x])
    with pytest.raises(ValueError, match="same shape except the last axis"):
        mha(x, np.zeros((2, 5, 8), np.float32), np.zeros((2, 4, 8), np.float32))
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        layers.MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match="attention_axes"):
        layers.MultiHeadAttention(2, 4, attention_axes=-1)(x, x)     # -1 would be the heads axis


def test_multi_head_attention_kernels_use_keras_fans():
    # EinsumDense fans: query kernel (dim, heads, key_dim) has fan_in = dim, fan_out = heads·key_dim
    sd.set_seed(0)
    mha = layers.MultiHeadAttention(8, 16)
    mha(np.zeros((1, 2, 64), np.float32), np.zeros((1, 2, 64), np.float32))
    limit = np.sqrt(6 / (64 + 8 * 16))
    for w in (mha.query_kernel, mha.attention_output_kernel):
        assert 0.95 * limit < np.abs(w.numpy()).max() <= limit


def test_multi_head_attention_in_a_functional_model(rng):
    inputs = layers.Input((5, 8))
    y = layers.MultiHeadAttention(num_heads=2, key_dim=4)(inputs, inputs, use_causal_mask=True)
    model = sd.models.Model(inputs, layers.LayerNormalization()(layers.Add()([inputs, y])))
    x = rng.normal(size=(3, 5, 8)).astype(np.float32)
    assert model(x).shape == (3, 5, 8)
    assert len(model.trainable_weights) == 10


def test_multi_head_attention_config_round_trip():
    mha = layers.MultiHeadAttention(3, 4, value_dim=5, output_shape=7, attention_axes=1, dropout=0.1, seed=4)
    config = mha.get_config()
    assert config["output_shape"] == (7,) and config["attention_axes"] == (1,) and config["value_dim"] == 5
    assert layers.MultiHeadAttention.from_config(config).get_config() == config


# ---------------------------------------------------------------- positions

def test_positional_encoding_formula():
    table = positional_encoding(6, 5)
    for pos in range(6):
        for j in range(5):
            angle = pos / 10000 ** (2 * (j // 2) / 5)
            assert table[pos, j] == pytest.approx(np.sin(angle) if j % 2 == 0 else np.cos(angle), abs=1e-12)


def test_positional_encoding_contract():
    layer_contract(layers.PositionalEncoding, (2, 5, 6), (2, 5, 6), [],
                   reference=lambda x: x + positional_encoding(5, 6))


def test_positional_encoding_keeps_mask_and_dtype(rng):
    x = sd.tensor(rng.normal(size=(2, 5, 4)).astype(np.float32))
    x._keras_mask = V_MASK
    layer = layers.PositionalEncoding()
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y._keras_mask, V_MASK)
    assert layer(x[:, :3]).shape == (2, 3, 4)             # shorter sequences reuse the table


class _AddedPositionEmbedding(layers.PositionEmbedding):
    """x + PositionEmbedding(x), the way it is used: the embeddings alone carry no input gradient."""

    def call(self, inputs, start_index=0):
        return inputs + super().call(inputs, start_index)


def test_position_embedding_contract():
    layer_contract(partial(_AddedPositionEmbedding, 7), (2, 5, 3), (2, 5, 3), [(7, 3)],
                   reference=lambda x, E: x + E[:5])


def test_position_embedding_start_index_and_length_error(rng):
    layer = layers.PositionEmbedding(4)
    x = np.zeros((1, 2, 3), np.float32)
    np.testing.assert_array_equal(layer(x, start_index=2).numpy()[0], layer.get_weights()[0][2:])
    with pytest.raises(ValueError, match="has 4 positions.*larger sequence_length"):
        layer(np.zeros((1, 5, 3), np.float32))
