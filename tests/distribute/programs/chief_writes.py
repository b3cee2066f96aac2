"""Each worker asks for a CSV log and a checkpoint at paths naming its rank, with a progress line per epoch:
only worker 0's files may appear, and the epochs are printed once."""
import os
import sys

import numpy as np

import shendu as tf

keras = tf.keras
folder, rank = sys.argv[1], tf.distribute.rank()
strategy = tf.distribute.MPIStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
x = np.ones((40, 3), "float32")
model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=2,
          callbacks=[keras.callbacks.CSVLogger(os.path.join(folder, f"log{rank}.csv")),
                     keras.callbacks.ModelCheckpoint(os.path.join(folder, f"ckpt{rank}.weights.h5"),
                                                     save_weights_only=True)])
