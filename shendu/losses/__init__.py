"""Losses with tf.keras's names and semantics: per-sample functions (``functions.py``) and the
``Loss`` classes that add sample weights and the batch reduction (``classes.py``); focal and
generalized cross-entropies (``focal.py``), direction and overlap losses (``overlap.py``) and CTC
(``sequence.py``)."""
from shendu.losses.functions import *  # noqa: F401,F403
from shendu.losses.functions import EPSILON, align_ranks  # noqa: F401
from shendu.losses.classes import *  # noqa: F401,F403
from shendu.losses.classes import ALL_OBJECTS, REDUCTIONS, deserialize, get, reduce_weighted_values, serialize  # noqa: F401
from shendu.losses import focal, overlap, sequence
from shendu.losses.focal import *  # noqa: F401,F403
from shendu.losses.overlap import *  # noqa: F401,F403
from shendu.losses.sequence import *  # noqa: F401,F403

# the lookup table of get()/deserialize() knows the losses of every module
for _module in (focal, overlap, sequence):
    ALL_OBJECTS.update({_name: getattr(_module, _name) for _name in _module.__all__ if _name != "l2_normalize"})
