"""Confusion-matrix metrics: counts of true/false positives/negatives at one or more thresholds,
and what is read off them: Precision, Recall, AUC, F-scores.

A prediction p counts as positive at threshold t when p > t (strictly). Labels are positive when
nonzero. Counts are weighted by the sample weights and accumulate across batches.
"""
from __future__ import annotations

import numpy as np

from shendu.metrics.base import Metric, as_numpy, divide_no_nan, squeeze_or_expand, to_result

NEG_INF = -1e10    # the threshold used with top_k: every kept prediction is above it
EPSILON = 1e-7


def _threshold_list(thresholds, default):
    values = [default] if thresholds is None else np.asarray(thresholds, dtype=object).reshape(-1).tolist()
    bad = [t for t in values if t is None or not 0 <= t <= 1] if thresholds is not None else []
    if bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


# the Keras name of each confusion-matrix count, as metric variables are named
VARIABLE_NAMES = {"tp": "true_positives", "fp": "false_positives", "tn": "true_negatives", "fn": "false_negatives"}


def evenly_spaced(thresholds) -> bool:
    """True for [0, 1/(n-1), ..., 1] with n >= 3: counts then come from one bucketing pass."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=EPSILON))


def _filter_top_k(x: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest scores of the last axis; the rest become NEG_INF (never positive)."""
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, bool)
    np.put_along_axis(keep, idx, True, axis=-1)
    return np.where(keep, x, np.float32(NEG_INF)).astype(x.dtype)


def confusion_counts(y_true, y_pred, thresholds, top_k=None, class_id=None, sample_weight=None,
                     multi_label=False, label_weights=None, evenly=False) -> dict:
    """Weighted tp, fp, tn, fn at each threshold: arrays of shape (T,), or (T, labels) with multi_label.

    ``evenly`` (thresholds i/(T-1), possibly nudged by ±eps at the ends) counts in one pass: a
    prediction p falls in bucket ceil(p (T-1)) - 1, and the count at threshold i is the number of
    predictions in buckets >= i, a reversed cumulative sum. Otherwise every prediction is compared
    with every threshold.
    """
    # float32 like Keras's metric variables, so predictions sitting on a threshold land alike
    y_true = as_numpy(y_true).astype(np.float32)
    y_pred = as_numpy(y_pred).astype(np.float32)
    y_pred, y_true = squeeze_or_expand(y_pred, y_true)
    weights = None
    if sample_weight is not None:
        weights = as_numpy(sample_weight).astype(np.float32)[..., None]
        _, weights = squeeze_or_expand(y_true, weights, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                             f"num_classes), found shape: {y_pred.shape} (class_id={class_id}).")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weights = np.ones(y_pred.shape) if weights is None else np.broadcast_to(weights, y_pred.shape)
    if label_weights is not None and not multi_label:
        weights = weights * np.broadcast_to(np.asarray(label_weights)[None], y_pred.shape)
    positive = y_true != 0
    if multi_label:
        if y_pred.ndim != 2:
            raise ValueError(f"multi_label=True needs y_pred of shape (batch, labels), got {y_pred.shape}.")
    else:
        positive, y_pred, weights = positive.reshape(-1, 1), y_pred.reshape(-1, 1), weights.reshape(-1, 1)
    pos_w = np.where(positive, weights, 0.0)      # (N, L): weight of each positive label
    neg_w = np.where(positive, 0.0, weights)
    n_thresholds = len(thresholds)
    if evenly:
        with_eps = thresholds[0] < 0 or thresholds[-1] > 1
        bucket = np.ceil(np.clip(y_pred, 0, 1) * np.float32(n_thresholds - 1)) - 1
        if with_eps:
            bucket = np.maximum(bucket, 0)   # the -eps threshold takes every prediction, 0 included
        bucket = bucket.astype(np.int64)
        keep = bucket >= 0                   # bucket -1: p = 0 is above no threshold
        labels = np.broadcast_to(np.arange(y_pred.shape[1]), y_pred.shape)
        tp = np.zeros((n_thresholds, y_pred.shape[1]))
        fp = np.zeros((n_thresholds, y_pred.shape[1]))
        np.add.at(tp, (bucket[keep], labels[keep]), pos_w[keep])
        np.add.at(fp, (bucket[keep], labels[keep]), neg_w[keep])
        tp = np.cumsum(tp[::-1], axis=0)[::-1]
        fp = np.cumsum(fp[::-1], axis=0)[::-1]
    else:
        above = y_pred[None] > np.asarray(thresholds, np.float32)[:, None, None]    # (T, N, L)
        tp = (above * pos_w[None]).sum(axis=1)
        fp = (above * neg_w[None]).sum(axis=1)
    fn = pos_w.sum(axis=0) - tp
    tn = neg_w.sum(axis=0) - fp
    counts = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    if not multi_label:
        counts = {key: value[:, 0] for key, value in counts.items()}
    return counts


