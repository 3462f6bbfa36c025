"""Test-time adaptation on corrupted digits: no adaptation, AdaBN, partial adaptation.

A small ResNet (9 BatchNormalization layers) is trained on scikit-learn's digits
(16x16, offline) and evaluated on the held-out digits under corruptions in the
spirit of ImageNet-C (Hendrycks & Dietterich, 2019), each at 5 severities:
Gaussian noise, impulse (salt-and-pepper) noise, blur, contrast, brightness.

For every corruption and severity, the BN statistics are re-estimated on ``n``
unlabeled corrupted images (n = 1, 8, 32, 256; a few random draws) with
``adapt_bn_statistics(model, images, prior=N)``: ``N = 0`` replaces the source
statistics (AdaBN with n images), ``N > 0`` mixes them as in Schneider et al.
(NeurIPS 2020), the source counted as ``N`` samples. Accuracy is measured on all
corrupted held-out images. "no adapt" keeps the source statistics, "full AdaBN"
re-estimates on all of them.

Run: ``python examples/test_time_adaptation.py`` (a few minutes on 2 CPU cores;
writes ``docs/test_time_adaptation.png`` with matplotlib); ``--quick`` runs two
corruptions at two severities.
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from domain_shift import accuracy, compiled, load_digits, tiny_resnet  # noqa: E402

from keras_applications_bn import adapt_bn_statistics, bn_layers  # noqa: E402

CORRUPTIONS = ("gaussian_noise", "impulse_noise", "blur", "contrast", "brightness")
SEVERITIES = (1, 2, 3, 4, 5)
SAMPLES = (1, 8, 32, 256)
PRIORS = (0, 16, 64)
DEFAULT_PLOT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "test_time_adaptation.png"


def corrupt(x, kind, severity, rng):
    """``x`` (images in [0, 1]) corrupted by ``kind`` at ``severity`` 1-5."""
    s = severity - 1
    if kind == "gaussian_noise":
        return np.clip(x + rng.normal(0, (0.08, 0.12, 0.18, 0.26, 0.38)[s], x.shape), 0, 1).astype(
            "float32"
        )
    if kind == "impulse_noise":
        amount = (0.03, 0.06, 0.09, 0.17, 0.27)[s]
        hit = rng.random(x.shape[:3]) < amount
        salt = rng.random(x.shape[:3]) < 0.5
        out = x.copy()
        out[hit & salt], out[hit & ~salt] = 1.0, 0.0
        return out
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = (0.5, 0.75, 1.0, 1.5, 2.0)[s]
        return gaussian_filter(x, sigma=(0, sigma, sigma, 0)).astype("float32")
    if kind == "contrast":
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        return ((x - mean) * (0.4, 0.3, 0.2, 0.1, 0.05)[s] + mean).astype("float32")
    if kind == "brightness":
        return np.clip(x + (0.1, 0.2, 0.3, 0.4, 0.5)[s], 0, 1).astype("float32")
    raise ValueError(f"unknown corruption {kind!r}")


def run(corruptions, severities, samples, priors, draws, epochs, seed=0):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = load_digits()
    order = rng.permutation(len(x))
    train, held = order[:1200], order[1200:]
    model = compiled(tiny_resnet(), 3e-3)
    model.fit(x[train], y[train], batch_size=32, epochs=epochs, verbose=0)
    adapt_bn_statistics(model, x[train], verbose=0)  # precise source statistics
    layers = bn_layers(model)
    source = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]

    def restore():
        for layer, (mean, variance) in zip(layers, source):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)

    results = {"clean": accuracy(model, x[held], y[held]), "images": len(held), "scores": {}}
    for kind in corruptions:
        for severity in severities:
            tx, ty = corrupt(x[held], kind, severity, rng), y[held]
            row = {"no adapt": accuracy(model, tx, ty)}
            adapt_bn_statistics(model, tx, batch_size=256, verbose=0)
            row["full AdaBN"] = accuracy(model, tx, ty)
            for n in samples:
                for prior in priors:
                    scores = []
                    for _ in range(draws if n < len(tx) else 1):
                        restore()
                        pick = rng.choice(len(tx), size=min(n, len(tx)), replace=False)
                        adapt_bn_statistics(model, tx[pick], batch_size=256, verbose=0, prior=prior)
                        scores.append(accuracy(model, tx, ty))
                    row[(n, prior)] = float(np.mean(scores))
            restore()
            results["scores"][(kind, severity)] = row
    return results


def summary(results, corruptions, samples, priors):
    """Accuracy per setting, averaged over corruptions and severities."""
    rows = list(results["scores"].values())
    mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    lines = [
        "| adaptation | " + " | ".join(f"n = {n}" for n in samples) + " |",
        "|---" * (len(samples) + 1) + "|",
    ]
    lines.append(
        "| none (source statistics) | "
        + " | ".join(f"{mean['no adapt']:.3f}" for _ in samples)
        + " |"
    )
    for prior in priors:
        label = "AdaBN (N = 0, replace)" if prior == 0 else f"partial, N = {prior}"
        lines.append(
            f"| {label} | " + " | ".join(f"{mean[(n, prior)]:.3f}" for n in samples) + " |"
        )
    lines.append(
        f"\nclean held-out accuracy {results['clean']:.3f}; full AdaBN (all {results['images']} corrupted images) "
        f"{mean['full AdaBN']:.3f}; means over {len(corruptions)} corruptions x "
        f"{len(rows) // len(corruptions)} severities"
    )
    return "\n".join(lines), mean


def per_corruption(results, corruptions, samples, priors):
    table = {}
    for kind in corruptions:
        rows = [row for (k, _), row in results["scores"].items() if k == kind]
        table[kind] = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    return table


def plot(results, corruptions, samples, priors, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = per_corruption(results, corruptions, samples, priors)
    fig, axes = plt.subplots(
        1, len(corruptions), figsize=(3.0 * len(corruptions), 3.0), sharey=True
    )
    axes = np.atleast_1d(axes)
    for ax, kind in zip(axes, corruptions):
        row = table[kind]
        ax.axhline(row["no adapt"], color="grey", linestyle=":", label="no adapt")
        ax.axhline(row["full AdaBN"], color="black", linestyle="--", label="full AdaBN")
        for prior in priors:
            ax.plot(
                samples,
                [row[(n, prior)] for n in samples],
                marker="o",
                label="N = 0 (replace)" if prior == 0 else f"N = {prior}",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(samples, [str(n) for n in samples])
        ax.set_title(kind.replace("_", " "), fontsize=10)
        ax.set_xlabel("target images n")
    axes[0].set_ylabel("accuracy (mean of 5 severities)")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="two corruptions, two severities, short training"
    )
    parser.add_argument(
        "--draws", type=int, default=3, help="random draws of the n target images (n < all)"
    )
    parser.add_argument(
        "--plot", default=None, help=f"PNG to write (default without --quick: {DEFAULT_PLOT})"
    )
    args = parser.parse_args(argv)
    if args.quick:
        corruptions, severities, samples, priors, draws, epochs = (
            ("gaussian_noise", "contrast"),
            (3, 5),
            (1, 32),
            (0, 16),
            2,
            6,
        )
    else:
        corruptions, severities, samples, priors, draws, epochs = (
            CORRUPTIONS,
            SEVERITIES,
            SAMPLES,
            PRIORS,
            args.draws,
            15,
        )
    results = run(corruptions, severities, samples, priors, draws, epochs)
    text, mean = summary(results, corruptions, samples, priors)
    print(text)
    print()
    table = per_corruption(results, corruptions, samples, priors)
    header = ["corruption", "no adapt", "full AdaBN"] + [
        f"n={n}, N={p}" for n in samples for p in priors
    ]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for kind in corruptions:
        row = table[kind]
        cells = [f"{row['no adapt']:.3f}", f"{row['full AdaBN']:.3f}"] + [
            f"{row[(n, p)]:.3f}" for n in samples for p in priors
        ]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    target = args.plot or (None if args.quick else DEFAULT_PLOT)
    if target:
        print(f"\nplot: {plot(results, corruptions, samples, priors, target)}")
    return {"results": results, "mean": mean, "per_corruption": table}


if __name__ == "__main__":
    main()
