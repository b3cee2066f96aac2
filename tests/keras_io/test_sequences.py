"""keras-io programs on sequences, run with only the imports changed:

- guides/working_with_rnns.py (LSTM/GRU/SimpleRNN with return_sequences/return_state, initial_state
  passed from an encoder, Bidirectional, a custom cell wrapped in RNN; compared with Keras 3 on the
  same weights);
- examples/nlp/pretrained_word_embeddings.py (a frozen Embedding initialised from a matrix, here random
  vectors instead of GloVe, then a Conv1D/MaxPooling1D stack; trained on the review sentences);
- examples/nlp/bidirectional_lstm_imdb.py (stacked Bidirectional LSTMs on padded sequences);
- examples/nlp/addition_rnn.py (an LSTM encoder, RepeatVector, an LSTM decoder returning sequences,
  a Dense softmax over characters);
- examples/timeseries/timeseries_classification_from_scratch.py (Conv1D, BatchNormalization, ReLU,
  GlobalAveragePooling1D; callbacks ModelCheckpoint, ReduceLROnPlateau, EarlyStopping).
"""
import numpy as np
import pytest

from shendu import keras as shendu_keras


# ------------------------------------------------------------------------------ guides/working_with_rnns.py
def rnn_guide_models(keras):
    layers = keras.layers
    model = keras.Sequential()
    model.add(keras.Input(shape=(None,)))
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    model.add(layers.GRU(64, return_sequences=True))
    model.add(layers.SimpleRNN(128))
    model.add(layers.Dense(10))

    encoder_vocab, decoder_vocab = 1000, 2000
    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)
    output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)
    decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
    output = layers.Dense(10)(decoder_output)
    seq2seq = keras.Model([encoder_input, decoder_input], output)

    bidirectional = keras.Sequential()
    bidirectional.add(keras.Input(shape=(5, 10)))
    bidirectional.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True)))
    bidirectional.add(layers.Bidirectional(layers.LSTM(32)))
    bidirectional.add(layers.Dense(10))

    class MinimalRNNCell(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform",
                                          name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev_output = states[0]
            h = keras.ops.matmul(inputs, self.kernel)
            output = h + keras.ops.matmul(prev_output, self.recurrent_kernel)
            return output, [output]

    custom = keras.Sequential([keras.Input((7, 5)), layers.RNN(MinimalRNNCell(8))])
    return model, seq2seq, bidirectional, custom


def test_working_with_rnns_guide_matches_keras(keras3):
    import torch
    models = rnn_guide_models(shendu_keras)
    references = rnn_guide_models(keras3)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 1000, (3, 9)), [rng.integers(0, 1000, (3, 6)), rng.integers(0, 2000, (3, 4))],
              rng.normal(size=(3, 5, 10)).astype("float32"), rng.normal(size=(3, 7, 5)).astype("float32")]
    for model, reference, x in zip(models, references, inputs):
        assert [tuple(w.shape) for w in reference.get_weights()] == [w.shape for w in model.get_weights()]
        reference.set_weights([w + rng.normal(0, 0.05, w.shape).astype("float32")
                               for w in reference.get_weights()])
        model.set_weights(reference.get_weights())
        np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0),
                                   rtol=1e-4, atol=1e-5)
    lstm = shendu_keras.layers.LSTM(4, return_sequences=True, return_state=True)
    whole_seq_output, final_memory_state, final_carry_state = lstm(rng.normal(size=(2, 3, 5)).astype("float32"))
    assert (tuple(whole_seq_output.shape), tuple(final_memory_state.shape),
            tuple(final_carry_state.shape)) == ((2, 3, 4), (2, 4), (2, 4))
    assert torch is not None


