"""Dataset: tf.data's sources, transformations, shuffle buffer, element specs and cardinalities.

TensorFlow is not an oracle here (it is not installed); the expected values are tf.data's
documented behaviour: the examples of its API reference, and the buffer rule of ``shuffle``.
"""
import numpy as np
import pytest

import shendu as sd
from shendu.data import AUTOTUNE, INFINITE, UNKNOWN, Dataset, TensorSpec


def values(ds):
    return [v.tolist() if isinstance(v, np.ndarray) else v for v in ds.as_numpy_iterator()]


def test_tf_data_is_reachable_as_under_tensorflow():
    import shendu as tf
    assert tf.data.Dataset is Dataset and tf.data.AUTOTUNE == AUTOTUNE
    assert tf.data.TensorSpec is TensorSpec


def test_from_tensor_slices_tuple_dict_and_types():
    x, y = np.arange(12, dtype="float64").reshape(6, 2), np.arange(6)
    ds = Dataset.from_tensor_slices((x, y))
    assert len(ds) == 6 and int(ds.cardinality()) == 6
    assert ds.element_spec == (TensorSpec((2,), "float64"), TensorSpec((), "int64"))
    first = next(iter(ds))
    assert isinstance(first[0], sd.Tensor) and first[0].numpy().tolist() == [0.0, 1.0]
    d = Dataset.from_tensor_slices({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert d.element_spec["a"] == TensorSpec((), "float32")      # Python floats become float32, as in TensorFlow
    assert [e["b"] for e in d.as_numpy_iterator()] == ["x", "y"]
    assert Dataset.from_tensor_slices([1, 2]).element_spec.dtype == np.int32
    with pytest.raises(ValueError, match="same first dimension"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="from_tensors"):
        Dataset.from_tensor_slices(np.float32(1.0))


def test_from_tensors_range_and_enumerate():
    assert [v.tolist() for v in Dataset.from_tensors([1, 2, 3]).as_numpy_iterator()] == [[1, 2, 3]]
    assert values(Dataset.range(5)) == [0, 1, 2, 3, 4]
    assert values(Dataset.range(2, 5)) == [2, 3, 4]
    assert values(Dataset.range(1, 5, 2)) == [1, 3]
    assert values(Dataset.range(5, 1)) == []
    assert Dataset.range(3).element_spec == TensorSpec((), "int64")
    assert values(Dataset.range(3).enumerate(start=5)) == [(5, 0), (6, 1), (7, 2)]


def test_batch_and_drop_remainder():
    # tf.data's reference: range(8).batch(3) -> [0,1,2], [3,4,5], [6,7]; drop_remainder drops [6,7]
    assert values(Dataset.range(8).batch(3)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert values(Dataset.range(8).batch(3, drop_remainder=True)) == [[0, 1, 2], [3, 4, 5]]
    assert int(Dataset.range(8).batch(3).cardinality()) == 3
    assert int(Dataset.range(8).batch(3, drop_remainder=True).cardinality()) == 2
    assert Dataset.range(8).batch(3).element_spec.shape == (None,)
    assert Dataset.range(8).batch(3, drop_remainder=True).element_spec.shape == (3,)
    x = np.arange(20).reshape(10, 2)
    slow = list(Dataset.from_tensor_slices(x).map(lambda v: v).batch(4).as_numpy_iterator())
    fast = list(Dataset.from_tensor_slices(x).batch(4).as_numpy_iterator())
    assert all(np.array_equal(a, b) for a, b in zip(slow, fast)) and len(slow) == len(fast) == 3
    with pytest.raises(ValueError, match="padded_batch"):
        list(Dataset.from_generator(lambda: iter([[1], [1, 2]]), output_signature=TensorSpec((None,), "int32"))
             .batch(2))


def test_padded_batch_unbatch_and_rebatching():
    ds = Dataset.range(1, 5).map(lambda n: np.full(int(n), n))
    # tf.data's reference example: each batch is padded to its longest element
    assert values(ds.padded_batch(2)) == [[[1, 0], [2, 2]], [[3, 3, 3, 0], [4, 4, 4, 4]]]
    assert values(ds.padded_batch(2, padded_shapes=(5,), padding_values=-1))[0] == [[1, -1, -1, -1, -1],
                                                                                    [2, 2, -1, -1, -1]]
    assert values(Dataset.range(5).batch(2).unbatch()) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="larger than its padded shape"):
        list(ds.padded_batch(2, padded_shapes=(1,)))


def test_map_filter_and_parallel_map_keep_order():
    ds = Dataset.from_tensor_slices((np.arange(6), np.arange(6) * 10))
    assert values(ds.map(lambda a, b: a + b)) == [0, 11, 22, 33, 44, 55]
    assert values(Dataset.range(10).filter(lambda v: v % 3 == 0)) == [0, 3, 6, 9]
    assert int(Dataset.range(10).filter(lambda v: v > 2).cardinality()) == UNKNOWN
    threaded = Dataset.range(50).map(lambda v: v * 2, num_parallel_calls=AUTOTUNE)
    assert values(threaded) == [2 * i for i in range(50)]
    # a map function may return shendu Tensors (layers, tf.cast); they come back as arrays
    mapped = Dataset.range(4).batch(2).map(lambda v: sd.ops.cast(v, "float32") / 2)
    assert mapped.element_spec == TensorSpec((None,), "float32")
    assert values(mapped) == [[0.0, 0.5], [1.0, 1.5]]
    d = Dataset.from_tensor_slices({"a": np.arange(3)}).map(lambda e: {"a": e["a"], "b": e["a"] * 2})
    assert [e["b"] for e in d.as_numpy_iterator()] == [0, 2, 4]
    with pytest.raises(ValueError, match="one boolean"):
        list(Dataset.range(3).batch(3).filter(lambda v: v > 0))


def test_repeat_take_skip_and_cardinality():
    assert values(Dataset.range(3).repeat(2)) == [0, 1, 2, 0, 1, 2]
    assert values(Dataset.range(3).repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert int(Dataset.range(3).repeat().cardinality()) == INFINITE
    assert int(Dataset.range(3).repeat().take(7).cardinality()) == 7
    assert values(Dataset.range(5).skip(2)) == [2, 3, 4] and len(Dataset.range(5).skip(9)) == 0
    assert values(Dataset.range(5).take(-1)) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="infinite"):
        len(Dataset.range(3).repeat())
    with pytest.raises(TypeError, match="unknown"):
        len(Dataset.range(3).filter(lambda v: True))


def test_zip_concatenate_cache_prefetch_flat_map():
    a, b = Dataset.range(1, 4), Dataset.range(4, 7)
    assert values(Dataset.zip((a, b))) == [(1, 4), (2, 5), (3, 6)]
    assert values(Dataset.zip(a, Dataset.range(10))) == [(1, 0), (2, 1), (3, 2)]
    zipped = Dataset.zip({"x": a, "y": b})
    assert [e["y"] for e in zipped.as_numpy_iterator()] == [4, 5, 6] and len(zipped) == 3
    assert values(a.concatenate(b)) == [1, 2, 3, 4, 5, 6] and len(a.concatenate(b)) == 6
    calls = []
    cached = Dataset.range(3).map(lambda v: calls.append(int(v)) or v).cache()
    assert values(cached) == values(cached) == [0, 1, 2]
    assert calls == [0, 1, 2]                      # the second pass reads the cache
    assert values(Dataset.range(3).prefetch(AUTOTUNE)) == [0, 1, 2]
    assert values(Dataset.range(3).flat_map(lambda n: Dataset.range(n))) == [0, 0, 1]
    with pytest.raises(ValueError, match="memory only"):
        Dataset.range(3).cache("file.cache")


def test_shuffle_buffer_rule_and_seeds():
    n, k = 200, 10
    order = values(Dataset.range(n).shuffle(k, seed=3))
    assert sorted(order) == list(range(n))
    # tf.data's buffer rule: output i is drawn from elements 0..i+k-1, never from further ahead
    assert all(v < i + k for i, v in enumerate(order))
    assert order != list(range(n))
    assert values(Dataset.range(20).shuffle(1, seed=0)) == list(range(20))     # a buffer of one does nothing
    assert values(Dataset.range(n).shuffle(k, seed=3)) == order                 # same seed, same order
    assert values(Dataset.range(n).shuffle(k, seed=4)) != order


def test_shuffle_reshuffles_each_iteration_unless_told_not_to():
    ds = Dataset.range(30).shuffle(30, seed=1)
    first, second = values(ds), values(ds)
    assert first != second and sorted(first) == sorted(second)
    again = Dataset.range(30).shuffle(30, seed=1)
    assert [values(again), values(again)] == [first, second]                   # reproducible epoch by epoch
    fixed = Dataset.range(30).shuffle(30, seed=1, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)
    # without a seed the order follows shendu's generator
    sd.set_seed(5)
    a = values(Dataset.range(30).shuffle(30))
    sd.set_seed(5)
    assert values(Dataset.range(30).shuffle(30)) == a


def test_shuffled_batches_of_arrays_stay_paired():
    x = np.arange(50)
    ds = Dataset.from_tensor_slices((x, x * 2)).shuffle(50, seed=0).batch(8).repeat(2)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 14
    assert all(np.array_equal(b, 2 * a) for a, b in batches)
    assert sorted(np.concatenate([a for a, _ in batches[:7]]).tolist()) == list(range(50))


def test_from_generator_signatures():
    def gen():
        for i in range(3):
            yield [np.ones(i + 1), i]              # a list where the signature has a tuple
    sig = (TensorSpec((None,), "float32"), TensorSpec((), "int32"))
    ds = Dataset.from_generator(gen, output_signature=sig)
    assert ds.element_spec == sig and int(ds.cardinality()) == UNKNOWN
    out = list(ds.as_numpy_iterator())
    assert out[2][0].dtype == np.float32 and out[2][0].tolist() == [1.0, 1.0, 1.0] and out[1][1] == 1
    assert len(list(ds)) == 3 and len(list(ds)) == 3          # the generator is called again for each pass
    legacy = Dataset.from_generator(lambda: iter(range(3)), output_types="int64", output_shapes=())
    assert values(legacy) == [0, 1, 2]
    with_args = Dataset.from_generator(lambda n: iter(range(int(n))), output_signature=TensorSpec((), "int64"),
                                       args=(2,))
    assert values(with_args) == [0, 1]
    with pytest.raises(TypeError, match="callable"):
        Dataset.from_generator(gen(), output_signature=sig)
    with pytest.raises(TypeError, match="output_signature"):
        Dataset.from_generator(gen)
    with pytest.raises(ValueError, match="shape"):
        list(Dataset.from_generator(gen, output_signature=(TensorSpec((2,), "float32"), TensorSpec((), "int32"))))


def test_string_elements_stay_python_strings():
    ds = Dataset.from_tensor_slices((np.array(["a b", "c"]), np.array([1, 0]))).batch(2)
    texts, labels = next(iter(ds))
    assert isinstance(texts, np.ndarray) and texts.tolist() == ["a b", "c"]
    assert isinstance(labels, sd.Tensor)
    assert repr(ds.element_spec[0]) == "TensorSpec(shape=(None,), dtype=string, name=None)"


def test_interleave_follows_tf_data_cycle_order():
    # tf.data's reference example for interleave(cycle_length=2, block_length=4)
    ds = Dataset.range(1, 6).interleave(lambda x: Dataset.from_tensors(x).repeat(6), cycle_length=2, block_length=4)
    assert values(ds) == [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5]


def test_reduce_shard_unique_take_while_single_element():
    assert int(Dataset.range(5).reduce(np.int64(0), lambda state, v: state + v)) == 10
    assert values(Dataset.range(10).shard(3, 1)) == [1, 4, 7] and len(Dataset.range(10).shard(3, 1)) == 3
    assert values(Dataset.from_tensor_slices([1, 1, 2, 3, 2]).unique()) == [1, 2, 3]
    assert values(Dataset.range(10).take_while(lambda v: v < 3)) == [0, 1, 2]
    assert int(Dataset.range(1).get_single_element()) == 0
    with pytest.raises(ValueError, match="exactly one"):
        Dataset.range(2).get_single_element()


def test_tf_data_methods_not_provided_say_what_to_use():
    with pytest.raises(NotImplementedError, match="batch"):
        Dataset.range(3).window(2)
    with pytest.raises(AttributeError):
        Dataset.range(3).no_such_method
    import shendu as tf
    assert tf.data.experimental.AUTOTUNE == AUTOTUNE
    assert int(tf.data.experimental.cardinality(Dataset.range(3).repeat())) == tf.data.experimental.INFINITE_CARDINALITY
    assert tf.TensorSpec is TensorSpec


def test_reading_the_element_spec_does_not_use_up_a_shuffle():
    plain = Dataset.range(20).shuffle(20, seed=2).map(lambda v: v * 1)
    peeked = Dataset.range(20).shuffle(20, seed=2).map(lambda v: v * 1)
    assert peeked.element_spec == TensorSpec((), "int64")
    assert values(peeked) == values(plain)


def test_interleave_cycle_length_three():
    ds = Dataset.range(3).interleave(lambda x: Dataset.from_tensors(x).repeat(2), cycle_length=3, block_length=1)
    assert values(ds) == [0, 1, 2, 0, 1, 2]
