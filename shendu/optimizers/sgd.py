"""Stochastic gradient descent, with Keras 3's momentum and Nesterov momentum."""
from __future__ import annotations

from shendu.optimizers.base import Optimizer


class SGD(Optimizer):
    """w -= lr * g;  with momentum: m = momentum * m - lr * g, w += m  (nesterov: w += momentum * m - lr * g)

    Args:
        learning_rate: step size (default 0.01).
        momentum: float in [0, 1]; 0 means plain gradient descent and no slot.
        nesterov: use Nesterov momentum (look ahead along the velocity).
        **kwargs: the shared options of ``Optimizer`` (clipnorm, weight_decay, name, ...).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def build(self, var_list):
        super().build(var_list)
        if self.momentum != 0:
            self.add_slots(var_list, "momentum")

    def update_step(self, g, w, lr):
        if self.momentum == 0:
            w -= g * lr
            return
        (m,) = self.slots(w)
        m *= self.momentum
        m -= g * lr                              # m is the velocity: a step already scaled by lr
        if self.nesterov:
            w += self.momentum * m - g * lr      # step from the look-ahead point
        else:
            w += m

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