# ------------------------------------------------------------------------ examples/nlp/pretrained_word_embeddings.py
def test_pretrained_word_embeddings_with_random_vectors(reviews):
    keras = shendu_keras
    layers = keras.layers
    train_samples, train_labels, val_samples, val_labels = reviews
    vectorizer = layers.TextVectorization(max_tokens=2000, output_sequence_length=30)
    vectorizer.adapt(train_samples)
    voc = vectorizer.get_vocabulary()
    assert voc[:2] == ["", "[UNK]"]
    word_index = dict(zip(voc, range(len(voc))))
    assert vectorizer([["the cat sat on the mat"]]).numpy()[0, :6].tolist() == \
        [word_index.get(w, 1) for w in "the cat sat on the mat".split()]

    # the example reads GloVe vectors; random ones (fixed per word) keep the program's shape and flow
    rng = np.random.default_rng(0)
    embeddings_index = {word: rng.normal(size=100).astype("float32") for word in voc[2:1500]}
    num_tokens = len(voc) + 2
    embedding_dim = 100
    hits = misses = 0
    embedding_matrix = np.zeros((num_tokens, embedding_dim))
    for word, i in word_index.items():
        embedding_vector = embeddings_index.get(word)
        if embedding_vector is not None:
            embedding_matrix[i] = embedding_vector
            hits += 1
        else:
            misses += 1
    embedding_layer = layers.Embedding(num_tokens, embedding_dim, trainable=False)
    embedding_layer.build((1,))
    embedding_layer.set_weights([embedding_matrix])

    int_sequences_input = keras.Input(shape=(None,), dtype="int32")
    embedded_sequences = embedding_layer(int_sequences_input)
    x = layers.Conv1D(64, 5, activation="relu")(embedded_sequences)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(64, 3, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    preds = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(int_sequences_input, preds)

    x_train = vectorizer(np.array([[s] for s in train_samples])).numpy()
    x_val = vectorizer(np.array([[s] for s in val_samples])).numpy()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    history = model.fit(x_train, train_labels, batch_size=128, epochs=4, validation_data=(x_val, val_labels),
                        verbose=0).history
    assert hits == 1498 and misses == len(voc) - 1498
    np.testing.assert_array_equal(embedding_layer.get_weights()[0], embedding_matrix.astype("float32"))
    assert history["loss"][-1] < history["loss"][0] and history["acc"][-1] > 0.7
    assert history["val_acc"][-1] > 0.6          # chance is 0.5; the frozen random vectors carry word identity

    string_input = keras.Input(shape=(1,), dtype="string")
    end_to_end_model = keras.Model(string_input, model(vectorizer(string_input)))
    probabilities = end_to_end_model.predict(np.array([["this message is about computer graphics and 3D modeling"]]),
                                             verbose=0)
    assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 1e-5


# ---------------------------------------------------------------------------- examples/nlp/bidirectional_lstm_imdb.py
@pytest.mark.slow
def test_bidirectional_lstm_on_reviews(reviews):
    keras = shendu_keras
    layers = keras.layers
    max_features = 2000
    maxlen = 20
    train_texts, y_train, test_texts, y_val = reviews
    train_texts, y_train = train_texts[:1000], y_train[:1000]        # a smaller corpus than IMDB's
    tokenizer = layers.TextVectorization(max_tokens=max_features, output_mode="int")
    tokenizer.adapt(train_texts)
    x_train = [row[row > 0] for row in tokenizer(np.array(train_texts)).numpy()]
    x_val = [row[row > 0] for row in tokenizer(np.array(test_texts)).numpy()]

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(max_features, 128)(inputs)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(64))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=3, validation_data=(x_val, y_val), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.6          # chance is 0.5


