"""keras-io examples/nlp/text_classification_with_transformer.py, run with only the imports changed: a
TransformerBlock (MultiHeadAttention, a feed-forward Sequential, LayerNormalization, Dropout) over a
TokenAndPositionEmbedding written with keras.ops, on the review sentences instead of IMDB. Inference
equals Keras 3's from the same weights; training reaches the accuracy range of a run of Keras 3."""
import numpy as np
import pytest

from shendu import keras as shendu_keras


def transformer_classifier(keras, vocab_size, maxlen):
    layers, ops = keras.layers, keras.ops

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    embed_dim = 32
    num_heads = 2
    ff_dim = 32
    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _sequences(reviews, vocab_size, maxlen):
    train_texts, y_train, test_texts, y_val = reviews
    vectorizer = shendu_keras.layers.TextVectorization(max_tokens=vocab_size, output_sequence_length=maxlen)
    vectorizer.adapt(train_texts)
    return (vectorizer(np.array(train_texts)).numpy(), y_train, vectorizer(np.array(test_texts)).numpy(), y_val)


def test_transformer_classifier_inference_matches_keras(reviews, keras3):
    vocab_size, maxlen = 2000, 24
    x_train, y_train, x_val, y_val = _sequences(reviews, vocab_size, maxlen)
    model = transformer_classifier(shendu_keras, vocab_size, maxlen)
    reference = transformer_classifier(keras3, vocab_size, maxlen)
    assert [tuple(w.shape) for w in reference.get_weights()] == [w.shape for w in model.get_weights()]
    rng = np.random.default_rng(0)
    reference.set_weights([w + rng.normal(0, 0.05, w.shape).astype("float32") for w in reference.get_weights()])
    model.set_weights(reference.get_weights())
    np.testing.assert_allclose(model.predict(x_val[:64], verbose=0), reference.predict(x_val[:64], verbose=0),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(x_val, y_val, verbose=0), reference.evaluate(x_val, y_val, verbose=0),
                               rtol=1e-4)


@pytest.mark.slow
def test_transformer_classifier_trains_into_keras_range(reviews, keras3):
    vocab_size, maxlen = 2000, 24
    x_train, y_train, x_val, y_val = _sequences(reviews, vocab_size, maxlen)
    accuracies = []
    for keras in (keras3, shendu_keras):
        model = transformer_classifier(keras, vocab_size, maxlen)
        history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val), verbose=0)
        accuracies.append(history.history["val_accuracy"][-1])
    assert accuracies[1] > 0.65 and abs(accuracies[1] - accuracies[0]) < 0.08
