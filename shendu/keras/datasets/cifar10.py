"""``keras.datasets.cifar10`` (read from the binary CIFAR-10 release: shendu never unpickles)."""
from shendu.data.keras_datasets import load_cifar10 as load_data  # noqa: F401
