"""Adam and its relatives: AdamW (decoupled weight decay) and Nadam (Nesterov momentum)."""
from __future__ import annotations

import numpy

from shendu import backend
from shendu.optimizers import kernels
from shendu.optimizers.base import Optimizer


def _scalar(dtype):
    # Keras 3 casts beta and t to the variable's dtype before the power: for float32,
    # 1 - float32(0.999)**t is ~1e-5 (relative) away from 1 - 0.999**t in the first steps.
    # Computing the same way keeps float32 runs within float32 rounding of Keras.
    return numpy.dtype(dtype).type


def _epsilon(epsilon):
    return 1e-7 if epsilon is None else float(epsilon)   # Keras 2 wrote epsilon=None for K.epsilon()


class Adam(Optimizer):
    """m += (g - m)(1 - beta_1);  v += (g² - v)(1 - beta_2);  w -= lr·sqrt(1-beta_2^t)/(1-beta_1^t)·m/(sqrt(v)+eps)

    ``t`` counts from 1. The bias correction sits in the step size, so ``epsilon`` is added to
    the uncorrected sqrt(v) (the paper's "epsilon hat"), exactly as Keras 3 and TensorFlow do.

    Args:
        learning_rate: 0.001.  beta_1: 0.9, decay of the first moment.  beta_2: 0.999, decay of
        the second moment.  epsilon: 1e-7.  amsgrad: divide by the running maximum of v instead.
        **kwargs: the shared options of ``Optimizer``.

    Kingma & Ba, https://arxiv.org/abs/1412.6980
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = _epsilon(epsilon)
        self.amsgrad = amsgrad

    def build(self, var_list):
        super().build(var_list)
        self.add_slots(var_list, "momentum", "velocity")
        if self.amsgrad:
            self.add_slots(var_list, "velocity_hat")

    def step_size(self, lr, dtype):
        """lr·sqrt(1 - beta_2^t)/(1 - beta_1^t), in the variable's precision as Keras computes it."""
        f = _scalar(dtype)
        t = f(self.iterations + 1)
        return f(lr) * (1 - f(self.beta_2) ** t) ** f(0.5) / (1 - f(self.beta_1) ** t)

    def _constants(self, lr, dtype):
        """(1 - beta_1, 1 - beta_2, step size, epsilon, the float below which moments are flushed to 0) as
        scalars of ``dtype``, computed once per step and dtype."""
        key = (self._iterations, lr, dtype)
        cached = self.__dict__.get("_constants_cache")
        if cached is None or cached[0] != key:
            f = _scalar(dtype)
            # subnormals are slow in float32/float64 hardware arithmetic only; float16 and bfloat16 keep theirs
            tiny = numpy.finfo(dtype).tiny if numpy.dtype(dtype).char in "fd" else f(0)
            cached = self._constants_cache = (key, (f(1 - self.beta_1), f(1 - self.beta_2), self.step_size(lr, dtype),
                                                    f(self.epsilon), tiny))
        return cached[1]

    def update_step(self, g, w, lr):
        xp = backend.xp
        m, v = self.slots(w)[:2]
        c1, c2, step, eps, tiny = self._constants(lr, w.dtype)
        if not self.amsgrad and kernels.adam_in_place(g, w, m, v, c1, c2, step, eps, tiny):
            return                                  # the formula below as one compiled pass (kernels.py)
        # the same arithmetic, in the same order, as m += (g - m)(1 - beta_1); v += (g² - v)(1 - beta_2);
        # w -= m·step / (sqrt(v) + eps), through one scratch array instead of a temporary per operation
        tmp = xp.subtract(g, m, dtype=w.dtype)
        tmp *= c1
        m += tmp                                    # first moment
        xp.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= c2
        v += tmp                                    # second moment
        if tiny:                                    # subnormal moments become 0: slow on CPUs (kernels.py says more)
            xp.copyto(m, 0, where=xp.abs(m, out=tmp) < tiny)
            xp.copyto(v, 0, where=v < tiny)
        if self.amsgrad:
            v_hat = self.get_slot(w, "velocity_hat")
            xp.maximum(v_hat, v, out=v_hat)
            v = v_hat
        xp.sqrt(v, out=tmp)
        tmp += eps
        xp.divide(m * step, tmp, out=tmp)
        w -= tmp

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "amsgrad": self.amsgrad})
        return config


class AdamW(Adam):
    """w -= w · weight_decay · lr (decoupled, before the step), then the Adam step.

    The same rule as ``Adam(weight_decay=...)``; AdamW only makes the decay required, 0.004 by
    default. Loshchilov & Hutter, https://arxiv.org/abs/1711.05101
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)
        if self.weight_decay is None:
            raise ValueError("AdamW needs a float `weight_decay` (default 0.004); received weight_decay=None. "
                             "Use Adam for no decay.")


class Nadam(Optimizer):
    """u_t = beta_1(1 - 0.5·0.96^t);  m̂ = u_{t+1}·m/(1 - Π_{i≤t+1} u_i) + (1 - u_t)·g/(1 - Π_{i≤t} u_i);
    v̂ = v/(1 - beta_2^t);  w -= lr · m̂ / (sqrt(v̂) + eps)   (m, v updated as in Adam)

    Adam with Nesterov momentum and Dozat's momentum schedule u_t; ``u_product`` (Π u_i) is kept
    once per optimizer and advanced once per step.

    Args:
        learning_rate: 0.001.  beta_1: 0.9.  beta_2: 0.999.  epsilon: 1e-7.
        **kwargs: the shared options of ``Optimizer``.

    Dozat, https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = _epsilon(epsilon)
        self.u_product = 1.0

    def build(self, var_list):
        super().build(var_list)
        self.add_slots(var_list, "momentum", "velocity")
        dtype = var_list[0].dtype if len(var_list) else backend.floatx
        self.add_scalar_state("u_product", dtype)

    def _u(self, t, f=float):
        return f(self.beta_1) * (1 - f(0.5) * f(0.96) ** f(t))

    def update_all(self, grads, variables, lr):
        self.u_product *= self._u(self.iterations + 1)     # once per step, shared by all variables
        super().update_all(grads, variables, lr)

    def update_step(self, g, w, lr):
        m, v = self.slots(w)
        f = _scalar(w.dtype)
        t = self.iterations + 1
        u_t, u_next = self._u(t, f), self._u(t + 1, f)
        u_product = f(self.u_product)
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        m_hat = m * (u_next / (1 - u_product * u_next)) + g * ((1 - u_t) / (1 - u_product))
        v_hat = v / (1 - f(self.beta_2) ** f(t))
        w -= m_hat * f(lr) / (backend.xp.sqrt(v_hat) + self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
