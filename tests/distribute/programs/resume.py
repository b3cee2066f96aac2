"""Two epochs of SGD with BackupAndRestore. With CRASH_AT=k, worker 1 raises at the start of epoch k (after
the backup of epoch k-1 was written); rerun without it, the job resumes from the backup. Worker 0 writes
the final weights to OUT.npz."""
import os
import sys

import numpy as np

import shendu as tf

keras = tf.keras


class Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if os.environ.get("CRASH_AT") == str(epoch) and tf.distribute.rank() == tf.distribute.size() - 1:
            with open(out + ".crashed", "w") as f:     # the job's stderr may be cut short by MPI's abort
                f.write(f"killed at epoch {epoch}")
            raise RuntimeError(f"killed at epoch {epoch}")


out, backup = sys.argv[1], sys.argv[2]
strategy = tf.distribute.MPIStrategy()
tf.set_seed(5)
rng = np.random.default_rng(1)
x = rng.normal(size=(96, 6)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")
with strategy.scope():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False,
          callbacks=[keras.callbacks.BackupAndRestore(backup), Crash()])
if strategy.is_chief:
    np.savez(out, *model.get_weights(), epochs=np.array(history.epoch))
