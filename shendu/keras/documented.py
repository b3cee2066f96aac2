"""Names that Keras 3 and tf.keras 2 document in the ``keras.*`` namespaces and shendu does not provide,
each with what to use instead. Each facade module installs ``missing_names(namespace, TABLE, globals())``
as its ``__getattr__``, so such a name raises an error that teaches (``UnsupportedError``) instead of a
bare AttributeError. A name that shendu gains later is found first and never reaches its table."""
from __future__ import annotations


def _same(hint: str, *names: str) -> dict:
    return {name: hint for name in names}


_AUGMENT = ("image augmentation layers are not in shendu; augment the arrays with NumPy (or in a Dataset.map) "
            "before fit.")
_POOL = ("adaptive pooling is not in shendu; use GlobalAveragePooling/GlobalMaxPooling for an output of size 1, "
         "or AveragePooling/MaxPooling with pool_size = input size // output size.")
_LOOKUP = ("lookup and hashing layers are not in shendu; map values to indices with a Python dict or "
           "TextVectorization(split=None, standardize=None) before the model.")
_BACKEND = "it wraps another framework's module (JAX, Flax, TensorFlow SavedModel or torch), which shendu does not run."

LAYERS = {
    **_same(_POOL, "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
            "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"),
    **_same(_AUGMENT, "AugMix", "AutoContrast", "CenterCrop", "ContrastLimitedAdaptiveHistogramEqualization", "CutMix",
            "Equalization", "MaxNumBoundingBoxes", "MixUp", "RandAugment", "RandomBrightness",
            "RandomColorDegeneration", "RandomColorJitter", "RandomContrast", "RandomCrop", "RandomElasticTransform",
            "RandomErasing", "RandomFlip", "RandomGaussianBlur", "RandomGrayscale", "RandomHue", "RandomInvert",
            "RandomPerspective", "RandomPosterization", "RandomRotation", "RandomSaturation", "RandomSharpness",
            "RandomShear", "RandomTranslation", "RandomZoom", "Solarization", "RandomHeight", "RandomWidth"),
    **_same(_LOOKUP, "CategoryEncoding", "Discretization", "HashedCrossing", "Hashing", "IntegerLookup",
            "StringLookup"),
    **_same(_BACKEND, "FlaxLayer", "JaxLayer", "TFSMLayer", "TorchModuleWrapper"),
    **_same("3-D convolutional recurrence is not in shendu; apply Conv layers through TimeDistributed, then an LSTM.",
            "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"),
    **_same("3-D padding, cropping and upsampling are not in shendu; use the 1-D/2-D layers or keras.ops.pad, "
            "slicing and keras.ops.repeat inside a Lambda layer.", "Cropping3D", "UpSampling3D", "ZeroPadding3D"),
    **_same("audio front ends are not in shendu; compute spectrograms with NumPy before fit.", "MelSpectrogram",
            "STFTSpectrogram"),
    "AlphaDropout": "not in shendu; use Dropout, or GaussianDropout for a multiplicative noise.",
    "SpatialDropout3D": "not in shendu; use SpatialDropout1D or SpatialDropout2D.",
    "EinsumDense": "not in shendu; write the einsum in a custom layer's call with keras.ops.einsum and add_weight.",
    "GroupNormalization": "not in shendu; use LayerNormalization (one group) or BatchNormalization.",
    "RMSNormalization": "not in shendu; use LayerNormalization(center=False), or x * rsqrt(mean(x**2) + eps) * scale "
                        "in a custom layer written with keras.ops.",
    "UnitNormalization": "not in shendu; use a Lambda layer with keras.ops.normalize(x, axis=-1).",
    "SpectralNormalization": "not in shendu; rescale the kernel by its largest singular value (keras.ops.linalg.svd) "
                             "in a custom layer.",
    "GroupQueryAttention": "not in shendu; use MultiHeadAttention.",
    "Identity": "not in shendu; use Activation('linear') or Lambda(lambda x: x).",
    "Pipeline": "not in shendu; call the preprocessing layers one after another, or put them in a Sequential.",
    "ReversibleEmbedding": "not in shendu (it is KerasHub's); use Embedding and keras.ops.matmul(x, "
                           "ops.transpose(embedding.embeddings)) for the reverse projection.",
    "StackedRNNCells": "not in shendu; stack RNN layers (return_sequences=True on all but the last) instead of cells.",
    "Wrapper": "not in shendu as a base class; subclass Layer and hold the wrapped layer as an attribute.",
    "Resizing": "not in shendu; scale by an integer factor with UpSampling2D(interpolation='bilinear'), or resize "
                "the arrays before fit.",
    "average": "use the Average layer: layers.Average()([x, y]).",
    "maximum": "use the Maximum layer: layers.Maximum()([x, y]).",
    "minimum": "use the Minimum layer: layers.Minimum()([x, y]).",
    "subtract": "use the Subtract layer: layers.Subtract()([x, y]).",
    "serialize": "use keras.saving.serialize_keras_object(layer).",
    "deserialize": "use keras.saving.deserialize_keras_object(config).",
    # tf.keras 2 names
    "ThresholdedReLU": "removed in Keras 3; ReLU(threshold=theta) computes the same x if x > theta else 0.",
    **_same("locally connected layers were removed in Keras 3 and are not in shendu; use Conv1D/Conv2D (shared "
            "weights) or a Dense per position through TimeDistributed.", "LocallyConnected1D", "LocallyConnected2D"),
    "DenseFeatures": "feature columns are TensorFlow's; build one Input per feature and concatenate them.",
    "AbstractRNNCell": "subclass keras.layers.Layer with a state_size attribute and call(inputs, states), then wrap "
                       "it in keras.layers.RNN.",
    **_same("use keras.layers.LSTM / GRU: shendu has one implementation, with the same weights layout.",
            "CuDNNLSTM", "CuDNNGRU"),
    "experimental": "",        # a module: never looked up here
}
del LAYERS["experimental"]

