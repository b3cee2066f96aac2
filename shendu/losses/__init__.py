"""Losses with tf.keras's names and semantics: per-sample functions (``functions.py``) and the
``Loss`` classes that add sample weights and the batch reduction (``classes.py``)."""
from shendu.losses.functions import *  # noqa: F401,F403
from shendu.losses.functions import EPSILON, align_ranks  # noqa: F401
from shendu.losses.classes import *  # noqa: F401,F403
from shendu.losses.classes import ALL_OBJECTS, REDUCTIONS, deserialize, get, reduce_weighted_values, serialize  # noqa: F401