class _ConfusionMetric(Metric):
    """Shared state: the counts named in ``state`` accumulated at ``self.thresholds``, one metric variable
    each (``true_positives``, ``false_positives``, ...)."""
    state = ("tp", "fp", "tn", "fn")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.init_thresholds = thresholds
        self.top_k, self.class_id = top_k, class_id
        self.thresholds = _threshold_list(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = evenly_spaced(self.thresholds)
        self._make_variables()

    def _make_variables(self):
        for key in self.state:
            setattr(self, self._variable_name(key),
                    self.add_variable(shape=(len(self.thresholds),), name=self._variable_name(key)))

    def _variable_name(self, key):
        return VARIABLE_NAMES[key]

    @property
    def counts(self) -> dict:
        """The accumulated counts as arrays, keyed 'tp', 'fp', 'tn', 'fn' (those the metric keeps)."""
        return {key: getattr(self, self._variable_name(key)).value.astype(np.float64) for key in self.state}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        batch = confusion_counts(y_true, y_pred, self.thresholds, top_k=self.top_k, class_id=self.class_id,
                                 sample_weight=sample_weight, evenly=self._evenly)
        for key in self.state:
            getattr(self, self._variable_name(key)).assign_add(batch[key])

    def _first_or_all(self, x):
        return to_result(x[0] if len(self.thresholds) == 1 else x)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """precision = tp / (tp + fp): of the predicted positives, the share that is right.

    Args:
        thresholds: one or a list of thresholds in [0, 1] (default 0.5); a list gives a vector result.
        top_k: only the k highest scores of each row count as predicted positive.
        class_id: score only this column of (batch, classes) predictions.
    State: ``true_positives``, ``false_positives``.
    """
    state = ("tp", "fp")

    def result(self):
        c = self.counts
        return self._first_or_all(divide_no_nan(c["tp"], c["tp"] + c["fp"]))


class Recall(_ConfusionMetric):
    """recall = tp / (tp + fn): of the actual positives, the share that is found. Args as Precision.
    State: ``true_positives``, ``false_negatives``."""
    state = ("tp", "fn")

    def result(self):
        c = self.counts
        return self._first_or_all(divide_no_nan(c["tp"], c["tp"] + c["fn"]))


class _Count(_ConfusionMetric):
    """One count; its state is the variable ``accumulator``, as in Keras."""
    key = ""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.state = (self.key,)
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def _variable_name(self, key):
        return "accumulator"

    def result(self):
        return self._first_or_all(self.counts[self.key])

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class TruePositives(_Count):
    """The weighted number of positives predicted positive (p > threshold)."""
    key = "tp"


class FalsePositives(_Count):
    """The weighted number of negatives predicted positive."""
    key = "fp"


class TrueNegatives(_Count):
    """The weighted number of negatives predicted negative."""
    key = "tn"


class FalseNegatives(_Count):
    """The weighted number of positives predicted negative."""
    key = "fn"


class AUC(Metric):
    """Area under the ROC or precision-recall curve, by a Riemann sum over ``num_thresholds`` points.

    The thresholds are 0 - eps, 1/(n-1), ..., (n-2)/(n-1), 1 + eps, so the curve runs from
    "everything positive" to "nothing positive". ROC with 'interpolation' uses trapezoids;
    PR with 'interpolation' interpolates tp and fp linearly between thresholds and integrates
    precision exactly (Davis & Goadrich, 2006). 'minoring'/'majoring' take the lower/upper
    of the two heights.

    Args:
        num_thresholds: number of points (> 1); ignored when ``thresholds`` is given.
        curve: 'ROC', 'PR' or 'PRGAIN' (precision-recall gain). summation_method: 'interpolation',
            'minoring' or 'majoring'.
        multi_label: one curve per label column, averaged (weighted by ``label_weights``).
        from_logits: apply a sigmoid to y_pred first.
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name=None, dtype=None, thresholds=None, multi_label: bool = False, num_labels=None,
                 label_weights=None, from_logits: bool = False):
        super().__init__(dtype=dtype, name=name)
        curves = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
        if str(curve).lower() not in curves:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected one of "ROC", "PR" or "PRGAIN".')
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". Expected one of '
                             '"interpolation", "minoring" or "majoring".')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0] + inner + [1.0])
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. Received: "
                                 f"num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        # endpoints just outside [0, 1] so that predictions of exactly 0 and 1 are counted
        self._thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        self.curve = curves[str(curve).lower()]
        self.summation_method = summation_method
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float64)
        self.from_logits = from_logits
        if num_labels and not multi_label:
            raise ValueError("AUC: num_labels is only used with multi_label=True.")
        self._built = False
        if not multi_label or num_labels:
            self._make_variables(num_labels if multi_label else None)

    def _make_variables(self, num_labels):
        """State: ``true_positives``, ``false_positives``, ``true_negatives``, ``false_negatives`` of shape
        (num_thresholds,), or (num_thresholds, num_labels) with multi_label (made at the first batch when
        num_labels is not given)."""
        shape = (self.num_thresholds,) if num_labels is None else (self.num_thresholds, num_labels)
        for name in VARIABLE_NAMES.values():
            setattr(self, name, self.add_variable(shape=shape, name=name))
        self._built = True

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    @property
    def counts(self):
        if not self._built:
            return None
        return {key: getattr(self, name).value.astype(np.float64) for key, name in VARIABLE_NAMES.items()}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = as_numpy(y_pred)
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        batch = confusion_counts(y_true, y_pred, self._thresholds, sample_weight=sample_weight,
                                 multi_label=self.multi_label,
                                 label_weights=None if self.multi_label else self.label_weights,
                                 evenly=self._evenly)
        if not self._built:
            self._make_variables(batch["tp"].shape[1])
        for key, name in VARIABLE_NAMES.items():
            getattr(self, name).assign_add(batch[key])

    def _average(self, per_label):
        if not self.multi_label:
            return float(per_label)
        if self.label_weights is None:
            return float(np.mean(per_label))
        return float(divide_no_nan(np.sum(per_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolate_pr_auc(self):
        """PR-AUC with tp and fp linear between thresholds: precision = slope + intercept/p there,
        which integrates to dtp + intercept·log(p_i / p_{i+1}) per interval."""
        tp, fp, fn = self.counts["tp"], self.counts["fp"], self.counts["fn"]
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increment = divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return self._average(np.sum(increment, axis=0))

    def result(self):
        if self.counts is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = (self.counts[k] for k in ("tp", "fp", "tn", "fn"))
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            x, y = _pr_gain(tp, fp, tn, fn)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average(np.sum((x[:-1] - x[1:]) * heights, axis=0))

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


def _pr_gain(tp, fp, tn, fn):
    """Precision-recall gain (Flach & Kull 2015, https://papers.nips.cc/paper/5867): with π = P / N,
    recall_gain = 1 - π fn / tp and precision_gain = 1 - π fp / tp. Where tp = 0 the gains are taken as 0
    (recall) and 1 (precision), and a negative recall gain is clipped to 0."""
    scale = divide_no_nan(tp + fn, tn + fp)
    recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * divide_no_nan(fn, tp))
    precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * divide_no_nan(fp, tp))
    return np.maximum(recall_gain, 0.0), precision_gain


class FBetaScore(Metric):
    """F_beta = (1 + beta²) · precision · recall / (beta² · precision + recall), per class.

    Args:
        average: None (one score per class), 'micro' (pool all classes), 'macro' (mean over
            classes) or 'weighted' (mean weighted by each class's number of true labels).
        beta: > 0; beta > 1 favours recall.
        threshold: predictions above it are positive; None marks each row's maximum positive.
    Inputs are (batch, classes) one-hot or multi-hot labels and scores.
    """

    def __init__(self, average=None, beta: float = 1.0, threshold=None, name: str = "fbeta_score", dtype=None):
        super().__init__(dtype=dtype, name=name)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"Invalid average {average!r}; expected None, 'micro', 'macro' or 'weighted'.")
        if not isinstance(beta, float) or beta <= 0:
            raise ValueError(f"beta must be a Python float > 0, got {beta!r}.")
        if threshold is not None and (not isinstance(threshold, float) or not 0 < threshold <= 1):
            raise ValueError(f"threshold must be a Python float with 0 < threshold <= 1, got {threshold!r}.")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self.counts = None

    def reset_state(self) -> None:
        self.counts = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = as_numpy(y_true).astype(np.float32)
        y_pred = as_numpy(y_pred).astype(np.float32)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects 2-D inputs (batch, classes), got y_true "
                             f"{y_true.shape} and y_pred {y_pred.shape}; one-hot encode integer labels.")
        if self.threshold is None:
            # the row maximum is positive, but an all-zero row must not become all-positive
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(np.float64)
        weights = 1.0 if sample_weight is None else as_numpy(sample_weight).astype(np.float64).reshape(-1, 1)
        batch = {"tp": predicted * y_true, "fp": predicted * (1 - y_true), "fn": (1 - predicted) * y_true,
                 "support": y_true}
        batch = {key: np.sum(value * weights, axis=self.axis) for key, value in batch.items()}
        if self.counts is None:
            self.counts = batch
        else:
            for key in self.counts:
                self.counts[key] = self.counts[key] + batch[key]

    def result(self):
        if self.counts is None:
            return 0.0
        tp, fp, fn = self.counts["tp"], self.counts["fp"], self.counts["fn"]
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            support = self.counts["support"]
            score = np.sum(score * support / (np.sum(support) + EPSILON))
        elif self.average is not None:
            score = np.mean(score)
        return to_result(score)

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 = 2 · precision · recall / (precision + recall): FBetaScore with beta = 1."""

    def __init__(self, average=None, threshold=None, name: str = "f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