# ------------------------------------------------------------------------------------ examples/nlp/addition_rnn.py
def addition_rnn(keras, training_size, epochs):
    layers = keras.layers

    class CharacterTable:
        def __init__(self, chars):
            self.chars = sorted(set(chars))
            self.char_indices = dict((c, i) for i, c in enumerate(self.chars))
            self.indices_char = dict((i, c) for i, c in enumerate(self.chars))

        def encode(self, C, num_rows):
            x = np.zeros((num_rows, len(self.chars)))
            for i, c in enumerate(C):
                x[i, self.char_indices[c]] = 1
            return x

        def decode(self, x, calc_argmax=True):
            if calc_argmax:
                x = x.argmax(axis=-1)
            return "".join(self.indices_char[x] for x in x)

    DIGITS = 2
    REVERSE = True
    MAXLEN = DIGITS + 1 + DIGITS
    chars = "0123456789+ "
    ctable = CharacterTable(chars)
    rng = np.random.default_rng(0)
    questions, expected, seen = [], [], set()
    while len(questions) < training_size:
        def f():
            return int("".join(str(d) for d in rng.choice(list("0123456789"), int(rng.integers(1, DIGITS + 1)))))
        a, b = f(), f()
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        q = "{}+{}".format(a, b)
        query = q + " " * (MAXLEN - len(q))
        ans = str(a + b)
        ans += " " * (DIGITS + 1 - len(ans))
        if REVERSE:
            query = query[::-1]
        questions.append(query)
        expected.append(ans)
    x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
    y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
    for i, sentence in enumerate(questions):
        x[i] = ctable.encode(sentence, MAXLEN)
    for i, sentence in enumerate(expected):
        y[i] = ctable.encode(sentence, DIGITS + 1)
    split_at = len(x) - len(x) // 10
    (x_train, x_val), (y_train, y_val) = (x[:split_at], x[split_at:]), (y[:split_at], y[split_at:])

    num_layers = 1
    model = keras.Sequential()
    model.add(layers.Input((MAXLEN, len(chars))))
    model.add(layers.LSTM(128))
    model.add(layers.RepeatVector(DIGITS + 1))
    for _ in range(num_layers):
        model.add(layers.LSTM(128, return_sequences=True))
    model.add(layers.Dense(len(chars), activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model, (x_train, y_train, x_val, y_val), ctable


def test_addition_rnn_matches_keras(keras3):
    model, (x_train, y_train, x_val, y_val), ctable = addition_rnn(shendu_keras, 600, 2)
    reference, _, _ = addition_rnn(keras3, 600, 2)
    model.set_weights(reference.get_weights())
    kwargs = dict(batch_size=32, epochs=2, validation_data=(x_val, y_val), shuffle=False, verbose=0)
    history = model.fit(x_train, y_train, **kwargs).history
    ref_history = reference.fit(x_train, y_train, **kwargs).history
    for key in ref_history:
        np.testing.assert_allclose(history[key], ref_history[key], rtol=3e-3, atol=2e-3, err_msg=key)
    preds = np.argmax(model.predict(x_val[:5], verbose=0), axis=-1)
    assert all(len(ctable.decode(p, calc_argmax=False)) == 3 for p in preds)


# ------------------------------------------------ examples/timeseries/timeseries_classification_from_scratch.py
def make_model(keras, input_shape, num_classes):
    layers = keras.layers
    input_layer = keras.layers.Input(input_shape)
    conv1 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)
    conv2 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)
    conv3 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)
    gap = keras.layers.GlobalAveragePooling1D()(conv3)
    output_layer = layers.Dense(num_classes, activation="softmax")(gap)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


def test_timeseries_classification_from_scratch_matches_keras(keras3, tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 100)
    y = rng.integers(0, 2, 160)
    x = np.sin(2 * np.pi * (3 + 4 * y[:, None]) * t) + 0.5 * rng.normal(size=(160, 100))
    x_train = x.reshape((x.shape[0], x.shape[1], 1)).astype("float32")
    num_classes = len(np.unique(y))
    results = []
    for keras in (keras3, shendu_keras):
        model = make_model(keras, input_shape=x_train.shape[1:], num_classes=num_classes)
        start = results[0][1] if results else [w.copy() for w in model.get_weights()]
        model.set_weights(start)
        callbacks = [
            keras.callbacks.ModelCheckpoint(str(tmp_path / f"best_model_{len(results)}.keras"), save_best_only=True,
                                            monitor="val_loss"),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=20, min_lr=0.0001),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, verbose=0),
        ]
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        history = model.fit(x_train, y, batch_size=32, epochs=3, callbacks=callbacks, validation_split=0.2,
                            shuffle=False, verbose=0)
        results.append((model, start, history.history))
    for key in results[0][2]:
        # an accuracy may differ by one borderline sample of the 32 validation series
        atol = 1 / 32 + 1e-6 if key.endswith("accuracy") else 1e-4
        np.testing.assert_allclose(results[1][2][key], results[0][2][key], rtol=5e-3, atol=atol, err_msg=key)
    best = shendu_keras.models.load_model(tmp_path / "best_model_1.keras")
    assert best.evaluate(x_train, y, verbose=0)[1] > 0.5
