"""Data for the keras-io programs: slices of the MNIST test images and the review sentences that ship
with shendu (shendu.data.datasets), and Keras 3 on torch, single-threaded, as the reference."""
import numpy as np
import pytest

from shendu.data import datasets


@pytest.fixture(scope="session")
def mnist():
    """((x_train, y_train), (x_test, y_test)) as keras.datasets.mnist.load_data() gives them (uint8
    (N, 28, 28), int labels), cut from the MNIST test set: 2000 to train on, 500 to test."""
    x, y = datasets.load_mnist_test()
    return (x[:2000], y[:2000].astype("int64")), (x[2000:2500], y[2000:2500].astype("int64"))


@pytest.fixture(scope="session")
def reviews():
    """Review sentences with 0/1 labels, shuffled once: (train_texts, train_labels, test_texts, test_labels)."""
    texts, labels = datasets.load_sentiment()
    order = np.random.default_rng(0).permutation(len(texts))
    texts, labels = np.asarray(texts, dtype=object)[order], labels[order]
    return list(texts[:2400]), labels[:2400], list(texts[2400:]), labels[2400:]


@pytest.fixture
def keras3(keras):
    """Keras 3 (torch backend) seeded, on one torch thread: small models run faster so."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    keras.utils.set_random_seed(0)
    yield keras
    torch.set_num_threads(threads)
