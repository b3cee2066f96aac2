"""``keras.initializers``."""
from shendu.initializers import *  # noqa: F401,F403
from shendu.initializers import deserialize, get, serialize  # noqa: F401
from shendu.initializers import (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity,  # noqa: F401
                                 LecunNormal, LecunUniform, Ones, Orthogonal, RandomNormal, RandomUniform,
                                 TruncatedNormal, VarianceScaling, Zeros)

# Keras 3's other spellings of the same classes
constant, glorot_normal, glorot_uniform = Constant, GlorotNormal, GlorotUniform
he_normal, he_uniform = HeNormal, HeUniform
identity, IdentityInitializer, lecun_normal, lecun_uniform, ones = Identity, Identity, LecunNormal, LecunUniform, Ones
orthogonal, OrthogonalInitializer, random_normal, random_uniform = Orthogonal, Orthogonal, RandomNormal, RandomUniform
truncated_normal, variance_scaling, zeros = TruncatedNormal, VarianceScaling, Zeros

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.initializers", _documented.INITIALIZERS, globals())
