"""shendu/tf_api: TensorFlow's top-level names under ``import shendu as tf`` (values against NumPy, float64
gradients checked where differentiable), and the teaching errors for names shendu does not have."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as tf
from shendu.missing import UnsupportedError
from shendu.testing import gradcheck

X = np.array([[1.0, -2.0, 3.0], [4.0, 0.5, -6.0]])


@pytest.mark.parametrize("call, expected", [
    (lambda: tf.reduce_sum(X), X.sum()),
    (lambda: tf.reduce_sum(X, axis=1, keepdims=True), X.sum(1, keepdims=True)),
    (lambda: tf.reduce_mean(X, 0), X.mean(0)),
    (lambda: tf.reduce_mean(np.array([1, 2, 4])), 2),                  # ints stay ints, as in TensorFlow
    (lambda: tf.reduce_max(X, axis=-1), X.max(-1)),
    (lambda: tf.reduce_min(X), X.min()),
    (lambda: tf.reduce_prod(X, 1), X.prod(1)),
    (lambda: tf.reduce_std(X), X.std()),
    (lambda: tf.reduce_variance(X, 0), X.var(0)),
    (lambda: tf.reduce_any(X > 3), True),
    (lambda: tf.reduce_all(X > -10, axis=0), [True, True, True]),
    (lambda: tf.reduce_logsumexp(X, 1), np.log(np.exp(X).sum(1))),
    (lambda: tf.reduce_euclidean_norm(X), np.linalg.norm(X)),
    (lambda: tf.concat([X, X], axis=0), np.concatenate([X, X])),
    (lambda: tf.concat([X, X], 1), np.concatenate([X, X], 1)),
    (lambda: tf.stack([X, X], axis=1), np.stack([X, X], 1)),
    (lambda: tf.unstack(X, axis=1)[1], X[:, 1]),
    (lambda: tf.ones((2, 3)), np.ones((2, 3))),
    (lambda: tf.zeros([2]), np.zeros(2)),
    (lambda: tf.ones_like(X), np.ones_like(X)),
    (lambda: tf.zeros_like(X, dtype=tf.int32), np.zeros((2, 3))),
    (lambda: tf.fill([2, 2], 7), np.full((2, 2), 7)),
    (lambda: tf.eye(2, 3), np.eye(2, 3)),
    (lambda: tf.eye(2, batch_shape=[3]), np.broadcast_to(np.eye(2), (3, 2, 2))),
    (lambda: tf.constant([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
    (lambda: tf.constant(0.5, shape=(2, 2)), np.full((2, 2), 0.5)),
    (lambda: tf.constant([1, 2, 3, 4], shape=(2, 2)), [[1, 2], [3, 4]]),
    (lambda: tf.cast(X, tf.int32), X.astype("int32")),
    (lambda: tf.shape(X), (2, 3)),
    (lambda: tf.rank(X), 2),
    (lambda: tf.size(X), 6),
    (lambda: tf.reshape(X, [3, -1]), X.reshape(3, 2)),
    (lambda: tf.transpose(X), X.T),
    (lambda: tf.transpose(X[None], perm=[2, 0, 1]), X[None].transpose(2, 0, 1)),
    (lambda: tf.expand_dims(X, 0), X[None]),
    (lambda: tf.squeeze(X[None]), X),
    (lambda: tf.matmul(X, X, transpose_b=True), X @ X.T),
    (lambda: tf.matmul(X, X, transpose_a=True), X.T @ X),
    (lambda: tf.square(X), X ** 2),
    (lambda: tf.sqrt(np.abs(X)), np.sqrt(np.abs(X))),
    (lambda: tf.exp(X), np.exp(X)),
    (lambda: tf.math.log(np.abs(X)), np.log(np.abs(X))),
    (lambda: tf.log(np.abs(X)), np.log(np.abs(X))),
    (lambda: tf.abs(X), np.abs(X)),
    (lambda: tf.pow(np.abs(X), 2.0), np.abs(X) ** 2),
    (lambda: tf.maximum(X, 0.0), np.maximum(X, 0)),
    (lambda: tf.minimum(X, 1.0), np.minimum(X, 1)),
    (lambda: tf.clip_by_value(X, -1.0, 1.0), np.clip(X, -1, 1)),
    (lambda: tf.clip_by_norm(X, 2.0), X * 2 / np.linalg.norm(X)),
    (lambda: tf.one_hot([0, 2], 3), np.eye(3)[[0, 2]]),
    (lambda: tf.one_hot([1], 2, on_value=5, off_value=-1), [[-1, 5]]),
    (lambda: tf.one_hot([1, 0], 2, axis=0), [[0, 1], [1, 0]]),
    (lambda: tf.argmax(X), X.argmax(0)),
    (lambda: tf.argmax(X, axis=1), X.argmax(1)),
    (lambda: tf.argmin(X, 1), X.argmin(1)),
    (lambda: tf.range(5), np.arange(5)),
    (lambda: tf.range(1, 10, 3), np.arange(1, 10, 3)),
    (lambda: tf.range(0.0, 1.0, 0.5), [0.0, 0.5]),
    (lambda: tf.cumsum(X, axis=1), np.cumsum(X, 1)),
    (lambda: tf.cumsum(X, axis=1, exclusive=True), np.cumsum(X, 1) - X),
    (lambda: tf.cumsum(X, axis=1, reverse=True), np.cumsum(X[:, ::-1], 1)[:, ::-1]),
    (lambda: tf.cumprod(X, axis=1, exclusive=True), np.cumprod(np.hstack([np.ones((2, 1)), X[:, :2]]), 1)),
    (lambda: tf.split(X, 3, axis=1)[2], X[:, 2:]),
    (lambda: tf.split(X, [1, -1], axis=1)[1], X[:, 1:]),
    (lambda: tf.tile(X, [2, 1]), np.tile(X, (2, 1))),
    (lambda: tf.pad(X, [[1, 0], [0, 2]]), np.pad(X, ((1, 0), (0, 2)))),
    (lambda: tf.pad(X, [[1, 1], [2, 1]], mode="REFLECT"), np.pad(X, ((1, 1), (2, 1)), "reflect")),
    (lambda: tf.pad(X, [[0, 0], [1, 1]], constant_values=9), np.pad(X, ((0, 0), (1, 1)), constant_values=9)),
    (lambda: tf.reverse(X, [1]), X[:, ::-1]),
    (lambda: tf.broadcast_to(X[:1], (3, 3)), np.broadcast_to(X[:1], (3, 3))),
    (lambda: tf.gather(X, [1, 0]), X[[1, 0]]),
    (lambda: tf.gather(X, [2, 2], axis=1), X[:, [2, 2]]),
    (lambda: tf.gather(X, [[2], [0]], batch_dims=1), [[3.0], [4.0]]),
    (lambda: tf.gather_nd(X, [[0, 1], [1, 2]]), [-2.0, -6.0]),
    (lambda: tf.boolean_mask(X, X > 0), X[X > 0]),
    (lambda: tf.boolean_mask(X, [True, False]), X[:1]),
    (lambda: tf.where(X > 0, X, 0.0), np.where(X > 0, X, 0)),
    (lambda: tf.where(X > 2), np.argwhere(X > 2)),
    (lambda: tf.sequence_mask([1, 3], 4), [[True, False, False, False], [True, True, True, False]]),
    (lambda: tf.add_n([X, X, X]), 3 * X),
    (lambda: tf.sort(X, direction="DESCENDING"), -np.sort(-X)),
    (lambda: tf.argsort(X), np.argsort(X)),
    (lambda: tf.norm(X), np.linalg.norm(X)),
    (lambda: tf.einsum("ij,kj->ik", X, X), X @ X.T),
    (lambda: tf.identity(X), X),
    (lambda: tf.stop_gradient(X), X),
    (lambda: tf.linspace(0.0, 1.0, 3), [0, 0.5, 1]),
    (lambda: tf.math.squared_difference(X, 1.0), (X - 1) ** 2),
    (lambda: tf.math.l2_normalize(X, axis=1), X / np.linalg.norm(X, axis=1, keepdims=True)),
    (lambda: tf.math.floormod(X, 4.0), np.mod(X, 4)),
    (lambda: tf.math.is_nan(X), np.isnan(X)),
    (lambda: tf.math.confusion_matrix([0, 1, 1], [0, 0, 1]), [[1, 0], [1, 1]]),
    (lambda: tf.math.top_k(X, 2)[0], -np.sort(-X)[:, :2]),
    (lambda: tf.math.unsorted_segment_sum(X, [1, 1], 3), [[0, 0, 0], X.sum(0), [0, 0, 0]]),
    (lambda: tf.math.xlogy(np.array([0.0, 2.0]), np.array([0.0, 3.0])), [0, 2 * np.log(3)]),
    (lambda: tf.math.softmax(X), np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
    (lambda: tf.linalg.matvec(X, np.ones(3)), X.sum(1)),
    (lambda: tf.linalg.trace(np.eye(3)), 3),
    (lambda: tf.linalg.band_part(np.ones((3, 3)), 0, -1), np.triu(np.ones((3, 3)))),
    (lambda: tf.linalg.inv(2 * np.eye(2)), np.eye(2) / 2),
    (lambda: tf.linalg.matrix_transpose(X), X.T),
    (lambda: tf.linalg.diag_part(X), [1.0, 0.5]),
])
def test_tf_names_match_numpy(call, expected):
    got = call()
    got = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
    np.testing.assert_allclose(got, np.asarray(expected, dtype=got.dtype if got.dtype != bool else None),
                               rtol=1e-6, atol=1e-6)


def test_tf_dtypes_and_defaults():
    assert tf.constant(1.5).dtype == np.float32 and tf.constant(2).dtype == np.int32
    assert tf.argmax(X).dtype == np.int64 and tf.argmax(X, output_type=tf.int32).dtype == np.int32
    assert tf.ones((1,)).dtype == tf.float32 and tf.float64 is np.float64 and tf.bool is np.bool_
    assert tf.string == "string" and tf.newaxis is None and tf.executing_eagerly()
    assert tf.is_tensor(tf.constant(1)) and not tf.is_tensor(1)


def test_tf_functions_are_differentiable():
    checks = [
        lambda x: tf.reduce_sum(tf.square(x), axis=1), lambda x: tf.reduce_mean(x * x, 0),
        lambda x: tf.reduce_max(x, 1), lambda x: tf.concat([x, tf.exp(x)], 1),
        lambda x: tf.matmul(x, x, transpose_b=True), lambda x: tf.clip_by_value(x, -1.5, 2.0),
        lambda x: tf.gather(x, [1, 0, 1]), lambda x: tf.gather_nd(x, [[0, 1], [1, 2]]),
        lambda x: tf.boolean_mask(x, X > 0), lambda x: tf.cumsum(x, 1, exclusive=True, reverse=True),
        lambda x: tf.math.l2_normalize(x, axis=1), lambda x: tf.pad(x, [[1, 1], [0, 2]], "SYMMETRIC"),
        lambda x: tf.split(x, [2, 1], axis=1)[0], lambda x: tf.clip_by_norm(x, 1.0, axes=[1]),
    ]
    for f in checks:
        assert gradcheck(f, X + 0.01)


def test_tf_nn_functions_match_their_formulas():
    z, t = np.array([[0.3, -1.0, 2.0]]), np.array([[1.0, 0.0, 1.0]])
    sig = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=z).numpy(),
                               -(t * np.log(sig) + (1 - t) * np.log(1 - sig)))
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(tf.nn.softmax_cross_entropy_with_logits(labels=[[0.2, 0.3, 0.5]], logits=z).numpy(),
                               -(np.array([0.2, 0.3, 0.5]) * np.log(p)).sum(-1))
    np.testing.assert_allclose(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[2], logits=z).numpy(),
                               -np.log(p[:, 2]))
    np.testing.assert_allclose(tf.nn.l2_normalize(z, axis=-1).numpy(), z / np.linalg.norm(z))
    np.testing.assert_allclose(tf.nn.relu(z).numpy(), np.maximum(z, 0))
    np.testing.assert_allclose(tf.nn.softmax(z).numpy(), p)
    np.testing.assert_allclose(tf.nn.log_softmax(z, axis=-1).numpy(), np.log(p))
    np.testing.assert_allclose(tf.nn.leaky_relu(z, alpha=0.1).numpy(), np.where(z > 0, z, 0.1 * z))
    np.testing.assert_allclose(tf.nn.gelu(z).numpy(), tf.keras.ops.gelu(z, approximate=False).numpy())
    np.testing.assert_allclose(tf.nn.weighted_cross_entropy_with_logits(t, z, 2.0).numpy(),
                               -(2 * t * np.log(sig) + (1 - t) * np.log(1 - sig)), rtol=1e-10)
    mean, var = tf.nn.moments(X, axes=[0])
    np.testing.assert_allclose(var.numpy(), X.var(0))
    np.testing.assert_allclose(tf.nn.bias_add(X, [1.0, 2.0, 3.0]).numpy(), X + [1, 2, 3])
    np.testing.assert_allclose(tf.nn.batch_normalization(X, mean, var, 0.5, 2.0, 1e-3).numpy(),
                               (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-3) * 2 + 0.5)
    np.testing.assert_allclose(tf.nn.embedding_lookup(X, [1, 1]).numpy(), X[[1, 1]])
    np.testing.assert_allclose(tf.nn.compute_average_loss(np.array([1.0, 3.0]), global_batch_size=4).numpy(), 1.0)
    images = np.arange(32.0).reshape(1, 4, 4, 2)
    np.testing.assert_allclose(tf.nn.max_pool2d(images, ksize=2, strides=2, padding="VALID").numpy(),
                               images.reshape(1, 2, 2, 2, 2, 2).max((2, 4)))
    kernel = np.ones((2, 2, 2, 1))
    np.testing.assert_allclose(tf.nn.conv2d(images, kernel, strides=[1, 2, 2, 1], padding="VALID").numpy(),
                               images.reshape(1, 2, 2, 2, 2, 2).sum((2, 4, 5))[..., None])
    assert tf.nn.dropout(np.ones((10, 10)), 0.5, seed=0).numpy().max() == 2.0
    assert callable(tf.nn.softmax_cross_entropy)          # shendu.functional's functions are still there


def test_tf_nn_cross_entropies_need_labels_and_logits_by_name():
    with pytest.raises(ValueError, match="labels= and logits="):
        tf.nn.sigmoid_cross_entropy_with_logits(np.ones(2))


def test_clip_by_global_norm_and_control_flow():
    clipped, norm = tf.clip_by_global_norm([X, None, np.ones(2)], 1.0)
    total = np.sqrt((X ** 2).sum() + 2)
    assert float(norm) == pytest.approx(total) and clipped[1] is None
    np.testing.assert_allclose(clipped[0].numpy(), X / total, rtol=1e-6)
    assert tf.cond(tf.constant(True), lambda: 1, lambda: 2) == 1
    assert tf.while_loop(lambda i: i < 3, lambda i: i + 1, [0]) == [3]
    np.testing.assert_allclose(tf.map_fn(lambda r: r * 2, X).numpy(), X * 2)
    assert tf.get_static_value(tf.constant([1, 2])).tolist() == [1, 2]


def test_tf_print_prints_values(capsys):
    tf.print("loss:", tf.constant([1.5, 2.0]))
    assert capsys.readouterr().out.strip() == "loss: [1.5 2. ]"


@pytest.mark.parametrize("namespace, name, fix", [
    (tf, "Session", "runs eagerly"), (tf, "placeholder", "runs eagerly"), (tf, "compat", "tf.compat.v1"),
    (tf, "tpu", "TPU"), (tf, "saved_model", "model.save"), (tf, "TensorShape", "tuples"),
    (tf, "RaggedTensor", "pad_sequences"), (tf, "strings", "TextVectorization"), (tf, "custom_gradient", "Function"),
    (tf.math, "lgamma", "gammaln"), (tf.random, "Generator", "SeedGenerator"),
    (tf.random, "stateless_normal", "seed="), (tf.nn, "ctc_loss", "not implemented"), (tf.linalg, "expm", "scipy"),
    (tf.keras.backend, "learning_phase", "training=True"), (tf.keras.backend, "gradients", "GradientTape"),
])
def test_documented_names_without_meaning_raise_a_teaching_error(namespace, name, fix):
    with pytest.raises(UnsupportedError, match=fix) as info:
        getattr(namespace, name)
    assert "is not available in shendu" in str(info.value)
    assert isinstance(info.value, NotImplementedError) and not hasattr(namespace, name)


def test_a_misspelt_name_suggests_the_nearest_ones():
    with pytest.raises(AttributeError, match="Did you mean tf.reduce_sum"):
        tf.reduce_summ
    with pytest.raises(AttributeError, match="Did you mean tf.nn.relu"):
        tf.nn.reluu
    with pytest.raises(AttributeError) as info:
        tf.__no_such_dunder__
    assert "no attribute" in str(info.value)


def test_star_import_never_shadows_builtins_or_standard_modules():
    scope = {}
    exec("from shendu import *", scope)
    import builtins
    shadowed = sorted(n for n in scope if n != "__builtins__" and hasattr(builtins, n))
    assert shadowed == []
    assert "math" not in scope and "random" not in scope
    for name in ("reduce_sum", "constant", "Variable", "concat", "float32", "GradientTape", "Tensor"):
        assert name in scope, name
    assert tf.sum is not sum and tf.range(3).numpy().tolist() == [0, 1, 2]
    assert tf.math.log is not None and tf.random.normal((2,)).shape == (2,)


# TensorFlow 2's documented top-level API (functions, classes and modules of the tf namespace)
TF_TOP_LEVEL = """
abs acos acosh add add_n argmax argmin argsort as_dtype as_string asin asinh atan atan2 atanh batch_to_space bitcast
boolean_mask broadcast_dynamic_shape broadcast_static_shape broadcast_to case cast clip_by_global_norm clip_by_norm
clip_by_value complex concat cond constant constant_initializer control_dependencies convert_to_tensor cos cosh cumsum
custom_gradient device divide dynamic_partition dynamic_stitch edit_distance eig eigvals einsum ensure_shape equal
executing_eagerly exp expand_dims extract_volume_patches eye fill fingerprint floor foldl foldr function gather
gather_nd get_current_name_scope get_logger get_static_value grad_pass_through gradients greater greater_equal group
guarantee_const hessians histogram_fixed_width histogram_fixed_width_bins identity identity_n init_scope
inside_function is_symbolic_tensor is_tensor less less_equal linspace load_library load_op_library logical_and
logical_not logical_or make_ndarray make_tensor_proto map_fn matmul matrix_square_root maximum meshgrid minimum
multiply name_scope negative no_gradient no_op nondifferentiable_batch_function norm not_equal numpy_function one_hot
ones ones_initializer ones_like pad parallel_stack pow print py_function random_index_shuffle random_normal_initializer
random_uniform_initializer range rank realdiv recompute_grad reduce_all reduce_any reduce_logsumexp reduce_max
reduce_mean reduce_min reduce_prod reduce_sum register_tensor_conversion_function repeat
required_space_to_batch_paddings
reshape reverse reverse_sequence roll round saturate_cast scalar_mul scan scatter_nd searchsorted sequence_mask shape
shape_n sigmoid sign sin sinh size slice sort space_to_batch space_to_batch_nd split sqrt square squeeze stack
stop_gradient strided_slice subtract switch_case tan tanh tensor_scatter_nd_add tensor_scatter_nd_max
tensor_scatter_nd_min tensor_scatter_nd_sub tensor_scatter_nd_update tensordot tile timestamp transpose truediv
truncatediv truncatemod tuple type_spec_from_value unique unique_with_counts unravel_index unstack
variable_creator_scope vectorized_map where while_loop zeros zeros_initializer zeros_like
AggregationMethod CriticalSection DType DeviceSpec GradientTape Graph IndexedSlices IndexedSlicesSpec Module Operation
OptionalSpec RaggedTensor RaggedTensorSpec RegisterGradient SparseTensor SparseTensorSpec Tensor TensorArray
TensorArraySpec TensorShape TensorSpec TypeSpec UnconnectedGradients Variable VariableAggregation
VariableSynchronization
audio autodiff autograph bitwise compat config data debugging distribute dtypes errors experimental feature_column
graph_util image io keras linalg lite lookup math mlir nest nn profiler quantization queue ragged random raw_ops
saved_model sets signal sparse strings summary sysconfig test tpu train types version xla
bfloat16 bool complex128 complex64 double float16 float32 float64 half int16 int32 int64 int8 newaxis qint16 qint32
qint8 quint16 quint8 resource string uint16 uint32 uint64 uint8 variant
""".split()


def test_every_documented_tensorflow_top_level_name_exists_or_teaches():
    missing = []
    for name in TF_TOP_LEVEL:
        try:
            getattr(tf, name)
        except UnsupportedError as error:
            assert "is not available in shendu: " in str(error)
        except AttributeError:
            missing.append(name)
    assert missing == []


def test_new_top_level_functions_match_numpy():
    y, idx = tf.unique(np.array([3, 1, 3, 2]))
    assert y.numpy().tolist() == [3, 1, 2] and idx.numpy().tolist() == [0, 1, 0, 2]
    assert tf.unique_with_counts(np.array([3, 1, 3]))[2].numpy().tolist() == [2, 1]
    np.testing.assert_array_equal(tf.scatter_nd([[1], [3]], [5.0, 6.0], [5]).numpy(), [0, 5, 0, 6, 0])
    np.testing.assert_array_equal(tf.tensor_scatter_nd_update(np.zeros((2, 2)), [[0, 1]], [7.0]).numpy(),
                                  [[0, 7], [0, 0]])
    np.testing.assert_array_equal(tf.tensor_scatter_nd_add(np.ones(3), [[0], [0]], [1.0, 2.0]).numpy(), [4, 1, 1])
    np.testing.assert_array_equal(tf.tensor_scatter_nd_sub(np.ones(3), [[2]], [1.0]).numpy(), [1, 1, 0])
    np.testing.assert_array_equal(tf.slice(np.arange(12).reshape(3, 4), [1, 1], [-1, 2]).numpy(), [[5, 6], [9, 10]])
    np.testing.assert_array_equal(tf.scan(lambda a, x: a + x, np.arange(4.0)).numpy(), [0, 1, 3, 6])
    np.testing.assert_array_equal(tf.scan(lambda a, x: a + x, np.arange(3.0), initializer=1.0, reverse=True).numpy(),
                                  [4, 4, 3])
    assert float(tf.foldl(lambda a, x: a * x, np.arange(1.0, 5.0))) == 24.0
    assert float(tf.foldr(lambda a, x: a - x, np.arange(1.0, 4.0), initializer=10.0)) == 4.0
    np.testing.assert_array_equal(tf.searchsorted([[1.0, 3.0], [2.0, 4.0]], [[2.0], [5.0]]).numpy(), [[1], [2]])
    np.testing.assert_array_equal(tf.repeat([1, 2], 2).numpy(), [1, 1, 2, 2])
    np.testing.assert_array_equal(tf.roll(np.arange(4), 1, 0).numpy(), [3, 0, 1, 2])
    assert tf.switch_case(1, [lambda: "a", lambda: "b"]) == "b" and tf.switch_case(5, {0: lambda: 0}) == 0
    assert tf.as_dtype("int32") is np.int32 and tf.ensure_shape(np.ones((2, 3)), (None, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match="expected shape"):
        tf.ensure_shape(np.ones((2, 3)), (None, 4))
    assert float(tf.truncatediv(-7.0, 2.0)) == -3.0 and float(tf.truncatemod(-7.0, 2.0)) == -1.0
    assert [s.numpy().tolist() for s in tf.shape_n([np.ones((2, 3)), np.ones(4)])] == [[2, 3], [4]]
    init = tf.random_normal_initializer(stddev=0.5, seed=0)
    w = tf.Variable(initial_value=init(shape=(3, 2), dtype="float32"), trainable=True)
    assert w.shape == (3, 2) and w.dtype == np.float32
    np.testing.assert_array_equal(tf.zeros_initializer()(shape=(2,)), [0, 0])
    assert tf.is_symbolic_tensor(tf.keras.Input((2,))) and not tf.inside_function()
    assert float(tf.timestamp()) > 1e9 and tf.get_logger().name == "shendu" and tf.dtypes.float32 is np.float32


TF_MATH = """
abs accumulate_n acos acosh add add_n angle approx_max_k approx_min_k argmax argmin asin asinh atan atan2 atanh
bessel_i0 bessel_i0e bessel_i1 bessel_i1e betainc bincount ceil confusion_matrix conj cos cosh count_nonzero cumprod
cumsum cumulative_logsumexp digamma divide divide_no_nan equal erf erfc erfcinv erfinv exp expm1 floor floordiv
floormod greater greater_equal igamma igammac imag in_top_k invert_permutation is_finite is_inf is_nan
is_non_decreasing is_strictly_increasing l2_normalize lbeta less less_equal lgamma log log1p log_sigmoid log_softmax
logical_and logical_not logical_or logical_xor maximum minimum mod multiply multiply_no_nan ndtri negative nextafter
not_equal polygamma polyval pow real reciprocal reciprocal_no_nan reduce_all reduce_any reduce_euclidean_norm
reduce_logsumexp reduce_max reduce_mean reduce_min reduce_prod reduce_std reduce_sum reduce_variance rint round rsqrt
scalar_mul segment_max segment_mean segment_min segment_prod segment_sum sigmoid sign sin sinh sobol_sample softmax
softplus softsign sqrt square squared_difference subtract tan tanh top_k truediv unsorted_segment_max
unsorted_segment_mean unsorted_segment_min unsorted_segment_prod unsorted_segment_sqrt_n unsorted_segment_sum xdivy
xlog1py xlogy zero_fraction zeta
""".split()
TF_NN = """
all_candidate_sampler atrous_conv2d atrous_conv2d_transpose avg_pool avg_pool1d avg_pool2d avg_pool3d
batch_norm_with_global_normalization batch_normalization bias_add collapse_repeated compute_accidental_hits
compute_average_loss conv1d conv1d_transpose conv2d conv2d_transpose conv3d conv3d_transpose conv_transpose convolution
crelu ctc_beam_search_decoder ctc_greedy_decoder ctc_loss ctc_unique_labels depth_to_space depthwise_conv2d
depthwise_conv2d_backprop_filter depthwise_conv2d_backprop_input dilation2d dropout elu embedding_lookup
embedding_lookup_sparse erosion2d experimental fixed_unigram_candidate_sampler fractional_avg_pool fractional_max_pool
gelu in_top_k isotonic_regression l2_loss l2_normalize leaky_relu learned_unigram_candidate_sampler
local_response_normalization log_poisson_loss log_softmax log_uniform_candidate_sampler lrn max_pool max_pool1d
max_pool2d max_pool3d max_pool_with_argmax moments nce_loss normalize_moments pool relu relu6
safe_embedding_lookup_sparse sampled_softmax_loss scale_regularization_loss selu separable_conv2d sigmoid
sigmoid_cross_entropy_with_logits silu softmax softmax_cross_entropy_with_logits softplus softsign space_to_batch
space_to_depth sparse_softmax_cross_entropy_with_logits sufficient_statistics swish tanh top_k
uniform_candidate_sampler weighted_cross_entropy_with_logits weighted_moments with_space_to_batch zero_fraction
""".split()


@pytest.mark.parametrize("namespace, names", [(tf.math, TF_MATH), (tf.nn, TF_NN)], ids=["math", "nn"])
def test_every_documented_tf_math_and_nn_name_exists_or_teaches(namespace, names):
    missing = []
    for name in names:
        try:
            getattr(namespace, name)
        except UnsupportedError:
            pass
        except AttributeError:
            missing.append(name)
    assert missing == []


def test_added_math_and_nn_functions_match_numpy():
    x = np.array([[1.0, -2.0, 0.0], [0.5, 3.0, -1.0]])
    np.testing.assert_allclose(tf.math.cumulative_logsumexp(x, axis=1).numpy(), np.logaddexp.accumulate(x, axis=1))
    np.testing.assert_allclose(tf.math.cumulative_logsumexp(x, axis=1, exclusive=True).numpy()[:, 1:],
                               np.logaddexp.accumulate(x, axis=1)[:, :-1])
    np.testing.assert_allclose(tf.math.unsorted_segment_mean(x, [1, 1], 2).numpy(), [[0, 0, 0], x.mean(0)])
    np.testing.assert_allclose(tf.math.segment_min(x, [0, 0]).numpy(), [x.min(0)])
    np.testing.assert_allclose(tf.math.xdivy(np.array([0.0, 2.0]), np.array([0.0, 4.0])).numpy(), [0, 0.5])
    np.testing.assert_allclose(tf.math.multiply_no_nan(np.array([np.inf, 2.0]), np.array([0.0, 3.0])).numpy(), [0, 6])
    assert float(tf.math.zero_fraction(x)) == pytest.approx(1 / 6)
    assert tf.math.invert_permutation([2, 0, 1]).numpy().tolist() == [1, 2, 0]
    assert bool(tf.math.is_non_decreasing([1, 1, 2])) and not bool(tf.math.is_strictly_increasing([1, 1, 2]))
    assert tf.math.approx_max_k(x, 1)[0].numpy().ravel().tolist() == [1.0, 3.0]
    np.testing.assert_allclose(tf.nn.crelu(x).numpy(), np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], -1))
    assert float(tf.nn.l2_loss(x)) == pytest.approx((x ** 2).sum() / 2)
    np.testing.assert_allclose(tf.nn.log_poisson_loss(np.array([0.0, 3.0]), np.array([0.5, 1.0])).numpy(),
                               np.exp([0.5, 1.0]) - np.array([0.0, 3.0]) * [0.5, 1.0])
    count, s1, s2, _ = tf.nn.sufficient_statistics(x, [0])
    mean, var = tf.nn.normalize_moments(count, s1, s2, None)
    np.testing.assert_allclose(var.numpy(), x.var(0))
    wm, wv = tf.nn.weighted_moments(x, [1], np.array([[1.0, 1.0, 2.0]]))
    np.testing.assert_allclose(wm.numpy(), np.average(x, 1, [1, 1, 2]))
    images = np.arange(32.0).reshape(1, 4, 4, 2)
    np.testing.assert_allclose(tf.nn.pool(images, (2, 2), "AVG", strides=(2, 2)).numpy(),
                               images.reshape(1, 2, 2, 2, 2, 2).mean((2, 4)))
    np.testing.assert_allclose(tf.nn.depthwise_conv2d(images, np.ones((1, 1, 2, 1)), [1, 1, 1, 1], "VALID").numpy(),
                               images)
    np.testing.assert_allclose(tf.nn.depth_to_space(tf.nn.space_to_depth(images, 2), 2).numpy(), images)
