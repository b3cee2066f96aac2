"""The drop-in promise, tested with the programs tutorials contain.

Each test is a short program written the way tf.keras 2 tutorials (many of them Chinese ones) write
it. Only the import lines differ from the tutorial (``tensorflow.keras`` -> ``shendu.keras``,
``import tensorflow as tf`` -> ``import shendu as tf``); the data is small local or synthetic data
and the epochs are few, so each program runs in seconds. Each asserts that it runs and learns.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seeded(tmp_path, monkeypatch):
    np.random.seed(0)
    monkeypatch.chdir(tmp_path)          # model.save('x.keras') and checkpoints land in a scratch folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # lr=, decay=: the tf.keras 2 spellings
        yield


def _mnist(n):
    from shendu.data.datasets import load_mnist_test
    x, y = load_mnist_test()
    return x[:n], y[:n]


def _reviews(n):
    from shendu.data.datasets import load_sentiment
    texts, labels = load_sentiment()
    order = np.random.default_rng(0).permutation(len(texts))[:n]
    return [texts[i] for i in order], labels[order]


# ---------------------------------------------------------------------------------------- 1 perceptron
def test_perceptron_logistic_regression():
    from shendu.keras.models import Sequential          # was: from tensorflow.keras.models import Sequential
    from shendu.keras.layers import Dense
    from shendu.keras.optimizers import SGD

    # two clouds of points, labelled by which side of a line they are on
    X = np.random.randn(200, 2)
    y = (X[:, 0] + 2 * X[:, 1] > 0).astype(int)

    model = Sequential()
    model.add(Dense(1, input_dim=2, activation='sigmoid'))
    model.compile(optimizer=SGD(lr=0.1), loss='binary_crossentropy', metrics=['accuracy'])
    history = model.fit(X, y, epochs=20, batch_size=10, verbose=0)

    loss, acc = model.evaluate(X, y, verbose=0)
    print('loss: %.4f, accuracy: %.2f%%' % (loss, acc * 100))
    weights, bias = model.layers[0].get_weights()
    print('w =', weights.ravel(), 'b =', bias)
    y_pred = (model.predict(X) > 0.5).astype("int32")

    assert history.history['loss'][-1] < history.history['loss'][0]
    assert acc > 0.9
    assert weights.shape == (2, 1) and bias.shape == (1,)
    assert weights[1, 0] > weights[0, 0] > 0          # the line x0 + 2 x1 = 0 was found
    assert (y_pred.ravel() == y).mean() > 0.9


# ---------------------------------------------------------------------------------------- 2 iris MLP
def test_iris_mlp_with_one_hot_labels_and_history_plot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from shendu.keras.models import Sequential
    from shendu.keras.layers import Dense
    from shendu.keras.utils import to_categorical

    iris = load_iris()
    X, y = iris.data, iris.target
    X = StandardScaler().fit_transform(X)
    y = to_categorical(y)                                  # 3 classes -> one-hot
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

    model = Sequential()
    model.add(Dense(16, input_shape=(4,), activation='relu'))
    model.add(Dense(16, activation='relu'))
    model.add(Dense(3, activation='softmax'))
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(X_train, y_train, epochs=40, batch_size=8, validation_split=0.2, verbose=2)

    plt.figure(figsize=(12, 4))
    plt.subplot(1, 2, 1)
    plt.plot(history.history['accuracy'], label='train')
    plt.plot(history.history['val_accuracy'], label='validation')
    plt.title('accuracy'); plt.xlabel('epoch'); plt.legend()
    plt.subplot(1, 2, 2)
    plt.plot(history.history['loss'], label='train')
    plt.plot(history.history['val_loss'], label='validation')
    plt.title('loss'); plt.legend()
    plt.savefig('history.png')
    plt.close()

    loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
    y_pred = np.argmax(model.predict(X_test), axis=1)
    print('Test accuracy:', accuracy)

    assert sorted(history.history) == ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    assert len(history.history['loss']) == 40 and history.epoch[-1] == 39
    assert history.params['epochs'] == 40
    assert history.history['loss'][-1] < history.history['loss'][0] / 2
    assert accuracy > 0.85
    assert (y_pred == y_test.argmax(axis=1)).mean() == pytest.approx(accuracy)
    assert os.path.getsize('history.png') > 0


# ---------------------------------------------------------------------------------------- 3 MNIST CNN
def test_mnist_cnn_summary_evaluate_predict_save_load(capsys):
    from shendu import keras                             # was: from tensorflow import keras
    from shendu.keras.models import Sequential, load_model
    from shendu.keras.layers import Conv2D, MaxPooling2D, Dropout, Flatten, Dense

    images, labels = _mnist(3500)
    x_train, y_train, x_test, y_test = images[:3000], labels[:3000], images[3000:], labels[3000:]
    num_classes = 10
    input_shape = (28, 28, 1)
    x_train = x_train.reshape(x_train.shape[0], 28, 28, 1).astype('float32') / 255
    x_test = x_test.reshape(x_test.shape[0], 28, 28, 1).astype('float32') / 255
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = Sequential()
    model.add(Conv2D(16, kernel_size=(3, 3), activation='relu', input_shape=input_shape))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(64, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(num_classes, activation='softmax'))
    model.summary()
    model.compile(loss=keras.losses.categorical_crossentropy, optimizer=keras.optimizers.Adam(),
                  metrics=['accuracy'])
    model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=1, validation_data=(x_test, y_test))

    score = model.evaluate(x_test, y_test, verbose=0)
    print('Test loss:', score[0])
    print('Test accuracy:', score[1])
    predicted = model.predict(x_test).argmax(axis=1)

    model.save('mnist_cnn.keras')
    restored = load_model('mnist_cnn.keras')
    out = capsys.readouterr().out

    assert 'Total params' in out and 'conv2d' in out and 'Epoch 3/3' in out
    assert score[1] > 0.85
    assert (predicted == y_test.argmax(axis=1)).mean() == pytest.approx(score[1])
    np.testing.assert_allclose(restored.predict(x_test[:20]), model.predict(x_test[:20]), rtol=1e-5, atol=1e-6)
    assert restored.evaluate(x_test, y_test, verbose=0)[1] == pytest.approx(score[1])


def test_tensorflow_quickstarts_for_beginners_and_experts():
    import shendu as tf                                  # was: import tensorflow as tf

    images, labels = _mnist(2500)
    x_train, y_train, x_test, y_test = images[:2000] / 255.0, labels[:2000], images[2000:] / 255.0, labels[2000:]

    # beginners: logits, tf.nn.softmax, a from_logits loss, a probability model stacked on top
    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(input_shape=(28, 28)),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(10)
    ])
    predictions = model(x_train[:1]).numpy()
    probabilities = tf.nn.softmax(predictions).numpy()
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    initial_loss = loss_fn(y_train[:1], predictions).numpy()
    model.compile(optimizer='adam', loss=loss_fn, metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=3, verbose=0)
    test_loss, test_acc = model.evaluate(x_test, y_test, verbose=2)
    probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])

    assert probabilities.shape == (1, 10) and probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert 1.0 < float(initial_loss) < 4.0                # about log(10) before training
    assert test_acc > 0.85
    assert probability_model(x_test[:5]).numpy().sum(axis=1) == pytest.approx(np.ones(5), abs=1e-5)

    # experts: a subclassed model, a custom step under @tf.function, metric objects
    class MyModel(tf.keras.Model):
        def __init__(self):
            super(MyModel, self).__init__()
            self.conv1 = tf.keras.layers.Conv2D(8, 3, activation='relu')
            self.flatten = tf.keras.layers.Flatten()
            self.d1 = tf.keras.layers.Dense(32, activation=tf.nn.relu)
            self.d2 = tf.keras.layers.Dense(10)

        def call(self, x):
            x = self.conv1(x)
            x = self.flatten(x)
            x = self.d1(x)
            return self.d2(x)

    model = MyModel()
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.Adam()
    train_loss = tf.keras.metrics.Mean(name='train_loss')
    train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name='train_accuracy')

    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            loss = loss_object(labels, predictions)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_loss(loss)
        train_accuracy(labels, predictions)

    x_train = x_train[..., tf.newaxis].astype("float32")
    results = []
    for epoch in range(2):
        train_loss.reset_states()
        train_accuracy.reset_states()
        for i in range(0, 1024, 32):
            train_step(x_train[i:i + 32], y_train[i:i + 32])
        print(f'Epoch {epoch + 1}, Loss: {train_loss.result()}, Accuracy: {train_accuracy.result() * 100}')
        results.append((float(train_loss.result()), float(train_accuracy.result())))

    assert results[1][0] < results[0][0] and results[1][1] > 0.75


def test_data_generator_sequence_with_fit_generator():
    from shendu import keras                             # was: from tensorflow import keras
    from shendu.keras.models import Sequential
    from shendu.keras.layers import Dense, Flatten

    # "A detailed example of how to use data generators with Keras": samples are read by ID, batch by batch
    store = {f'id-{i}': np.random.randn(4, 4) for i in range(200)}
    labels = {k: int(v.sum() > 0) for k, v in store.items()}
    partition = {'train': list(store)[:160], 'validation': list(store)[160:]}

    class DataGenerator(keras.utils.Sequence):
        'Generates data for Keras'
        def __init__(self, list_IDs, labels, batch_size=32, dim=(4, 4), n_classes=2, shuffle=True):
            'Initialization'
            self.dim = dim
            self.batch_size = batch_size
            self.labels = labels
            self.list_IDs = list_IDs
            self.n_classes = n_classes
            self.shuffle = shuffle
            self.on_epoch_end()

        def __len__(self):
            'Denotes the number of batches per epoch'
            return int(np.floor(len(self.list_IDs) / self.batch_size))

        def __getitem__(self, index):
            'Generate one batch of data'
            indexes = self.indexes[index * self.batch_size:(index + 1) * self.batch_size]
            list_IDs_temp = [self.list_IDs[k] for k in indexes]
            X, y = self.__data_generation(list_IDs_temp)
            return X, y

        def on_epoch_end(self):
            'Updates indexes after each epoch'
            self.indexes = np.arange(len(self.list_IDs))
            if self.shuffle == True:
                np.random.shuffle(self.indexes)

        def __data_generation(self, list_IDs_temp):
            'Generates data containing batch_size samples'
            X = np.empty((self.batch_size, *self.dim))
            y = np.empty((self.batch_size), dtype=int)
            for i, ID in enumerate(list_IDs_temp):
                X[i, ] = store[ID]                        # was: np.load('data/' + ID + '.npy')
                y[i] = self.labels[ID]
            return X, keras.utils.to_categorical(y, num_classes=self.n_classes)

    params = {'dim': (4, 4), 'batch_size': 16, 'n_classes': 2, 'shuffle': True}
    training_generator = DataGenerator(partition['train'], labels, **params)
    validation_generator = DataGenerator(partition['validation'], labels, **params)

    model = Sequential([Flatten(input_shape=(4, 4)), Dense(16, activation='relu'), Dense(2, activation='softmax')])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss='categorical_crossentropy', metrics=['accuracy'])
    history = model.fit_generator(generator=training_generator, validation_data=validation_generator,
                                  epochs=15, use_multiprocessing=True, workers=6, verbose=0)
    again = model.fit(training_generator, epochs=1, workers=2, use_multiprocessing=False, verbose=0)
    loss, acc = model.evaluate_generator(validation_generator)
    predicted = model.predict_generator(validation_generator)

    assert len(history.history['loss']) == 15 and 'val_accuracy' in history.history
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert history.history['accuracy'][-1] > 0.85 and again.history['accuracy'][0] > 0.85
    assert acc > 0.7 and predicted.shape == (32, 2)


# ---------------------------------------------------------------------------------------- 4 autoencoder
def test_functional_autoencoder_with_separate_encoder_and_decoder():
    from shendu.keras.layers import Input, Dense
    from shendu.keras.models import Model

    images, _ = _mnist(1200)
    x = images.astype('float32') / 255.
    x = x.reshape((len(x), np.prod(x.shape[1:])))
    x_train, x_test = x[:1000], x[1000:]

    encoding_dim = 32                                   # 784 floats -> 32 floats
    input_img = Input(shape=(784,))
    encoded = Dense(encoding_dim, activation='relu')(input_img)
    decoded = Dense(784, activation='sigmoid')(encoded)
    autoencoder = Model(input_img, decoded)

    encoder = Model(input_img, encoded)                 # shares the first Dense with the autoencoder
    encoded_input = Input(shape=(encoding_dim,))
    decoder_layer = autoencoder.layers[-1]
    decoder = Model(encoded_input, decoder_layer(encoded_input))

    autoencoder.compile(optimizer='adam', loss='binary_crossentropy')
    history = autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, shuffle=True,
                              validation_data=(x_test, x_test), verbose=0)

    encoded_imgs = encoder.predict(x_test)
    decoded_imgs = decoder.predict(encoded_imgs)

    assert encoded_imgs.shape == (200, 32) and decoded_imgs.shape == (200, 784)
    assert history.history['val_loss'][-1] < history.history['val_loss'][0]
    np.testing.assert_allclose(decoded_imgs, autoencoder.predict(x_test), rtol=1e-4, atol=1e-5)
    assert encoder.layers[1] is autoencoder.layers[1]
    assert np.mean((decoded_imgs - x_test) ** 2) < np.mean((x_test.mean() - x_test) ** 2)


# ---------------------------------------------------------------------------------------- 5 GANs
def test_dcgan_classic_recipe_with_train_on_batch():
    from shendu.keras.models import Sequential
    from shendu.keras.layers import (Dense, Reshape, Flatten, Dropout, Conv2D, Conv2DTranspose,
                                     BatchNormalization, LeakyReLU)
    from shendu.keras.optimizers import Adam

    images, _ = _mnist(256)
    X_train = (images.astype(np.float32) - 127.5) / 127.5   # scale to [-1, 1] for tanh
    X_train = np.expand_dims(X_train, axis=3)
    latent_dim = 32

    def build_generator():
        model = Sequential()
        model.add(Dense(8 * 7 * 7, input_dim=latent_dim))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Reshape((7, 7, 8)))
        model.add(Conv2DTranspose(8, (4, 4), strides=(2, 2), padding='same'))
        model.add(BatchNormalization(momentum=0.8))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Conv2DTranspose(8, (4, 4), strides=(2, 2), padding='same'))
        model.add(BatchNormalization(momentum=0.8))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Conv2D(1, (3, 3), activation='tanh', padding='same'))
        return model

    def build_discriminator():
        model = Sequential()
        model.add(Conv2D(16, (3, 3), strides=(2, 2), padding='same', input_shape=(28, 28, 1)))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Dropout(0.4))
        model.add(Conv2D(16, (3, 3), strides=(2, 2), padding='same'))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Dropout(0.4))
        model.add(Flatten())
        model.add(Dense(1, activation='sigmoid'))
        return model

    discriminator = build_discriminator()
    discriminator.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5), metrics=['accuracy'])
    generator = build_generator()

    discriminator.trainable = False                      # only the generator learns in the combined model
    combined = Sequential([generator, discriminator])
    combined.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5))

    batch_size = 32
    half_batch = batch_size // 2
    d_history, g_history = [], []
    for epoch in range(30):
        idx = np.random.randint(0, X_train.shape[0], half_batch)
        imgs = X_train[idx]
        noise = np.random.normal(0, 1, (half_batch, latent_dim))
        gen_imgs = generator.predict(noise, verbose=0)
        d_loss_real = discriminator.train_on_batch(imgs, np.ones((half_batch, 1)))
        d_loss_fake = discriminator.train_on_batch(gen_imgs, np.zeros((half_batch, 1)))
        d_loss = 0.5 * np.add(d_loss_real, d_loss_fake)

        noise = np.random.normal(0, 1, (batch_size, latent_dim))
        d_before = [w.copy() for w in discriminator.get_weights()]
        g_before = [w.copy() for w in generator.get_weights()]
        g_loss = combined.train_on_batch(noise, np.ones((batch_size, 1)))
        d_history.append(d_loss)
        g_history.append(g_loss)
        if epoch % 10 == 0:
            print("%d [D loss: %f, acc.: %.2f%%] [G loss: %f]" % (epoch, d_loss[0], 100 * d_loss[1], g_loss))

    # the combined step moved the generator and left the frozen discriminator alone
    assert all(np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))
    d_history = np.array(d_history)
    assert np.all(np.isfinite(d_history)) and np.all(np.isfinite(g_history))
    print('D accuracy, last 10 steps:', d_history[-10:, 1].mean())
    real_score = discriminator.predict(X_train[:64], verbose=0).mean()
    fake_score = discriminator.predict(generator.predict(np.random.normal(0, 1, (64, latent_dim)), verbose=0)).mean()
    print('D(real) = %.3f, D(G(z)) = %.3f' % (real_score, fake_score))
    assert real_score > fake_score                        # the discriminator learned to tell real from fake
    assert generator.predict(np.random.normal(0, 1, (4, latent_dim)), verbose=0).shape == (4, 28, 28, 1)


def test_dcgan_tensorflow_tutorial_custom_loop_with_two_tapes():
    import shendu as tf                                  # was: import tensorflow as tf
    from shendu.keras import layers                      # was: from tensorflow.keras import layers

    images, _ = _mnist(256)
    train_images = images.reshape(images.shape[0], 28, 28, 1).astype('float32')
    train_images = (train_images - 127.5) / 127.5
    BATCH_SIZE = 32
    noise_dim = 16

    def make_generator_model():
        model = tf.keras.Sequential()
        model.add(layers.Dense(7 * 7 * 16, use_bias=False, input_shape=(noise_dim,)))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Reshape((7, 7, 16)))
        assert model.output_shape == (None, 7, 7, 16)  # Note: None is the batch size
        model.add(layers.Conv2DTranspose(8, (5, 5), strides=(1, 1), padding='same', use_bias=False))
        assert model.output_shape == (None, 7, 7, 8)
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Conv2DTranspose(8, (5, 5), strides=(2, 2), padding='same', use_bias=False))
        assert model.output_shape == (None, 14, 14, 8)
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding='same', use_bias=False, activation='tanh'))
        assert model.output_shape == (None, 28, 28, 1)
        return model

    def make_discriminator_model():
        model = tf.keras.Sequential()
        model.add(layers.Conv2D(16, (5, 5), strides=(2, 2), padding='same', input_shape=[28, 28, 1]))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))
        model.add(layers.Conv2D(32, (5, 5), strides=(2, 2), padding='same'))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))
        model.add(layers.Flatten())
        model.add(layers.Dense(1))
        return model

    generator = make_generator_model()
    discriminator = make_discriminator_model()
    noise = tf.random.normal([1, noise_dim])
    generated_image = generator(noise, training=False)
    decision = discriminator(generated_image)
    assert generated_image.shape == (1, 28, 28, 1) and decision.shape == (1, 1)

    # This method returns a helper function to compute cross entropy loss
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        total_loss = real_loss + fake_loss
        return total_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    generator_optimizer = tf.keras.optimizers.Adam(1e-3)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-3)

    # Notice the use of `tf.function`: this annotation causes the function to be "compiled".
    @tf.function
    def train_step(images):
        noise = tf.random.normal([BATCH_SIZE, noise_dim])

        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)

            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)

            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)

        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)

        generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator, discriminator.trainable_variables))
        return gen_loss, disc_loss

    g_before = [w.copy() for w in generator.get_weights()]
    losses = []
    for epoch in range(3):
        for start in range(0, len(train_images), BATCH_SIZE):
            gen_loss, disc_loss = train_step(train_images[start:start + BATCH_SIZE])
            losses.append((float(gen_loss), float(disc_loss)))

    losses = np.array(losses)
    assert np.all(np.isfinite(losses))
    assert losses[-4:, 1].mean() < losses[:2, 1].mean()   # the discriminator's loss fell from log 4
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))


# ---------------------------------------------------------------------------------------- 6 text
def test_text_classifier_tokenizer_pad_sequences_embedding_lstm():
    from shendu.keras.preprocessing.text import Tokenizer
    from shendu.keras.preprocessing.sequence import pad_sequences
    from shendu.keras.models import Sequential
    from shendu.keras.layers import Embedding, LSTM, Dense

    sentences, labels = _reviews(1000)
    vocab_size, embedding_dim, max_length = 2000, 16, 20
    training_size = 800

    tokenizer = Tokenizer(num_words=vocab_size, oov_token="<OOV>")
    tokenizer.fit_on_texts(sentences[:training_size])
    word_index = tokenizer.word_index
    sequences = tokenizer.texts_to_sequences(sentences)
    padded = pad_sequences(sequences, maxlen=max_length, padding='post', truncating='post')
    training_padded, testing_padded = padded[:training_size], padded[training_size:]
    training_labels, testing_labels = np.array(labels[:training_size]), np.array(labels[training_size:])

    model = Sequential([
        Embedding(vocab_size, embedding_dim, input_length=max_length),
        LSTM(32),
        Dense(24, activation='relu'),
        Dense(1, activation='sigmoid')
    ])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    model.summary()
    history = model.fit(training_padded, training_labels, epochs=6, batch_size=32,
                        validation_data=(testing_padded, testing_labels), verbose=2)

    new = ["I love this phone, it is great", "this was the worst movie, a total waste of time"]
    new_padded = pad_sequences(tokenizer.texts_to_sequences(new), maxlen=max_length, padding='post',
                               truncating='post')

    assert word_index["<OOV>"] == 1
    assert history.history['accuracy'][-1] > 0.85
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert history.history['val_accuracy'][-1] > 0.6
    assert model.predict(new_padded).shape == (2, 1)


def test_text_classifier_bidirectional_gru_global_max_pooling():
    from shendu import keras
    from shendu.keras import layers
    from shendu.keras.preprocessing.text import Tokenizer
    from shendu.keras.preprocessing.sequence import pad_sequences

    keras.backend.clear_session()
    texts, labels = _reviews(800)
    maxlen = 20
    tokenizer = Tokenizer(num_words=1500)
    tokenizer.fit_on_texts(texts)
    x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=maxlen)
    y = np.asarray(labels)

    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1500, output_dim=16, input_length=maxlen))
    model.add(layers.Bidirectional(layers.GRU(16, return_sequences=True)))
    model.add(layers.GlobalMaxPooling1D())
    model.add(layers.Dense(1, activation='sigmoid'))
    model.compile(optimizer=keras.optimizers.RMSprop(lr=0.005), loss='binary_crossentropy', metrics=['acc'])
    history = model.fit(x, y, epochs=4, batch_size=32, validation_split=0.2, verbose=2)

    assert model.layers[0].name == 'embedding'           # clear_session restarted the name counters
    assert model.output_shape == (None, 1)
    assert history.history['acc'][-1] > 0.8
    assert history.history['loss'][-1] < history.history['loss'][0]


# ---------------------------------------------------------------------------------------- 7 sequences
def test_simple_rnn_predicts_a_sine_wave():
    from shendu.keras.models import Sequential
    from shendu.keras.layers import SimpleRNN, Dense

    t = np.arange(0, 60, 0.1)
    data = np.sin(t)

    def create_dataset(data, look_back=10):
        X, Y = [], []
        for i in range(len(data) - look_back):
            X.append(data[i:(i + look_back)])
            Y.append(data[i + look_back])
        return np.array(X), np.array(Y)

    look_back = 10
    X, Y = create_dataset(data, look_back)
    X = np.reshape(X, (X.shape[0], X.shape[1], 1))     # [samples, time steps, features]
    train_size = int(len(X) * 0.8)
    X_train, X_test, Y_train, Y_test = X[:train_size], X[train_size:], Y[:train_size], Y[train_size:]

    model = Sequential()
    model.add(SimpleRNN(32, input_shape=(look_back, 1), return_sequences=False))
    model.add(Dense(1))
    model.compile(loss='mean_squared_error', optimizer='adam')
    history = model.fit(X_train, Y_train, epochs=15, batch_size=16, verbose=0)

    test_predict = model.predict(X_test)
    mse = np.mean((test_predict.ravel() - Y_test) ** 2)
    print('Test MSE: %.5f' % mse)

    assert test_predict.shape == (len(X_test), 1)
    assert history.history['loss'][-1] < history.history['loss'][0] / 5
    assert mse < 0.02


def test_lstm_many_to_many_with_time_distributed_dense():
    from shendu.keras.models import Sequential
    from shendu.keras.layers import LSTM, Dense, TimeDistributed

    # each output step is the running mean of the inputs so far
    n, timesteps = 1000, 8
    X = np.random.rand(n, timesteps, 1)
    y = np.cumsum(X, axis=1) / np.arange(1, timesteps + 1)[None, :, None]

    model = Sequential()
    model.add(LSTM(32, input_shape=(timesteps, 1), return_sequences=True))
    model.add(TimeDistributed(Dense(1)))
    model.compile(loss='mse', optimizer='adam')
    print(model.summary())
    history = model.fit(X, y, epochs=20, batch_size=32, verbose=0)
    y_hat = model.predict(X[:5])

    assert model.output_shape == (None, timesteps, 1)
    assert y_hat.shape == (5, timesteps, 1)
    assert history.history['loss'][-1] < history.history['loss'][0] / 5
    assert history.history['loss'][-1] < 0.25 * y.var()      # far better than predicting the average


# ---------------------------------------------------------------------------------------- 8 subclassing
def test_custom_layer_subclass_and_subclassed_model():
    import shendu as tf                                  # was: import tensorflow as tf
    from shendu import keras                             # was: from tensorflow import keras

    class MyDense(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super(MyDense, self).__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(name='w', shape=(input_shape[-1], self.units),
                                     initializer='random_normal', trainable=True)
            self.b = self.add_weight(name='b', shape=(self.units,), initializer='zeros', trainable=True)
            super(MyDense, self).build(input_shape)

        def call(self, inputs):
            return tf.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super(MyDense, self).get_config()
            config.update({'units': self.units})
            return config

    class MyModel(keras.Model):
        def __init__(self, num_classes=3):
            super(MyModel, self).__init__(name='my_model')
            self.dense_1 = MyDense(32)
            self.dense_2 = keras.layers.Dense(num_classes, activation='softmax')

        def call(self, inputs):
            x = self.dense_1(inputs)
            x = tf.nn.relu(x)
            return self.dense_2(x)

    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(300, 8)).astype('float32')
    y_train = (x_train[:, 0] > 0).astype(int) + (x_train[:, 1] > 0.5).astype(int)

    model = MyModel(num_classes=3)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=0)

    layer = MyDense(4)
    out = layer(np.ones((2, 8), dtype='float32'))

    assert out.shape == (2, 4) and len(layer.trainable_weights) == 2
    assert len(model.trainable_weights) == 4
    assert layer.get_config()['units'] == 4
    assert history.history['accuracy'][-1] > 0.9
    assert model.predict(x_train[:3]).shape == (3, 3)


# ---------------------------------------------------------------------------------------- 9 callbacks
def test_early_stopping_checkpoint_and_reduce_lr_in_one_fit():
    from shendu import keras
    from shendu.keras.models import Sequential, load_model
    from shendu.keras.layers import Dense
    from shendu.keras.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
    from shendu.keras import backend as K

    # few noisy samples and a big network: the validation loss bottoms out, then rises
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 10)).astype('float32')
    y = ((x[:, 0] + rng.normal(scale=1.0, size=60)) > 0).astype('float32')

    model = Sequential([Dense(128, activation='relu', input_shape=(10,)), Dense(128, activation='relu'),
                        Dense(1, activation='sigmoid')])
    model.compile(optimizer=keras.optimizers.Adam(lr=0.01), loss='binary_crossentropy', metrics=['accuracy'])

    callbacks = [
        EarlyStopping(monitor='val_loss', patience=6, restore_best_weights=True, verbose=1),
        ModelCheckpoint('best_model.keras', monitor='val_loss', save_best_only=True, verbose=1),
        ReduceLROnPlateau(monitor='val_loss', factor=0.5, patience=2, min_lr=1e-4, verbose=1),
    ]
    history = model.fit(x, y, epochs=200, batch_size=16, validation_split=0.3, callbacks=callbacks, verbose=0)

    stopped_after = len(history.history['loss'])
    best = min(history.history['val_loss'])
    val = history.history['val_loss']
    print('stopped after', stopped_after, 'epochs; lr =', K.get_value(model.optimizer.lr))

    assert stopped_after < 200 and callbacks[0].stopped_epoch > 0
    assert 'lr' in history.history or 'learning_rate' in history.history
    assert K.get_value(model.optimizer.lr) < 0.01             # the plateau halved the learning rate
    x_val, y_val = x[42:], y[42:]                          # validation_split takes the last 30%
    assert model.evaluate(x_val, y_val, verbose=0)[0] == pytest.approx(best, rel=1e-4)   # best weights back
    assert os.path.exists('best_model.keras')
    restored = load_model('best_model.keras')
    assert restored.evaluate(x_val, y_val, verbose=0)[0] == pytest.approx(best, rel=1e-4)
    assert val.index(best) == stopped_after - 1 - 6


def test_learning_rate_finder_and_custom_schedule_callback():
    import shendu as tf                                  # was: import tensorflow as tf

    # the "find a good learning rate" recipe: raise lr each epoch, plot loss against history['lr']
    x = np.linspace(-1, 1, 64).reshape(-1, 1).astype('float32')
    y = 3 * x + 0.5
    model = tf.keras.models.Sequential([tf.keras.layers.Dense(8, activation='relu', input_shape=[1]),
                                        tf.keras.layers.Dense(1)])
    lr_schedule = tf.keras.callbacks.LearningRateScheduler(lambda epoch: 1e-4 * 10 ** (epoch / 4))
    model.compile(loss='mse', optimizer=tf.keras.optimizers.SGD(lr=1e-4, momentum=0.9))
    history = model.fit(x, y, epochs=8, callbacks=[lr_schedule], verbose=0)
    assert history.history['lr'] == pytest.approx([1e-4 * 10 ** (e / 4) for e in range(8)])
    assert len(history.history['lr']) == len(history.history['loss'])

    # the TensorFlow guide's custom callback: read the rate, set the scheduled one with set_value
    class CustomLearningRateScheduler(tf.keras.callbacks.Callback):
        def __init__(self, schedule):
            super(CustomLearningRateScheduler, self).__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "lr"):
                raise ValueError('Optimizer must have a "lr" attribute.')
            lr = float(tf.keras.backend.get_value(self.model.optimizer.learning_rate))
            scheduled_lr = self.schedule(epoch, lr)
            tf.keras.backend.set_value(self.model.optimizer.lr, scheduled_lr)
            print("\nEpoch %05d: Learning rate is %6.4f." % (epoch, scheduled_lr))

    def lr_schedule_fn(epoch, lr):
        return lr * 0.5 if epoch in (2, 4) else lr

    model.compile(loss='mse', optimizer=tf.keras.optimizers.Adam(0.05))
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[CustomLearningRateScheduler(lr_schedule_fn)])
    assert tf.keras.backend.get_value(model.optimizer.lr) == pytest.approx(0.0125)
    assert history.history['loss'][-1] < history.history['loss'][0]


def test_checkpoint_to_a_legacy_h5_file():
    from shendu.keras.models import Sequential, load_model
    from shendu.keras.layers import Dense
    from shendu.keras.callbacks import ModelCheckpoint

    x = np.random.rand(32, 3)
    y = x.sum(axis=1)
    model = Sequential([Dense(4, activation='relu', input_shape=(3,)), Dense(1)])
    model.compile(optimizer='adam', loss='mse')
    checkpoint = ModelCheckpoint('best_model.h5', monitor='loss', save_best_only=True, mode='min', verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # Keras 3's LegacyFormatWarning for '.h5'
        model.fit(x, y, epochs=2, callbacks=[checkpoint], verbose=0)
    restored = load_model('best_model.h5')
    np.testing.assert_allclose(restored.predict(x), model.predict(x), rtol=1e-5)


def test_save_weights_to_a_plain_h5_name():
    from shendu.keras.models import Sequential
    from shendu.keras.layers import Dense

    model = Sequential([Dense(4, activation='relu', input_shape=(3,)), Dense(1)])
    model.compile(optimizer='adam', loss='mse')
    model.save_weights('my_model_weights.h5')
    clone = Sequential([Dense(4, activation='relu', input_shape=(3,)), Dense(1)])
    clone.load_weights('my_model_weights.h5')
    x = np.random.rand(5, 3)
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)


# ---------------------------------------------------------------------------------------- 10 attention
def test_transformer_block_text_classifier():
    import shendu as tf                                  # was: import tensorflow as tf
    from shendu import keras                             # was: from tensorflow import keras
    from shendu.keras import layers

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super(TransformerBlock, self).__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs, training):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output, training=training)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output, training=training)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super(TokenAndPositionEmbedding, self).__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = tf.shape(x)[-1]
            positions = tf.range(start=0, limit=maxlen, delta=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    # synthetic "reviews": label 1 when token 3 ("good") occurs more often than token 4 ("bad")
    vocab_size, maxlen = 50, 12
    rng = np.random.default_rng(0)
    x_train = rng.integers(5, vocab_size, size=(600, maxlen))
    good, bad = rng.integers(1, 4, size=600), rng.integers(1, 4, size=600)
    for i in range(600):
        pos = rng.permutation(maxlen)
        x_train[i, pos[:good[i]]] = 3
        x_train[i, pos[good[i]:good[i] + bad[i]]] = 4
    y_train = (good > bad).astype(int)
    keep = good != bad
    x_train, y_train = x_train[keep], y_train[keep]

    embed_dim, num_heads, ff_dim = 16, 2, 16
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
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=12, validation_split=0.2, verbose=0)

    assert history.history['loss'][-1] < history.history['loss'][0]
    assert history.history['accuracy'][-1] > 0.85
    assert history.history['val_accuracy'][-1] > 0.75


def test_attention_layer_on_query_and_value_in_a_functional_model():
    import shendu as tf                                  # was: import tensorflow as tf

    # the Keras documentation's example: a CNN encodes query and value, Attention mixes them
    query_input = tf.keras.Input(shape=(None,), dtype='int32')
    value_input = tf.keras.Input(shape=(None,), dtype='int32')
    token_embedding = tf.keras.layers.Embedding(input_dim=20, output_dim=16)
    query_embeddings = token_embedding(query_input)
    value_embeddings = token_embedding(value_input)
    cnn_layer = tf.keras.layers.Conv1D(filters=16, kernel_size=4, padding='same')
    query_seq_encoding = cnn_layer(query_embeddings)
    value_seq_encoding = cnn_layer(value_embeddings)
    query_value_attention_seq = tf.keras.layers.Attention()([query_seq_encoding, value_seq_encoding])
    query_encoding = tf.keras.layers.GlobalAveragePooling1D()(query_seq_encoding)
    query_value_attention = tf.keras.layers.GlobalAveragePooling1D()(query_value_attention_seq)
    input_layer = tf.keras.layers.Concatenate()([query_encoding, query_value_attention])
    output = tf.keras.layers.Dense(1, activation='sigmoid')(input_layer)
    model = tf.keras.Model(inputs=[query_input, value_input], outputs=output)

    # task: does the query's first token occur anywhere in the value sequence?
    rng = np.random.default_rng(0)
    n = 600
    q = rng.integers(1, 20, size=(n, 5))
    v = rng.integers(1, 20, size=(n, 7))
    y = np.array([q[i, 0] in v[i] for i in range(n)], dtype='float32')

    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss='binary_crossentropy', metrics=['accuracy'])
    history = model.fit([q, v], y, epochs=10, batch_size=32, verbose=0)
    shorter = model.predict([q[:3, :4], v[:3, :6]])

    assert shorter.shape == (3, 1)                       # any sequence length: the inputs are (None, None)
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert history.history['accuracy'][-1] > 0.7
