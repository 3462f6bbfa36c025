"""The BatchNormalization problem, measured offline in about two minutes.

    python -m keras_applications_bn.demo [--quick] [--seed N]

1. Pretrain a MobileNet (alpha 0.5; ``--model resnet50`` for ResNet50) of this
   package, 32x32 inputs, random init, on scikit-learn's handwritten digits 0-4:
   this is our "ImageNet".
2. Transfer it to digits 5-9 with a new head, as the Keras transfer-learning
   guide does: phase 1 trains the head with the backbone frozen; phase 2
   unfreezes the backbone, called as ``base(inputs, training=False)``, and
   fine-tunes everything with a small learning rate.
3. Do step 2 twice, with ``inference_bn=False`` (Keras' behaviour) and with
   ``inference_bn=True``, and print side by side the accuracy ``fit`` reported,
   ``evaluate`` on the same data, held-out accuracy, and how far the moving
   statistics drifted from the pretrained ones.

Needs scikit-learn (``pip install "keras-applications-bn[demo]"``); never
downloads anything.
"""

import argparse
import importlib
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SIZE = 32

#: --model choices: (model function name, its module, constructor arguments)
MODELS = {
    "mobilenet": ("MobileNet", "mobilenet", {"alpha": 0.5}),
    "resnet50": ("ResNet50", "resnet50", {}),
}


def build(model, **kwargs):
    fn, module, extra = MODELS[model]
    return getattr(importlib.import_module(f"keras_applications_bn.{module}"), fn)(
        weights=None, input_shape=(SIZE, SIZE, 3), **extra, **kwargs
    )


