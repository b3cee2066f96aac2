"""Callbacks: code that runs at fixed points of ``fit``/``evaluate``/``predict`` (tf.keras's hooks).

    base.py           Callback, CallbackList, History, LambdaCallback
    progbar.py        ProgbarLogger (what verbose=1/2 prints)
    monitor.py        MonitorCallback (best value of a logged metric), EarlyStopping
    learning_rate.py  LearningRateScheduler, ReduceLROnPlateau
    checkpoint.py     ModelCheckpoint, BackupAndRestore
    logger.py         CSVLogger, TerminateOnNaN
    tensorboard.py    TensorBoard (event files through shendu.summary; needs the monitor extra)
"""
from shendu.callbacks.base import Callback, CallbackList, History, LambdaCallback
from shendu.callbacks.checkpoint import BackupAndRestore, ModelCheckpoint
from shendu.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from shendu.callbacks.logger import CSVLogger, TerminateOnNaN
from shendu.callbacks.monitor import EarlyStopping, MonitorCallback
from shendu.callbacks.progbar import ProgbarLogger, format_logs
from shendu.callbacks.tensorboard import TensorBoard

# keras.callbacks' names (MonitorCallback and format_logs stay importable by name)
__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "TensorBoard",
           "TerminateOnNaN"]
