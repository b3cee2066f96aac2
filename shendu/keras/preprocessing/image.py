"""``keras.preprocessing.image``: the image file helpers."""
from shendu.preprocessing.image import array_to_img, img_to_array, load_img, save_img  # noqa: F401
