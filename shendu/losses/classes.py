"""Loss classes: the per-sample formula comes from a function in ``functions.py``; sample weights and
the reduction over the batch live here, once, for every loss (tf.keras's ``keras.losses.<Class>``)."""
from __future__ import annotations

import re as _re

from shendu import backend, ops
from shendu import serialization as _serialization
from shendu.losses.functions import (_squeeze_or_expand, align_ranks, binary_crossentropy, categorical_crossentropy,
                                     categorical_hinge, hinge, huber, kl_divergence, log_cosh, mean_absolute_error,
                                     mean_absolute_percentage_error, mean_squared_error,
                                     mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
                                     squared_hinge)
from shendu.missing import did_you_mean
from shendu.tensor import Tensor, as_tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _snake_case(name: str) -> str:
    name = _re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return _re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _align_weights(values, weights):
    """Line sample weights up with the per-sample loss values.

    Keras's squeeze-or-expand rule first; then weights with fewer axes than the values are lined
    up from the left, so (batch,) weights scale whole sequences of (batch, time) losses (Keras 3
    would broadcast them against the time axis instead, or fail).
    """
    values, weights = _squeeze_or_expand(values, weights)
    if 0 < weights.ndim < values.ndim:
        weights = weights.reshape(tuple(weights.shape) + (1,) * (values.ndim - weights.ndim))
    return values, weights


def _mask_weights(mask, values: Tensor, reduction):
    """A boolean mask as weights. For the mean reductions kept entries weigh total/valid, so that
    dividing by the number of elements averages over the valid entries only."""
    xp = backend.xp
    mask = backend.asarray(mask).astype(bool)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = int(mask.sum())
        scale = mask.size / valid if valid else 0.0
        return xp.where(mask, scale, 0.0).astype(values.dtype)
    return mask.astype(values.dtype)


