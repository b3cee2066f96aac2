"""A DCGAN learns to draw MNIST digits. The generator turns noise into a 28×28 image (Dense → Reshape →
Conv2DTranspose ×2); the discriminator tells real from generated (Conv2D ×2 → Dense(sigmoid)).

    max_D  E[ln D(x)] + E[ln(1 − D(G(z)))]        (D: real → 1, generated → 0)
    min_G  −E[ln D(G(z))]                          (G: make D say 1; the non-saturating form)

--loop keras (default): the tf.keras recipe: discriminator.trainable = False before compiling the combined
  model G→D, then train_on_batch on each; the combined model trains only the generator.
--loop tape: TensorFlow's DCGAN tutorial: two GradientTapes, one per network, in one custom step.
Writes a PNG grid of generated digits after every epoch.
Data as in mnist_cnn.py: keras.datasets.mnist.load_data(), or --data DIR.
Run: python examples/dcgan.py [--epochs 5] [--loop keras|tape] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import shendu as tf
from shendu import keras
from shendu.data.datasets import load_mnist_test
from shendu.keras import layers


def make_generator(latent_dim):
    return keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        layers.Dense(7 * 7 * 64),
        layers.LeakyReLU(0.2),
        layers.Reshape((7, 7, 64)),
        layers.Conv2DTranspose(32, 4, strides=2, padding="same"),
        layers.BatchNormalization(),
        layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"),
    ], name="generator")


def make_discriminator():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Conv2D(64, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(1, activation="sigmoid"),
    ], name="discriminator")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60, help="training steps per epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--loop", default="keras", choices=["keras", "tape"])
    parser.add_argument("--data", default=None, help="a folder holding mnist/t10k-*-ubyte.gz")
    parser.add_argument("--out", default="example-output/dcgan", help="folder for the PNG grids")
    args = parser.parse_args(argv)

    if args.data:
        images = load_mnist_test(args.data)[0][:8000]
    else:
        images = keras.datasets.mnist.load_data()[0][0]
    x_train = ((images[..., None].astype("float32") - 127.5) / 127.5)            # [-1, 1], as tanh outputs
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    generator, discriminator = make_generator(args.latent_dim), make_discriminator()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fixed_noise = rng.normal(size=(16, args.latent_dim)).astype("float32")

    if args.loop == "keras":
        discriminator.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")
        discriminator.trainable = False               # frozen inside the combined model only (set before compile)
        combined = keras.Sequential([generator, discriminator])
        combined.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")
        step = _keras_step(generator, discriminator, combined)
    else:
        step = _tape_step(generator, discriminator)

    half = args.batch_size // 2
    history = {"d_loss": [], "g_loss": []}
    d_before = [w.copy() for w in discriminator.get_weights()]
    g_before = [w.copy() for w in generator.get_weights()]
    frozen_moved = False
    for epoch in range(args.epochs):
        for _ in range(args.steps):
            real = x_train[rng.integers(0, len(x_train), half)]
            noise = rng.normal(size=(args.batch_size, args.latent_dim)).astype("float32")
            d_loss, g_loss, d_unchanged = step(real, noise)
            frozen_moved |= not d_unchanged
            history["d_loss"].append(d_loss)
            history["g_loss"].append(g_loss)
        print(f"epoch {epoch + 1}/{args.epochs}: D loss {np.mean(history['d_loss'][-args.steps:]):.3f}, "
              f"G loss {np.mean(history['g_loss'][-args.steps:]):.3f}")
        _grid(generator.predict(fixed_noise, verbose=0), out / f"epoch_{epoch + 1:03d}.png")
    g_moved = any(not np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))
    d_moved = any(not np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights()))
    real_score = float(discriminator.predict(x_train[:256], verbose=0).mean())
    fake_score = float(discriminator.predict(generator.predict(rng.normal(size=(256, args.latent_dim)).astype(
        "float32"), verbose=0), verbose=0).mean())
    print(f"D(real) = {real_score:.3f}, D(G(z)) = {fake_score:.3f}; grids in {out}")
    return {"generator_moved": g_moved, "discriminator_moved": d_moved,
            "frozen_discriminator_moved_in_combined_step": frozen_moved, "d_real": real_score, "d_fake": fake_score,
            "d_loss": float(np.mean(history["d_loss"][-args.steps:])),
            "g_loss": float(np.mean(history["g_loss"][-args.steps:]))}


def _keras_step(generator, discriminator, combined):
    def step(real, noise):
        half = len(real)
        fake = generator.predict(noise[:half], verbose=0)
        d_loss = 0.5 * (discriminator.train_on_batch(real, np.ones((half, 1))) +
                        discriminator.train_on_batch(fake, np.zeros((half, 1))))
        d_weights = [w.copy() for w in discriminator.get_weights()]
        g_loss = combined.train_on_batch(noise, np.ones((len(noise), 1)))     # G learns to make D say "real"
        unchanged = all(np.array_equal(a, b) for a, b in zip(d_weights, discriminator.get_weights()))
        return float(d_loss), float(g_loss), unchanged
    return step


def _tape_step(generator, discriminator):
    cross_entropy = keras.losses.BinaryCrossentropy()
    g_optimizer, d_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)

    def step(real, noise):
        noise = noise[:len(real)]
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(noise, training=True)
            real_out = discriminator(real, training=True)
            fake_out = discriminator(fake, training=True)
            g_loss = cross_entropy(tf.ones_like(fake_out), fake_out)
            d_loss = cross_entropy(tf.ones_like(real_out), real_out) + cross_entropy(tf.zeros_like(fake_out), fake_out)
        g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                        generator.trainable_variables))
        d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                        discriminator.trainable_variables))
        return float(d_loss.numpy()) / 2, float(g_loss.numpy()), True
    return step


def _grid(images, file: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(4, 4, figsize=(4, 4))
    for ax, image in zip(axes.ravel(), images):
        ax.imshow(image[..., 0] * 0.5 + 0.5, cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(file, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
