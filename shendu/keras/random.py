"""``keras.random``: random draws with Keras 3's signatures (normal, uniform, truncated_normal, randint,
categorical, dropout, shuffle, gamma, beta, binomial) and ``SeedGenerator``."""
from shendu.random import (SeedGenerator, beta, binomial, categorical, dropout, gamma, normal, randint,  # noqa: F401
                           shuffle, truncated_normal, uniform)