def reduce_weighted_values(values, sample_weight=None, mask=None,
                           reduction: str | None = "sum_over_batch_size") -> Tensor:
    """loss = reduce(values · sample_weight): the one reduction path every Loss goes through.

    'sum_over_batch_size' and 'mean': Σ (values · w) / number of elements (weights do not change
    the divisor, as in Keras). 'sum': Σ (values · w). 'mean_with_sample_weight': Σ (values · w) / Σ w.
    'none' or None: the weighted values themselves.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`: {reduction!r}; expected one of "
                         f"{list(REDUCTIONS)}.")
    values = as_tensor(values)
    weights = None
    if sample_weight is not None:
        sw = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
        weights = backend.asarray(sw).astype(values.dtype)
    if mask is not None:
        float_mask = _mask_weights(mask, values, reduction)
        if weights is None:
            weights = float_mask
        else:
            float_mask, weights = _align_weights(float_mask, weights)
            weights = weights * float_mask
    if weights is not None:
        values, weights = _align_weights(values, weights)
        values = values * Tensor._wrap(weights, False)
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    if reduction == "sum":
        return ops.sum(values)
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = float(weights.sum())      # Σ w as given, not broadcast: Keras's definition
        loss = ops.sum(values)
        return loss / divisor if divisor else loss * 0.0
    if not values.size:
        return ops.sum(values)              # no elements: 0, not the NaN of a mean over nothing
    return ops.mean(values)                 # Σ (values · w) / number of elements, as one op


class Loss:
    """A callable loss: per-sample values from ``call``, then sample weights and the reduction.

    Subclass and implement ``call(y_true, y_pred)`` returning one value per sample (a Tensor of
    shape (batch,) or (batch, time)); ``__call__`` does the rest and returns a scalar Tensor that
    backpropagates into ``y_pred``.

    Args:
        name: the loss's name.
        reduction: 'sum_over_batch_size' (default), 'sum', 'mean', 'mean_with_sample_weight',
            'none' or None; see ``reduce_weighted_values``.
        dtype: compute dtype for y_pred, e.g. 'float32'; None keeps y_pred's float dtype.
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction` of {type(self).__name__}: {reduction!r}; "
                             f"expected one of "
                             f"{list(REDUCTIONS)}. 'sum_over_batch_size' averages over the batch.")
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true, y_pred) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred) returning "
                                  "one loss value per sample.")

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        y_pred = as_tensor(y_pred)
        # a Keras-style mask: on y_pred (set by masking layers) and/or on the values (ignore_class)
        in_mask = getattr(y_pred, "_keras_mask", None)
        if self.dtype is not None:
            y_pred = ops.cast(y_pred, self.dtype)
        elif not backend.is_float(y_pred.dtype):
            y_pred = ops.cast(y_pred, backend.floatx)
        values = as_tensor(self.call(y_true, y_pred))
        masks = [m for m in (in_mask, getattr(values, "_keras_mask", None)) if m is not None]
        mask = None
        if masks:
            mask = backend.asarray(masks[0]).astype(bool)
            for m in masks[1:]:
                mask = mask & backend.asarray(m).astype(bool)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class LossFunctionWrapper(Loss):
    """A Loss from a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    Labels and predictions are first aligned by ``align_ranks`` (Keras does the same), so
    labels of shape (batch,) work against predictions of shape (batch, 1).
    """

    def __init__(self, fn, reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper needs a callable fn(y_true, y_pred), got {fn!r}.")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred) -> Tensor:
        y_true, y_pred = align_ranks(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if "fn" in config and not callable(config["fn"]):
            config["fn"] = deserialize(config["fn"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__}({getattr(self.fn, '__name__', self.fn)}, kwargs={self._fn_kwargs})>"


_DEFAULT = "sum_over_batch_size"


class MeanSquaredError(LossFunctionWrapper):
    """mean of (y_pred - y_true)², weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """mean of |y_pred - y_true|, weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """100 · mean |(y_true - y_pred) / y_true|, weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """mean of (log(1 + y_pred) - log(1 + y_true))², weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta``, weighted and reduced over the batch."""
    def __init__(self, delta: float = 1.0, reduction=_DEFAULT, name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)


class LogCosh(LossFunctionWrapper):
    """mean of log(cosh(y_pred - y_true)), weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class KLDivergence(LossFunctionWrapper):
    """Σ t log(t / p), weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """mean of y_pred - y_true log(y_pred), weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class Hinge(LossFunctionWrapper):
    """mean of max(1 - t y_pred, 0), weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """mean of max(1 - t y_pred, 0)², weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """max(neg - pos + 1, 0) for one-hot targets, weighted and reduced over the batch."""
    def __init__(self, reduction=_DEFAULT, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy on probabilities (or logits with ``from_logits=True``)."""
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction=_DEFAULT, name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy against one-hot targets (``from_logits=True`` for raw scores)."""
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction=_DEFAULT, name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy against integer labels; ``ignore_class`` entries are left out of the mean."""
    def __init__(self, from_logits: bool = False, ignore_class=None, reduction=_DEFAULT, axis: int = -1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def call(self, y_true, y_pred) -> Tensor:
        values = super().call(y_true, y_pred)
        if self.ignore_class is not None:
            # mark the ignored entries so the reduction averages over the kept ones only
            labels = y_true.data if isinstance(y_true, Tensor) else backend.asarray(y_true)
            values._keras_mask = (labels != self.ignore_class).reshape(values.shape)
        return values


# ----------------------------------------------------------------------------------- lookup by name

_LOSS_CLASSES = (Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
                 MeanSquaredLogarithmicError, Huber, LogCosh, KLDivergence, Poisson, Hinge, SquaredHinge,
                 CategoricalHinge, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)
_LOSS_FUNCTIONS = (mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                   mean_squared_logarithmic_error, huber, log_cosh, kl_divergence, poisson, hinge, squared_hinge,
                   categorical_hinge, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy)

ALL_OBJECTS = {obj.__name__: obj for obj in _LOSS_CLASSES + _LOSS_FUNCTIONS}
ALL_OBJECTS.update({"mse": mean_squared_error, "MSE": mean_squared_error,
                    "mae": mean_absolute_error, "MAE": mean_absolute_error,
                    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
                    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
                    "bce": binary_crossentropy, "BCE": binary_crossentropy,
                    "kld": kl_divergence, "KLD": kl_divergence})


def _unknown(identifier):
    names = ", ".join(sorted(k for k in ALL_OBJECTS if k not in ("Loss", "LossFunctionWrapper")))
    hint = did_you_mean(identifier, names.split(", "))
    return ValueError(f"Could not interpret loss identifier {identifier!r}.{hint} "
                      f"Valid names are: {names}. "
                      "You can also pass a Loss instance or any function fn(y_true, y_pred).")


def serialize(loss) -> dict:
    """A Loss instance or a loss function as a Keras-style config dict."""
    return _serialization.serialize_or_function(loss, "keras.losses", Loss, "Loss")


def deserialize(config, custom_objects: dict | None = None):
    """The inverse of ``serialize``: a Loss instance (class configs) or a function (function names)."""
    return _serialization.deserialize_or_function(config, ALL_OBJECTS, _unknown, custom_objects)


def get(identifier):
    """A loss from a name, a config dict, a Loss class or instance, or a function (passed through).

    Function names ('mse', 'binary_crossentropy') give the per-sample function; class names
    ('MeanSquaredError') give an instance with the default arguments, as in Keras.
    """
    return _serialization.get_object(identifier, ALL_OBJECTS, _unknown, deserialize)
