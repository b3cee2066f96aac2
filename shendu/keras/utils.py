"""``keras.utils``."""
from shendu.models.compile_utils import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: F401
from shendu.preprocessing.sequence import pad_sequences  # noqa: F401
from shendu.utils import normalize, set_random_seed, to_categorical  # noqa: F401


class Sequence:
    """Base class for batch generators: implement ``__len__`` (batches per epoch) and ``__getitem__``."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def on_epoch_end(self):
        pass


PyDataset = Sequence
