"""keras.utils.image_dataset_from_directory: folders of images become float32 batches, resized as
tf.image.resize does; keras.ops.image.resize (Keras 3, torch) is the oracle for the pixels."""
import numpy as np
import pytest

from shendu.data.image_dataset import crop_to_aspect, load_image, resize_bilinear, resize_nearest
from shendu.keras import Input, Model, layers, utils

@pytest.fixture
def pets(tmp_path):
    """Two folders of PNG files, written with Pillow (the plot extra), and a stray text file."""
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    shapes = {"cats": [(12, 9), (7, 7), (10, 15)], "dogs": [(8, 8), (16, 6)]}
    for label, sizes in shapes.items():
        (tmp_path / label).mkdir()
        for i, (h, w) in enumerate(sizes):
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    (tmp_path / "dogs" / "readme.txt").write_text("not an image")
    return tmp_path


@pytest.mark.parametrize("size", [(4, 5), (14, 20), (6, 6)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resize_matches_keras(keras, size, interpolation):
    image = np.random.default_rng(1).uniform(0, 255, (7, 9, 3)).astype("float32")
    ours = (resize_bilinear if interpolation == "bilinear" else resize_nearest)(image, size)
    theirs = keras.ops.convert_to_numpy(keras.ops.image.resize(image, size, interpolation=interpolation))
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    cropped = keras.ops.convert_to_numpy(keras.ops.image.resize(image, size, interpolation=interpolation,
                                                                crop_to_aspect_ratio=True))
    np.testing.assert_allclose(resize_bilinear(crop_to_aspect(image, size), size) if interpolation == "bilinear"
                               else resize_nearest(crop_to_aspect(image, size), size), cropped, atol=1e-3)


def test_image_folders_become_labelled_batches(pets, capsys):
    ds = utils.image_dataset_from_directory(pets, image_size=(8, 8), batch_size=2, shuffle=False)
    assert "Found 5 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["cats", "dogs"] and len(ds) == 3
    batches = list(ds.as_numpy_iterator())
    images = np.concatenate([x for x, _ in batches])
    assert images.shape == (5, 8, 8, 3) and images.dtype == np.float32
    assert np.concatenate([y for _, y in batches]).tolist() == [0, 0, 0, 1, 1]
    first = load_image(pets / "cats" / "0.png")
    np.testing.assert_allclose(images[0], resize_bilinear(first, (8, 8)), atol=1e-4)
    gray = next(utils.image_dataset_from_directory(pets, image_size=(5, 4), color_mode="grayscale",
                                                   label_mode="categorical", verbose=False).as_numpy_iterator())
    assert gray[0].shape == (5, 5, 4, 1) and gray[1].shape == (5, 2)


def test_image_dataset_splits_and_trains_a_small_cnn(pets):
    train, val = utils.image_dataset_from_directory(pets, image_size=(6, 6), batch_size=2, validation_split=0.4,
                                                    subset="both", seed=3, verbose=False)
    assert not set(train.file_paths) & set(val.file_paths) and len(val.file_paths) == 2
    inputs = Input((6, 6, 3))
    h = layers.Rescaling(1 / 255)(inputs)
    h = layers.GlobalAveragePooling2D()(layers.Conv2D(2, 3)(h))
    model = Model(inputs, layers.Dense(2, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_image_dataset_arguments_it_does_not_take(pets):
    with pytest.raises(ValueError, match="crop_to_aspect_ratio"):
        utils.image_dataset_from_directory(pets, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="bilinear"):
        utils.image_dataset_from_directory(pets, interpolation="lanczos5")
    with pytest.raises(ValueError, match="color_mode"):
        utils.image_dataset_from_directory(pets, color_mode="cmyk")
