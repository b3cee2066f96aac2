"""Invalid layer arguments raise Keras's exception type with a message naming the argument and the value;
quantization and LoRA arguments say they are out of scope."""
from __future__ import annotations

import numpy as np
import pytest

import shendu.keras as sk

L = sk.layers

INVALID = [
    # (constructor, exception, what the message must name)
    (lambda: L.Dropout(0.5, noise_shape="Invalid"), ValueError, r"`noise_shape`.*tuple or list.*'Invalid'"),
    (lambda: L.Dropout(0.5, noise_shape=(20, 1.5, 10)), ValueError, r"`noise_shape`.*integers or None.*1\.5"),
    (lambda: L.Dropout(0.5, noise_shape=(20, -1, 10)), ValueError, r"`noise_shape`.*positive.*-1"),
    (lambda: L.Dropout(0.5, noise_shape=(20, 0, 10)), ValueError, r"`noise_shape`.*positive.*0"),
    (lambda: L.Dropout(-0.1), ValueError, r"argument `rate`.*rate=-0\.1"),
    (lambda: L.Dropout(1.5), ValueError, r"argument `rate`.*rate=1\.5"),
    (lambda: L.ReLU(max_value=-10), ValueError, r"max_value.*max_value=-10"),
    (lambda: L.ReLU(negative_slope=-1), ValueError, r"negative_slope.*negative_slope=-1"),
    (lambda: L.ReLU(negative_slope=None), ValueError, r"negative_slope.*negative_slope=None"),
    (lambda: L.ReLU(threshold=-0.5), ValueError, r"threshold.*threshold=-0\.5"),
    (lambda: L.ReLU(threshold=None), ValueError, r"threshold.*threshold=None"),
    (lambda: L.LeakyReLU(negative_slope=None), ValueError, r"negative_slope.*None"),
    (lambda: L.LeakyReLU(negative_slope=-0.2), ValueError, r"negative_slope.*-0\.2"),
    (lambda: L.Attention(score_mode="invalid_mode"), ValueError, r"score_mode.*'invalid_mode'"),
    (lambda: L.LayerNormalization(axis={"axis": -1}), TypeError, r"'axis'.*\{'axis': -1\}"),
    (lambda: L.Cropping2D(cropping=(1,)), ValueError, r"Cropping2D.*\(1,\)"),
    (lambda: L.Cropping2D(cropping=((1, 2), (3, -4))), ValueError, r"non-negative.*-4"),
    (lambda: L.Cropping2D(cropping=((1, 2), "3")), ValueError, r"Cropping2D.*'3'"),
    (lambda: L.Embedding(3.7, 8), ValueError, r"`input_dim` must be a positive integer.*3\.7"),
    (lambda: L.Embedding(3, 0), ValueError, r"`output_dim` must be a positive integer.*0"),
    (lambda: L.BatchNormalization(renorm=True, renorm_clipping={"invalid": 1}), ValueError,
     r"invalid keys for `renorm_clipping`.*'invalid'"),
    (lambda: L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 1, "rmin": 2}), ValueError,
     r"rmax should be greater than rmin.*rmax=1, rmin=2"),
    (lambda: L.BatchNormalization(renorm=True, renorm_clipping={"dmax": -1}), ValueError, r"dmax.*dmax=-1"),
]


@pytest.mark.parametrize("make,error,pattern", INVALID, ids=[f"{i}-{p[:20]}" for i, (_, _, p) in enumerate(INVALID)])
def test_invalid_arguments_raise_keras_exception_types(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_invalid_arguments_raise_the_same_exception_types_in_keras(keras):
    """The exception types above are Keras 3's own (one spot check per layer family)."""
    for make in (lambda: keras.layers.Dropout(0.5, noise_shape=(20, -1, 10)), lambda: keras.layers.ReLU(threshold=-1),
                 lambda: keras.layers.Attention(score_mode="x"), lambda: keras.layers.LeakyReLU(negative_slope=None),
                 lambda: keras.layers.Cropping2D(cropping=((1, 2), (3, -4)))):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(TypeError):
        keras.layers.LayerNormalization(axis={"axis": -1})


CALL_ERRORS = [
    (lambda: L.Cropping1D((3, 3))(np.zeros((2, 5, 3), np.float32)), r"`cropping` parameter of `Cropping1D`.*5 steps"),
    (lambda: L.Cropping2D(((3, 3), (0, 0)))(np.zeros((1, 5, 5, 2), np.float32)),
     r"Values in `cropping` argument should be smaller.*5 rows"),
    (lambda: L.Permute((1, 3))(np.zeros((2, 3, 4), np.float32)), r"Invalid permutation argument `dims`.*\(1, 3\)"),
    (lambda: L.LayerNormalization(axis=99)(np.zeros((2, 4), np.float32)), r"axis 99 is out of bounds.*rank 2"),
    (lambda: L.LayerNormalization(axis=[-1, 1])(np.zeros((2, 4), np.float32)), r"Duplicate axes.*\[-1, 1\]"),
    (lambda: L.Attention()([np.zeros((1, 2, 2), np.float32)] * 4), r"list of length 2 or 3.*4 tensors"),
    (lambda: L.Attention()([np.zeros((1, 2, 2), np.float32)] * 2, mask=np.ones((1, 2), bool)),
     r"layer mask must be a list.*a single ndarray"),
    (lambda: L.Attention()([np.zeros((1, 2, 2), np.float32)] * 2, mask=[np.ones((1, 2), bool)]),
     r"mask must be a list of length 2 or 3.*a list of 1"),
    (lambda: L.Softmax()(np.zeros((1, 3), np.float32), mask=np.ones((2, 3), bool)),
     r"mask of shape \(2, 3\) must be broadcastable to the inputs \(1, 3\)"),
    (lambda: L.Softmax()(np.zeros((1, 3), np.float32), mask=np.ones((1, 1, 3), bool)),
     r"must not have more dimensions.*\(1, 1, 3\)"),
]


@pytest.mark.parametrize("call,pattern", CALL_ERRORS, ids=[f"{i}" for i in range(len(CALL_ERRORS))])
def test_invalid_calls_raise_value_errors_naming_the_problem(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_dense_on_the_wrong_feature_count_says_it_is_incompatible():
    layer = L.Dense(2)
    layer.build((None, 2))
    with pytest.raises(ValueError, match=r"2 features.*\(1, 3\) is incompatible with the layer"):
        layer(np.zeros((1, 3), np.float32))


@pytest.mark.parametrize("make", [lambda: L.Dense(2, lora_rank=4), lambda: L.Embedding(5, 2, lora_rank=2),
                                  lambda: L.Conv2D(2, 3, lora_rank=2), lambda: L.Dense(2, lora_alpha=8.0)],
                         ids=["dense", "embedding", "conv", "alpha"])
def test_lora_arguments_are_out_of_scope(make):
    with pytest.raises(NotImplementedError, match=r"lora_(rank|alpha).*LoRA.*out of scope"):
        make()


@pytest.mark.parametrize("method,args", [("quantize", ("int8",)), ("enable_lora", (4,))])
def test_quantize_and_enable_lora_are_out_of_scope(method, args):
    layer = L.Dense(2)
    layer.build((None, 3))
    with pytest.raises(NotImplementedError, match="out of scope"):
        getattr(layer, method)(*args)


def test_quantization_config_is_refused_and_none_is_accepted():
    with pytest.raises((NotImplementedError, ValueError), match="quantiz"):
        L.Dense(2, quantization_config={"mode": "int8"})
    assert L.Dense(2, quantization_config=None, lora_rank=None).get_config()["quantization_config"] is None
