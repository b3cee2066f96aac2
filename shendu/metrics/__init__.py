"""Stateful metrics with tf.keras's names: ``update_state(y_true, y_pred, sample_weight)`` per batch,
``result()`` for the running value, ``reset_state()`` between epochs.

For the training loop: ``resolve(identifier, y_true_shape, y_pred_shape)`` turns whatever was passed
to ``compile(metrics=[...])`` into a named Metric, exactly as Keras 3's compile does, including
'accuracy'/'acc' becoming binary, sparse categorical or categorical accuracy by the shapes.
"""
from __future__ import annotations

from shendu import losses
from shendu import serialization
from shendu.losses import (binary_crossentropy, categorical_crossentropy, categorical_hinge, hinge,
                           kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                           mean_squared_error, mean_squared_logarithmic_error, poisson,
                           sparse_categorical_crossentropy, squared_hinge)
from shendu.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                     SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, accuracy,
                                     binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                                     sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from shendu.metrics.base import Mean, MeanMetricWrapper, Metric, MetricVariable, Sum, snake_case
from shendu.missing import did_you_mean
from shendu.metrics.confusion import (AUC, F1Score, FalseNegatives, FalsePositives, FBetaScore, Precision,
                                      Recall, TrueNegatives, TruePositives)
from shendu.metrics.operating_point import (PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity,
                                            SpecificityAtSensitivity)
from shendu.metrics.regression import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, Hinge,
                                       KLDivergence, LogCoshError, MeanAbsoluteError, MeanAbsolutePercentageError,
                                       MeanSquaredError, MeanSquaredLogarithmicError, Poisson, RootMeanSquaredError,
                                       SparseCategoricalCrossentropy, SquaredHinge)

_ACCURACY_NAMES = ("accuracy", "acc")


def _shape(x) -> tuple:
    shape = getattr(x, "shape", x)
    return tuple(shape) if shape is not None else ()


def resolve_accuracy(loss_identifier_or_fn, y_true_shape, y_pred_shape, name: str = "accuracy") -> Metric:
    """The metric 'accuracy' stands for, decided by the shapes as Keras 3 (and tf.keras 2) compile does:

    - y_pred's last axis is 1 → BinaryAccuracy (threshold 0.5);
    - else y_true has fewer axes than y_pred, or ends in 1 → SparseCategoricalAccuracy;
    - else → CategoricalAccuracy.

    The loss is accepted but, as in Keras 3, plays no part: a multi-label model with a
    binary_crossentropy loss and several sigmoid outputs gets CategoricalAccuracy. Pass
    BinaryAccuracy() explicitly for multi-label work. The metric is named ``name`` ('accuracy'
    or 'acc', as the user wrote it) so history keys match tf.keras.
    """
    y_true_shape, y_pred_shape = _shape(y_true_shape), _shape(y_pred_shape)
    if not y_true_shape or not y_pred_shape:
        raise ValueError(f"resolve_accuracy needs the shapes of a batch of labels and predictions, got "
                         f"y_true {y_true_shape} and y_pred {y_pred_shape}.")
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy(name=name)
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


class AutoAccuracy(Metric):
    """What get('accuracy') returns before the data is seen: it becomes Binary, SparseCategorical
    or CategoricalAccuracy (see ``resolve_accuracy``) on the first ``update_state``, keeping its name.
    A training loop can also call ``resolve`` on it up front once it knows the shapes.
    """

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.resolved: Metric | None = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self.resolved is None:
            self.resolved = resolve_accuracy(None, _shape(y_true), _shape(y_pred), name=self.name)
        self.resolved.update_state(y_true, y_pred, sample_weight=sample_weight)

    def result(self):
        return 0.0 if self.resolved is None else self.resolved.result()

    def reset_state(self) -> None:
        if self.resolved is not None:
            self.resolved.reset_state()


