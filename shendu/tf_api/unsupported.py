"""TensorFlow's documented top-level names that have no meaning in shendu, each with what to use instead
(``import shendu as tf; tf.Session`` raises an error saying so, not a bare AttributeError)."""

_GRAPH = ("shendu runs eagerly and has no TensorFlow 1 graphs or sessions; call the ops directly "
          "(a function runs as written, @tf.function returns it unchanged).")

TOP_LEVEL = {
    "Session": _GRAPH, "placeholder": _GRAPH, "get_default_graph": _GRAPH, "Graph": _GRAPH,
    "global_variables_initializer": _GRAPH, "control_dependencies": _GRAPH, "init_scope": _GRAPH,
    "compat": "shendu speaks TensorFlow 2's names only; drop the tf.compat.v1 prefix or use the tf.keras API.",
    "config": "shendu has no device configuration; it runs on the CPU through NumPy "
              "(shendu.set_backend('cupy') for a GPU).",
    "device": "shendu places tensors by its backend, not per op; use shendu.set_backend('numpy' or 'cupy').",
    "distribute": "shendu trains on one device; remove the distribution strategy scope.",
    "saved_model": "save with model.save('model.keras') and load with keras.models.load_model.",
    "summary": "shendu writes no TensorBoard summaries; use the History returned by fit or a CSVLogger callback.",
    "image": "use keras.preprocessing.image / keras.utils.img_to_array, keras.layers.Resizing, or NumPy.",
    "strings": "shendu has no string tensors; process strings in Python or with keras.layers.TextVectorization.",
    "io": "read files with Python or NumPy, and keras.utils for images.",
    "signal": "shendu has no signal processing ops; use numpy.fft on tensor.numpy() (no gradient).",
    "audio": "shendu has no audio ops; decode audio with Python libraries and pass NumPy arrays.",
    "sparse": "shendu has no sparse tensors; use dense arrays.",
    "SparseTensor": "shendu has no sparse tensors; use dense arrays.",
    "ragged": "shendu has no ragged tensors; pad the rows with keras.utils.pad_sequences.",
    "RaggedTensor": "shendu has no ragged tensors; pad the rows with keras.utils.pad_sequences.",
    "TensorArray": "collect the tensors in a Python list and join them with tf.stack.",
    "TensorSpec": "shendu needs no signatures: shapes are known when ops run. Describe inputs with "
                  "keras.Input(shape=...).",
    "TensorShape": "shapes in shendu are tuples of ints: use x.shape (or tf.shape(x)).",
    "py_function": "shendu runs Python directly: call the function itself.",
    "numpy_function": "shendu runs Python directly: call the function on tensor.numpy() and wrap the result "
                      "with tf.constant (no gradient).",
    "Module": "subclass keras.layers.Layer (or keras.Model) for a module with variables.",
    "name_scope": "shendu has no graph names; leave the block without the name scope.",
    "custom_gradient": "write a shendu.Function subclass with forward() and backward() (see shendu/ops) and call "
                       "it with MyFunction.apply(x).",
    "lite": "shendu has no TFLite converter; save with model.save('model.keras').",
    "estimator": "use keras.Model with compile/fit.",
    "feature_column": "use Keras preprocessing layers (Normalization, StringLookup, ...) or NumPy.",
    "autograph": "shendu runs Python control flow as written; nothing to convert.",
    "xla": "shendu has no XLA compiler.",
    "tpu": "shendu has no TPU support.",
    "unique": "use keras.ops.unique(x, return_inverse=True) for (values, indices).",
    "histogram_fixed_width": "use numpy.histogram on tensor.numpy().",
}
