"""Every public name of Keras 3's namespaces (and tf.keras 2's layers.experimental spellings) either exists
in shendu.keras or raises an error that says what to use instead: never a bare AttributeError."""
import pytest

from shendu import keras as shendu_keras
from shendu.missing import UnsupportedError

NAMESPACES = ["layers", "losses", "metrics", "optimizers", "optimizers.schedules", "callbacks", "activations",
              "initializers", "regularizers", "models", "utils", "ops", "ops.nn", "ops.numpy", "ops.linalg", "random",
              "backend", "applications", "saving", "datasets", "dtype_policies"]
TOP_LEVEL = ["mixed_precision", "export", "config", "tree", "quantizers", "visualization", "wrappers",
             "distribution"]
# names tf.keras 2 documents that Keras 3 dropped or renamed
TF_KERAS2 = {
    "layers": ["ThresholdedReLU", "LocallyConnected1D", "LocallyConnected2D", "DenseFeatures", "AbstractRNNCell",
               "CuDNNGRU", "CuDNNLSTM", "experimental"],
    "losses": ["Reduction", "kld", "kullback_leibler_divergence", "logcosh", "mape", "msle", "mae", "mse"],
    "metrics": ["kld", "mae", "mse", "mape", "msle"],
    "callbacks": ["BaseLogger", "experimental"],
    "utils": ["Sequence", "SequenceEnqueuer", "OrderedEnqueuer", "GeneratorEnqueuer", "custom_object_scope"],
    "models": ["model_from_config", "model_from_yaml", "model_from_json", "save_model"],
    "optimizers": ["experimental", "legacy"],
}
TF_KERAS2_EXPERIMENTAL = {
    "layers.experimental": ["RandomFourierFeatures", "EinsumDense", "SyncBatchNormalization", "preprocessing"],
    "layers.experimental.preprocessing": ["TextVectorization", "Normalization", "Rescaling", "StringLookup",
                                          "RandomFlip", "Resizing", "CategoryEncoding", "PreprocessingLayer"],
}


def _resolve(root, dotted):
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


def _check(namespace, name):
    module = _resolve(shendu_keras, namespace)
    try:
        getattr(module, name)
    except UnsupportedError as error:
        message = str(error)
        hint = message.split(": ", 1)[-1]
        assert name in message and len(hint) > 20, message
    # any other AttributeError propagates and fails the test


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_keras3_name_exists_or_teaches(keras, namespace):
    names = [n for n in dir(_resolve(keras, namespace)) if not n.startswith("_")]
    assert names
    for name in names:
        _check(namespace, name)


def test_keras3_top_level_modules_exist_or_teach():
    for name in TOP_LEVEL:
        with pytest.raises(UnsupportedError, match=f"keras.{name} is not available"):
            getattr(shendu_keras, name)


@pytest.mark.parametrize("namespace", sorted(TF_KERAS2))
def test_tf_keras2_names_exist_or_teach(namespace):
    for name in TF_KERAS2[namespace]:
        _check(namespace, name)


def test_tf_keras2_short_spellings_are_the_functions():
    losses, metrics = shendu_keras.losses, shendu_keras.metrics
    assert losses.kld is losses.kl_divergence and losses.msle is losses.mean_squared_logarithmic_error
    assert metrics.mse is metrics.mean_squared_error and metrics.mae is metrics.mean_absolute_error


@pytest.mark.parametrize("namespace", sorted(TF_KERAS2_EXPERIMENTAL))
def test_tf_keras2_experimental_spellings(namespace):
    for name in TF_KERAS2_EXPERIMENTAL[namespace]:
        _check(namespace, name)
    from shendu.keras.layers.experimental import RandomFourierFeatures
    from shendu.keras.layers.experimental.preprocessing import TextVectorization
    assert RandomFourierFeatures is shendu_keras.layers.RandomFourierFeatures
    assert TextVectorization is shendu_keras.layers.TextVectorization


def test_a_misspelt_name_suggests_the_close_ones():
    with pytest.raises(AttributeError, match="Did you mean keras.layers.Dense"):
        shendu_keras.layers.Dense_
    with pytest.raises(AttributeError) as info:
        shendu_keras.layers.Dense_
    assert not isinstance(info.value, UnsupportedError)


def test_initializer_spellings_are_the_same_classes(keras):
    init = shendu_keras.initializers
    assert init.glorot_uniform is init.GlorotUniform and init.OrthogonalInitializer is init.Orthogonal
    assert type(init.he_normal()).__name__ == type(keras.initializers.he_normal()).__name__ == "HeNormal"