def load_digits_rgb(size=SIZE):
    """scikit-learn's 8x8 digits as ``size x size`` RGB images in [0, 255]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - depends on the environment
        sys.exit(
            "The demo needs scikit-learn: pip install 'keras-applications-bn[demo]' "
            "(or run `make demo`, which installs it)."
        )
    digits = load_digits()
    x = digits.images.astype("float32") * (255.0 / 16.0)
    x = np.kron(x, np.ones((size // 8, size // 8), "float32"))  # nearest upsampling
    return np.repeat(x[..., None], 3, axis=-1), digits.target


def split(x, y, classes, rng, test_fraction=0.25):
    keep = np.isin(y, classes)
    x, y = x[keep], np.searchsorted(classes, y[keep])
    order = rng.permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


def bn_statistics(model):
    from keras_applications_bn.batchnorm import bn_layers

    return [(layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy()) for layer in bn_layers(model)]


def drift(before, after):
    """Mean absolute change of the moving means, relative change of the variances."""
    d_mean = np.mean([np.mean(np.abs(m1 - m0)) for (m0, _), (m1, _) in zip(before, after)])
    d_var = np.mean([np.mean(np.abs(v1 - v0) / v0) for (_, v0), (_, v1) in zip(before, after)])
    return float(d_mean), float(d_var)


class Progress:
    def __init__(self, total):
        self.total, self.step, self.start = total, 0, time.perf_counter()

    def __call__(self, message):
        self.step += 1
        print(f"[{self.step}/{self.total}] {message} ({time.perf_counter() - self.start:5.1f}s)", flush=True)


def pretrain(model_name, data, *, epochs, batch_size, progress):
    import keras

    from keras_applications_bn import batchnorm

    (x, y), _ = data
    model = build(model_name, classes=5)
    # A short pretraining: let the moving statistics follow the batches faster
    # than the default momentum of 0.99 would, so they describe the data at the end.
    for layer in batchnorm.bn_layers(model):
        layer.momentum = 0.8
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    _, acc = model.evaluate(x, y, verbose=0)
    progress(f"pretrained {MODELS[model_name][0]} on digits 0-4: evaluate accuracy {acc:.3f}")
    return model


def transfer(model_name, pretrained, data, *, inference_bn, head_epochs, epochs, batch_size, progress):
    import keras

    (x, y), (x_test, y_test) = data
    base = build(model_name, include_top=False, pooling="avg", inference_bn=inference_bn)
    base.set_weights(pretrained.get_weights()[:-2])  # everything but the old classifier
    start = bn_statistics(base)

    inputs = keras.Input((SIZE, SIZE, 3))
    features = base(inputs, training=False)  # as the Keras guide writes it
    outputs = keras.layers.Dense(5, activation="softmax", name="new_head")(features)
    model = keras.Model(inputs, outputs)

    def compile_and_fit(learning_rate, epochs):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
        return history.history["accuracy"][-1]

    label = f"inference_bn={inference_bn}"
    base.trainable = False
    compile_and_fit(1e-3, head_epochs)
    progress(f"{label}: phase 1, head trained on a frozen backbone")

    base.trainable = True
    fit_acc = compile_and_fit(1e-4, epochs)
    eval_acc = model.evaluate(x, y, verbose=0)[1]
    test_acc = model.evaluate(x_test, y_test, verbose=0)[1]
    d_mean, d_var = drift(start, bn_statistics(base))
    # last: a training-mode call updates the moving statistics of unpinned BN layers
    train_mode_acc = training_mode_accuracy(model, x, y, batch_size)
    progress(f"{label}: phase 2, backbone fine-tuned")
    return {
        "fit accuracy (last epoch)": fit_acc,
        "training-mode pass, same data": train_mode_acc,
        "evaluate, same data": eval_acc,
        "gap (fit - evaluate)": fit_acc - eval_acc,
        "held-out accuracy": test_acc,
        "moving mean drift (mean |d|)": d_mean,
        "moving variance drift (rel.)": d_var,
    }


def training_mode_accuracy(model, x, y, batch_size):
    """Accuracy of the final model run as fit runs it (``training=True``), batch by batch.

    Unlike fit's running average, this uses the final weights, so it differs from
    ``evaluate`` only through the BN statistics each one normalises with.
    """
    correct = 0
    for i in range(0, len(x), batch_size):
        probs = np.asarray(model(x[i : i + batch_size], training=True))
        correct += int(np.sum(np.argmax(probs, axis=-1) == y[i : i + batch_size]))
    return correct / len(x)


def format_table(results):
    names = list(results)
    rows = list(results[names[0]])
    width = max(len(r) for r in rows) + 2
    lines = ["".ljust(width) + "".join(n.rjust(22) for n in names)]
    for row in rows:
        lines.append(row.ljust(width) + "".join(f"{results[n][row]:22.3f}" for n in names))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_applications_bn.demo",
        description="Fine-tune with and without inference_bn on offline digits and compare.",
    )
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (for tests)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="mobilenet",
        help="backbone: MobileNet alpha=0.5 (default, fast) or ResNet50",
    )
    args = parser.parse_args(argv)

    import keras

    progress = Progress(total=5)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x, y = load_digits_rgb()
    preprocess = importlib.import_module(f"keras_applications_bn.{MODELS[args.model][1]}").preprocess_input
    x = preprocess(x)
    source = split(x, y, np.arange(0, 5), rng)
    target = split(x, y, np.arange(5, 10), rng)
    if args.quick:
        source = ((source[0][0][:256], source[0][1][:256]), source[1])
        target = ((target[0][0][:128], target[0][1][:128]), (target[1][0][:64], target[1][1][:64]))
    # (pretraining, phase 1, phase 2) epochs
    pretrain_epochs, head_epochs, epochs = (3, 1, 1) if args.quick else (25, 10, 5)
    batch_size = 32

    pretrained = pretrain(args.model, source, epochs=pretrain_epochs, batch_size=batch_size, progress=progress)
    results = {}
    for flag in (False, True):
        keras.utils.set_random_seed(args.seed + 1)
        results[f"inference_bn={flag}"] = transfer(
            args.model, pretrained, target, inference_bn=flag, head_epochs=head_epochs, epochs=epochs, batch_size=batch_size, progress=progress
        )
    print()
    print(format_table(results))
    print(
        "\nWith inference_bn=False, Keras 3 runs every BN layer in training mode during phase 2 "
        "even though the\nbackbone is called with training=False: fit sees batch statistics, evaluate "
        "sees the drifted moving\nstatistics. With inference_bn=True both see the same pretrained "
        "statistics, which never move."
    )
    return results


if __name__ == "__main__":
    main()
