"""Worker 1 raises in its second training step while worker 0 waits in the gradient allreduce:
the job must end with worker 1's message, not hang."""
import numpy as np

import shendu as tf

keras = tf.keras


class FailOnWorkerOne(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if tf.distribute.rank() == 1 and batch == 1:
            raise RuntimeError("worker one ran out of patience")


strategy = tf.distribute.MPIStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
x = np.ones((256, 4), "float32")
model.fit(x, x[:, :2], batch_size=32, epochs=50, verbose=0, callbacks=[FailOnWorkerOne()])