LOSSES = {
    "Reduction": "pass the reduction as a string: reduction='sum_over_batch_size' (the default), 'sum', 'mean' "
                 "or 'none'.",
}

METRICS = {
    **_same("intersection-over-union metrics are not in shendu; compute them from keras.metrics.TruePositives/"
            "FalsePositives/FalseNegatives, or with NumPy on predict()'s output.", "BinaryIoU", "IoU", "MeanIoU",
            "OneHotIoU", "OneHotMeanIoU"),
    **_same("correlation and R² metrics are not in shendu; compute them with NumPy (np.corrcoef) on predict()'s "
            "output.", "ConcordanceCorrelation", "PearsonCorrelation", "R2Score", "concordance_correlation",
            "pearson_correlation"),
    "CosineSimilarity": "not in shendu as a metric; use keras.losses.CosineSimilarity (its negative) as a metric.",
    "binary_focal_crossentropy": "use keras.losses.binary_focal_crossentropy.",
    "categorical_focal_crossentropy": "use keras.losses.categorical_focal_crossentropy.",
    "huber": "use keras.losses.huber.",
}

OPTIMIZERS = {
    "experimental": "tf.keras 2.9-2.10's optimizers are Keras 3's: use keras.optimizers.Adam, AdamW, SGD, ...",
    **_same("not in shendu; use Adam, AdamW, RMSprop, SGD or Adagrad.", "Adafactor", "Adamax", "Ftrl", "Lamb", "Lion",
            "Muon", "ScheduleFreeAdamW"),
    "LossScaleOptimizer": "mixed precision is out of scope in shendu (float32 throughout); use the optimizer itself.",
    "MultiOptimizer": "not in shendu; train with one optimizer, or write a custom train_step that applies two.",
    "OptimizerMap": "not in shendu; train with one optimizer, or write a custom train_step that applies two.",
}

CALLBACKS = {
    "BaseLogger": "tf.keras 2 added it to every fit; shendu's fit averages the logs itself: use History or "
                  "a Callback's on_epoch_end(epoch, logs).",
    "experimental": "use the stable names in keras.callbacks.",
    "OrbaxCheckpoint": "Orbax is JAX's checkpoint library; use keras.callbacks.ModelCheckpoint.",
    "RemoteMonitor": "shendu never sends data over the network; use CSVLogger or TensorBoard.",
    "SwapEMAWeights": "not in shendu; with optimizer(use_ema=True), call optimizer.finalize_variable_values("
                      "model.trainable_variables) after fit.",
}

ACTIVATIONS = _same("not in shendu; write it with keras.ops in a function and pass that function as the "
                    "activation (e.g. activation=lambda x: x * keras.ops.tanh(keras.ops.softplus(x)) for mish).",
                    "celu", "glu", "hard_shrink", "hard_silu", "hard_swish", "hard_tanh", "log_sigmoid", "mish",
                    "soft_shrink", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink",
                    "threshold")

