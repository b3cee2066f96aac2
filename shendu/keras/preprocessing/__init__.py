"""``keras.preprocessing``: the legacy text and sequence helpers tutorials use."""
from shendu.keras.preprocessing import image, sequence, text  # noqa: F401
