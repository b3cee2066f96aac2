"""Noise that regularizes while training and vanishes at inference: SpatialDropout1D/2D/3D (whole
channels), GaussianNoise (additive) and GaussianDropout (multiplicative); ActivityRegularization, a
penalty on activations added to the loss. Plain Dropout is in core.py."""
from __future__ import annotations

import math

from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer, same_shape
from shendu.layers.input_spec import InputSpec
from shendu.layers.core import Dropout
from shendu.random import SeedGenerator
from shendu.tensor import Tensor


class SpatialDropout1D(Dropout):
    """Training: zero whole channels, y[b, :, c] = x[b, :, c] * m[b, c] / (1 - rate) with
    m ~ Bernoulli(1 - rate); inference: identity.

    Neighbouring time steps of a feature map are strongly correlated, so dropping single values
    barely regularizes; dropping the whole map does (Tompson et al., 2014, https://arxiv.org/abs/1411.4280).

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        seed: seeds this layer's own generator (None: the shared one).

    Input: (batch, time, channels).
    """

    rank = 1

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.noise_shape = (None, 1, None)      # one draw per (sample, channel), shared along time
        self.input_spec = InputSpec(ndim=3, layout="(batch, time, channels)")

    def get_config(self):
        # Keras 3 saves exactly these keys (no 'trainable'), and its constructor accepts no others
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}


class SpatialDropout2D(SpatialDropout1D):
    """Training: zero whole feature maps, y[b, :, :, c] = x[b, :, :, c] * m[b, c] / (1 - rate); inference: identity.

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        data_format: 'channels_last' (batch, height, width, channels), the default, or
            'channels_first' (batch, channels, height, width).
        seed: seeds this layer's own generator.
    """

    rank = 2

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = data_format or "channels_last"
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__}: data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}.")
        # one draw per (sample, channel), shared along every spatial axis
        spatial = (1,) * self.rank
        axes = ("depth", "height", "width")[-self.rank:]
        if self.data_format == "channels_last":
            self.noise_shape = (None, *spatial, None)
            layout = f"(batch, {', '.join(axes)}, channels)"
        else:
            self.noise_shape = (None, None, *spatial)
            layout = f"(batch, channels, {', '.join(axes)})"
        self.input_spec = InputSpec(ndim=self.rank + 2, layout=layout)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(SpatialDropout2D):
    """Training: zero whole volumes, y[b, :, :, :, c] = x[b, :, :, :, c] * m[b, c] / (1 - rate); inference:
    identity.

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        data_format: 'channels_last' (batch, depth, height, width, channels), the default, or
            'channels_first' (batch, channels, depth, height, width).
        seed: seeds this layer's own generator.
    """

    rank = 3


class _Noise(Layer):
    """Base: draw Gaussian noise of the input's shape in training, pass the input through otherwise."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)       # seed=None follows the shared generator
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def _normal(self, x, mean, stddev):
        rng = self.seed_generator.generator
        noise = rng.standard_normal(x.shape, dtype=x.dtype) * x.dtype.type(stddev) + x.dtype.type(mean)
        return Tensor._wrap(noise, False)       # a constant: the gradient flows to x only


class GaussianNoise(_Noise):
    """Training: y = x + n, n ~ N(0, stddev²) drawn afresh each call; inference: y = x.

    Args:
        stddev: the noise's standard deviation, in [0, 1] (Keras's range).
        seed: seeds this layer's own generator (None: the shared one).
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0 <= stddev <= 1:
            raise ValueError(f"GaussianNoise stddev must be a float in [0, 1], got {stddev!r}.")
        self.stddev = stddev

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        return inputs + self._normal(inputs, 0.0, self.stddev)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """Training: y = x * n, n ~ N(1, rate / (1 - rate)) drawn afresh each call; inference: y = x.

    The noise has Dropout's mean (1) and variance (rate / (1 - rate)) without zeroing anything
    (Srivastava et al., 2014, section 10, https://jmlr.org/papers/v15/srivastava14a.html).

    Args:
        rate: the drop probability the noise imitates, in [0, 1).
        seed: seeds this layer's own generator.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        # Keras accepts rate=1, whose noise has infinite variance; refuse it here instead of producing inf
        if not 0 <= rate < 1:
            raise ValueError(f"GaussianDropout rate must be a float in [0, 1), got {rate!r}.")
        self.rate = rate

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        return inputs * self._normal(inputs, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(Layer):
    """y = x; adds (l1 Σ|x| + l2 Σ x²) / batch to the model's losses (``model.losses``) at each call.

    Args:
        l1, l2: the factors of the L1 and L2 penalties on the activations.
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)      # saved configs of other layers' shape; this one owns it
        super().__init__(activity_regularizer=regularizers_module.L1L2(l1=l1, l2=l2), **kwargs)
        self.supports_masking = True
        self.l1, self.l2 = l1, l2

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}

