"""``ProgbarLogger``: the per-epoch progress display ``fit`` and ``evaluate`` print."""
from __future__ import annotations

import sys
import time

import numpy as np

from shendu.callbacks.base import Callback


def _format_value(value) -> str:
    # Keras 3's rule: 4 decimals, or scientific notation once 4 decimals would show 0.0000
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"
    return str(value)


def format_logs(logs) -> str:
    return " - ".join(f"{k}: {_format_value(v)}" for k, v in logs.items())


def _format_step_time(seconds: float) -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class ProgbarLogger(Callback):
    """The progress display tf.keras users know: a live bar per epoch (``verbose=1``), or one line per
    epoch (``verbose=2``): ``125/125 - 2s - 12ms/step - accuracy: 0.9000 - loss: 0.3100``.
    The live bar is drawn by tqdm when it is installed."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self._bar = None

    def _out(self):
        return self.stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs", 1)
        if epochs > 1:                       # Keras 3 omits the header for a single epoch
            print(f"Epoch {epoch + 1}/{epochs}", file=self._out(), flush=True)
        self._start = time.perf_counter()
        self._seen = 0
        self._open_bar(self.params.get("steps"))

    def _live(self) -> bool:
        """A live bar only on a terminal; logs and CI get one line per epoch (Keras does the same)."""
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def _open_bar(self, total):
        self._bar = None
        if self.verbose == 1 and self._live():
            try:
                from tqdm import tqdm      # optional dependency, imported on first use
            except ImportError:  # pragma: no cover - tqdm is in the 'all' extra
                return
            self._bar = tqdm(total=total, file=self._out(), ascii=" ━", ncols=None, leave=True,
                             bar_format="{n_fmt}/{total_fmt} {bar:20} {elapsed_s:.0f}s {desc}", mininterval=0.1)
            # the text after the bar goes in `desc`: tqdm would put ", " before a postfix

    def _postfix(self, logs):
        steps = max(self._seen, 1)
        text = _format_step_time((time.perf_counter() - self._start) / steps)
        return text + (" - " + format_logs(logs) if logs else "")

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self._bar is not None:
            self._bar.update(1)
            if self._bar.n == self._bar.total or time.perf_counter() - getattr(self, "_last", 0) > 0.1:
                self._bar.set_description_str(self._postfix(logs), refresh=False)
                self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.set_description_str(self._postfix(logs), refresh=False)
            self._bar.close()
        elif self.verbose == 1:
            steps = self.params.get("steps") or self._seen
            print(f"{self._seen}/{steps} {'━' * 20} {elapsed:.0f}s {self._postfix(logs)}", file=self._out(), flush=True)
        else:
            steps = self.params.get("steps") or self._seen
            print(f"{self._seen:{len(str(steps))}d}/{steps} - {elapsed:.0f}s - {self._postfix(logs)}",
                  file=self._out(), flush=True)

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()
        self._tested = 0

    def on_test_batch_end(self, batch, logs=None):
        self._tested = batch + 1

    def on_predict_begin(self, logs=None):
        self._test_start = time.perf_counter()
        self._predicted = 0

    def on_predict_batch_end(self, batch, logs=None):
        self._predicted = batch + 1

    def on_predict_end(self, logs=None):
        steps = self.params.get("steps") or self._predicted
        elapsed = time.perf_counter() - self._test_start
        print(f"{steps}/{steps} - {elapsed:.0f}s - {_format_step_time(elapsed / max(steps or 1, 1))}",
              file=self._out(), flush=True)

    def on_test_end(self, logs=None):
        if self.params.get("mode") == "evaluate" and logs:
            steps = self.params.get("steps") or self._tested
            elapsed = time.perf_counter() - self._test_start
            per_step = _format_step_time(elapsed / max(steps or 1, 1))
            print(f"{steps}/{steps} - {elapsed:.0f}s - {per_step} - {format_logs(logs)}", file=self._out(),
                  flush=True)
