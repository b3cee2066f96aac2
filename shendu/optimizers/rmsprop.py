"""RMSprop: divide the step by a running root-mean-square of recent gradients."""
from __future__ import annotations

from shendu import backend
from shendu.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """v = rho·v + (1 - rho)·g²;  w -= lr·g / sqrt(v + eps)
    (centered: a = rho·a + (1 - rho)·g, divide by sqrt(v - a² + eps);  momentum: mom = momentum·mom + step, w -= mom)

    Note ``epsilon`` sits inside the square root, unlike Adam.

    Args:
        learning_rate: 0.001.  rho: 0.9, decay of the mean square.  momentum: 0.0.
        epsilon: 1e-7.  centered: normalise by the variance instead of the raw second moment.
        **kwargs: the shared options of ``Optimizer``.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)
        self.centered = centered

    def build(self, var_list):
        super().build(var_list)
        self.add_slots(var_list, "velocity")
        if self.momentum > 0:
            self.add_slots(var_list, "momentum")
        if self.centered:
            self.add_slots(var_list, "average_gradient")

    def update_step(self, g, w, lr):
        xp = backend.xp
        v = self.get_slot(w, "velocity")
        v *= self.rho
        v += (1 - self.rho) * (g * g)
        if self.centered:
            a = self.get_slot(w, "average_gradient")
            a *= self.rho
            a += (1 - self.rho) * g
            denominator = v - a * a + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * g / xp.sqrt(denominator)
        if self.momentum > 0:
            mom = self.get_slot(w, "momentum")
            mom *= self.momentum
            mom += increment
            w -= mom
        else:
            w -= increment

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
