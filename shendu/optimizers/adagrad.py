"""Adagrad and Adadelta: per-coordinate step sizes from accumulated squared gradients."""
from __future__ import annotations

from shendu import backend
from shendu.optimizers.base import Optimizer


class Adagrad(Optimizer):
    """acc += g²;  w -= lr·g / sqrt(acc + eps)   (acc starts at initial_accumulator_value)

    Args:
        learning_rate: 0.001.  initial_accumulator_value: 0.1.  epsilon: 1e-7.
        **kwargs: the shared options of ``Optimizer``.

    Duchi et al., https://jmlr.org/papers/v12/duchi11a.html
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def build(self, var_list):
        super().build(var_list)
        self.add_slots(var_list, "accumulator", initial=self.initial_accumulator_value)

    def update_step(self, g, w, lr):
        (acc,) = self.slots(w)
        acc += g * g
        w -= lr * g / backend.xp.sqrt(acc + self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon})
        return config


class Adadelta(Optimizer):
    """Eg² = rho·Eg² + (1-rho)·g²;  d = -sqrt(Edx² + eps)/sqrt(Eg² + eps)·g;  Edx² = rho·Edx² + (1-rho)·d²;  w += lr·d

    The ratio of running RMS values gives each coordinate its own unit-correct step; Keras still
    multiplies by ``learning_rate`` (0.001 by default, so set 1.0 for the paper's rule).

    Args:
        learning_rate: 0.001.  rho: 0.95.  epsilon: 1e-7.
        **kwargs: the shared options of ``Optimizer``.

    Zeiler, https://arxiv.org/abs/1212.5701
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def build(self, var_list):
        super().build(var_list)
        self.add_slots(var_list, "accumulated_grad", "accumulated_delta_var")

    def update_step(self, g, w, lr):
        xp = backend.xp
        eg2, edx2 = self.slots(w)
        eg2 *= self.rho
        eg2 += (1 - self.rho) * (g * g)
        delta = -(xp.sqrt(edx2 + self.epsilon) * g) / xp.sqrt(eg2 + self.epsilon)
        edx2 *= self.rho
        edx2 += (1 - self.rho) * (delta * delta)
        w += lr * delta

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