_CLASSES = (Mean, Sum, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
            MeanSquaredLogarithmicError, LogCoshError, AUC, FalseNegatives, FalsePositives, TrueNegatives,
            TruePositives, Precision, Recall, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
            BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy,
            CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
            F1Score, FBetaScore, SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall,
            RecallAtPrecision)
_FUNCTIONS = (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
              top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
              mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, log_cosh,
              kl_divergence, poisson, hinge, squared_hinge, categorical_hinge, binary_crossentropy,
              categorical_crossentropy, sparse_categorical_crossentropy)

# the names get() accepts, as in Keras 3: class names, their snake_case, and short aliases
ALL_OBJECTS = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS.update({snake_case(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS.update({"mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
                    "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
                    "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
                    "MSLE": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy})
# deserialize also knows every loss function by name (a MeanMetricWrapper may wrap any of them)
_ALL_NAMES = {**{fn.__name__: fn for fn in losses.ALL_OBJECTS.values() if not isinstance(fn, type)},
              **ALL_OBJECTS, **{fn.__name__: fn for fn in _FUNCTIONS}, "MeanMetricWrapper": MeanMetricWrapper,
              "AutoAccuracy": AutoAccuracy}


def _unknown(identifier):
    names = ", ".join(sorted(set(ALL_OBJECTS) | set(_ACCURACY_NAMES)))
    hint = did_you_mean(identifier, names.split(", "))
    return ValueError(f"Could not interpret metric identifier {identifier!r}.{hint} "
                      f"Valid names are: {names}. "
                      "You can also pass a Metric instance or any function fn(y_true, y_pred) that returns "
                      "one value per sample.")


def get(identifier):
    """A metric from a name, a config dict, a Metric class or instance, or a function (passed through).

    'accuracy' and 'acc' give an AutoAccuracy, which settles on its kind once it sees the data
    (or when the training loop calls ``resolve``). Names give an instance with default arguments.
    """
    if isinstance(identifier, str) and identifier in _ACCURACY_NAMES:
        return AutoAccuracy(name=identifier)
    return serialization.get_object(identifier, ALL_OBJECTS, _unknown, deserialize)


def resolve(identifier, y_true_shape, y_pred_shape) -> Metric:
    """One entry of ``compile(metrics=[...])`` as a ready Metric, named as Keras 3 names it.

    Strings keep the string as the name ('mse' → MeanSquaredError named 'mse', so the history key
    is 'mse'); 'accuracy'/'acc' (any case) go through ``resolve_accuracy``; Metric instances keep
    their name; plain functions are wrapped in MeanMetricWrapper named after the function.
    """
    if isinstance(identifier, AutoAccuracy):
        return resolve_accuracy(None, y_true_shape, y_pred_shape, name=identifier.name)
    if isinstance(identifier, str) and identifier.lower() in _ACCURACY_NAMES:
        return resolve_accuracy(None, y_true_shape, y_pred_shape, name=identifier)
    metric = get(identifier)
    if isinstance(identifier, str):
        name = identifier
    else:       # Keras's get_object_name: a Metric's or Loss's .name, else the function's __name__
        name = getattr(metric, "name", None) or getattr(metric, "__name__", snake_case(type(metric).__name__))
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    metric.name = name
    return metric


def serialize(metric) -> dict:
    """A Metric instance or a metric function as a Keras-style config dict."""
    return serialization.serialize_or_function(metric, "keras.metrics", Metric, "Metric")


def deserialize(config, custom_objects: dict | None = None):
    """The inverse of ``serialize``: a Metric instance (class configs) or a function (function names)."""
    if isinstance(config, str) and config in _ACCURACY_NAMES:
        return AutoAccuracy(name=config)
    return serialization.deserialize_or_function(config, _ALL_NAMES, _unknown, custom_objects)


__all__ = sorted(cls.__name__ for cls in _CLASSES) + [
    "Metric", "MetricVariable", "MeanMetricWrapper", "AutoAccuracy", "get", "resolve", "resolve_accuracy",
    "serialize", "deserialize"] + [fn.__name__ for fn in _FUNCTIONS]
