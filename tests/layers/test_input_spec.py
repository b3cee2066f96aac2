"""shendu/layers/input_spec.py: InputSpec constraints and their teaching errors."""
from __future__ import annotations

import numpy as np
import pytest

import shendu.keras as sk
from shendu.layers.input_spec import InputSpec, check_input_spec


class _Probe(sk.layers.Layer):
    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@pytest.mark.parametrize("spec,shape,message", [
    (InputSpec(ndim=3, layout="(batch, time, features)"), (2, 4), r"rank 3 \(batch, time, features\).*\(2, 4\)"),
    (InputSpec(min_ndim=3), (2, 4), r"rank 3 or more"),
    (InputSpec(max_ndim=2), (2, 4, 1), r"rank 2 or less"),
    (InputSpec(axes={-1: 5}), (2, 4), r"size 5 on axis -1"),
    (InputSpec(shape=(None, 3, None)), (2, 4, 1), r"shape \(None, 3, None\)"),
])
def test_input_spec_rejects_with_the_expectation_and_the_shape(spec, shape, message):
    with pytest.raises(ValueError, match=message):
        _Probe(spec)(np.zeros(shape, "float32"))


def test_input_spec_accepts_unknown_sizes_and_matching_inputs():
    spec = InputSpec(ndim=3, axes={-1: 4}, shape=(None, None, 4))
    assert _Probe(spec)(sk.Input(shape=(None, 4))).shape == (None, None, 4)
    assert _Probe(spec)(np.zeros((2, 7, 4), "float32")).shape == (2, 7, 4)


def test_input_spec_per_input_and_optional():
    layer = _Probe([InputSpec(ndim=2), InputSpec(ndim=3, optional=True)])
    check_input_spec(layer, layer.input_spec, [(2, 3), None])
    with pytest.raises(ValueError, match="input 1 of"):
        check_input_spec(layer, layer.input_spec, [(2, 3), (2, 3)])
    with pytest.raises(ValueError, match=r"expects 2 input\(s\)"):
        check_input_spec(layer, layer.input_spec, [(2, 3), (2, 3, 4), (1,)])


def test_input_spec_config_round_trip_and_bad_axes():
    spec = InputSpec(ndim=2, axes={1: 3})
    assert InputSpec.from_config(spec.get_config()).get_config() == spec.get_config()
    with pytest.raises(ValueError, match="outside an input of rank 2"):
        InputSpec(ndim=2, axes={3: 1})


def test_one_spec_for_a_list_of_inputs_is_a_count_error():
    with pytest.raises(ValueError, match=r"expects 1 input\(s\) but was called on 2"):
        _Probe(InputSpec(ndim=2))([np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32")])
