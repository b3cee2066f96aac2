"""``keras.utils``."""
from shendu.data.download import get_file, validate_file  # noqa: F401
from shendu.preprocessing.image import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from shendu.preprocessing.sequence import pad_sequences  # noqa: F401
from shendu.utils import model_to_dot, normalize, plot_model, set_random_seed, to_categorical  # noqa: F401


class Sequence:
    """Base class for batch generators: implement ``__len__`` (batches per epoch) and ``__getitem__``."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def on_epoch_end(self):
        pass


PyDataset = Sequence