INITIALIZERS = _same("short-time Fourier kernels are not in shendu; build the kernel with NumPy and pass it with "
                     "keras.initializers.Constant.", "STFT", "STFTInitializer", "stft")

REGULARIZERS = _same("not in shendu; add the penalty yourself with self.add_loss(...) in a custom layer.",
                     "OrthogonalRegularizer", "orthogonal_regularizer")

MODELS = {
    "model_from_yaml": "YAML architectures were removed from Keras; use keras.models.model_from_config("
                       "model.get_config()) or model.save('m.keras').",
    "model_from_json": "JSON architectures are tf.keras 2's; save with model.save('m.keras') and load with "
                       "keras.models.load_model, or rebuild with keras.Model.from_config(model.get_config()).",
}

UTILS = {
    **_same("shendu feeds a PyDataset (keras.utils.Sequence) from the training loop itself, without worker "
            "queues; pass it to fit directly.", "SequenceEnqueuer", "OrderedEnqueuer", "GeneratorEnqueuer"),
    "FeatureSpace": "not in shendu; preprocess structured data with NumPy (normalize numbers, one-hot categories) "
                    "and feed the arrays.",
    "audio_dataset_from_directory": "audio decoding is not in shendu; read the files with the standard library "
                                    "'wave' module into arrays.",
    "bounding_boxes": "bounding-box utilities are not in shendu.",
    "split_dataset": "split the arrays with NumPy slicing, or use Dataset.take/skip.",
    "legacy": "tf.keras 2's legacy serialization is not in shendu; use keras.saving.serialize_keras_object.",
    "Config": "not in shendu; use a dict.",
    "Progbar": "not in shendu as a class; fit/evaluate/predict(verbose=1) show a progress bar, or use tqdm.",
    "disable_interactive_logging": "pass verbose=0 (or 2) to fit, evaluate and predict.",
    "enable_interactive_logging": "pass verbose=1 to fit, evaluate and predict.",
    "is_interactive_logging_enabled": "progress bars follow each call's verbose argument.",
    "get_source_inputs": "use model.inputs, or the Input tensors you built the model from.",
    "standardize_dtype": "use numpy.dtype(x).name.",
}

APPLICATIONS = _same("not in shendu; the architectures provided are VGG16, VGG19, ResNet50 and MobileNetV2.",
                     "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge", "DenseNet121",
                     "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2",
                     "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
                     "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
                     "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S", "InceptionResNetV2", "InceptionV3",
                     "MobileNet", "MobileNetV3Large", "MobileNetV3Small", "NASNetLarge", "NASNetMobile", "ResNet101",
                     "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50V2", "Xception", "convnext", "densenet",
                     "efficientnet", "efficientnet_v2", "inception_resnet_v2", "inception_v3", "mobilenet",
                     "mobilenet_v3", "nasnet", "resnet_v2", "xception")

DATASETS = _same("not in shendu's readers; load the arrays yourself (NumPy) or use mnist, fashion_mnist, cifar10, "
                 "imdb, reuters or boston_housing from the local Keras cache.", "california_housing", "cifar100")

DTYPE_POLICIES = _same("mixed-precision and quantized policies are out of scope in shendu; every layer computes in "
                       "one float type: use keras.dtype_policies.DTypePolicy('float32') or dtype='float64'.",
                       "AWQDTypePolicy", "DTypePolicyMap", "FloatDTypePolicy", "GPTQDTypePolicy", "Int4DTypePolicy",
                       "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy")
DTYPE_POLICIES.update(_same("shendu's layers take dtype='float32' (or a DTypePolicy) directly; no policy registry "
                            "is needed.", "get", "serialize", "deserialize"))

SAVING = {"KerasFileEditor": "not in shendu; open the .keras file (a zip) with zipfile and its weights with h5py."}

KERAS = {
    "mixed_precision": "mixed precision is out of scope in shendu (float32 throughout).",
    "export": "exporting to TensorFlow SavedModel or ONNX is not in shendu; save with model.save('m.keras').",
    "config": "use keras.backend.floatx()/set_floatx() and keras.backend.epsilon().",
    "tree": "not in shendu; walk nested structures with plain Python.",
    "quantizers": "quantization is out of scope in shendu.",
    "visualization": "not in shendu; plot with matplotlib (keras.utils.plot_model draws a model's graph).",
    "wrappers": "scikit-learn wrappers are not in shendu; call fit/predict from your own estimator class.",
    "distribution": "distributed training is not in shendu's keras namespace.",
}
