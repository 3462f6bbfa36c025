"""A summary of a model's BatchNormalization layers: their mode in ``fit`` and statistics."""

import keras
import numpy as np
from keras import ops

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.checks import check_model, describe
from keras_applications_bn.batchnorm.pinning import fit_mode

__all__ = ["bn_summary"]


def _bn_paths(model):
    """``(path, layer)`` for every BN layer, the path naming the enclosing models."""
    found, seen = [], set()

    def walk(layer, prefix):
        for sub in keras_internals.sublayers(layer, include_self=False, recursive=False):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            path = f"{prefix}{sub.name}"
            if isinstance(sub, keras.layers.BatchNormalization):
                found.append((path, sub))
            walk(sub, path + "/")

    walk(model, "")
    return found


_MODE_TEXT = {
    "pinned": "moving stats (pinned)",
    "frozen": "moving stats (trainable=False)",
    "batch": "batch stats, updates moving",
}


def bn_summary(model, print_fn=print):
    """Describe every BatchNormalization layer of ``model`` and what ``fit`` does with it.

    For each BN layer (nested ones included, named by their path): the mode it
    will run in during ``fit`` — ``"pinned"`` (this package's inference mode),
    ``"frozen"`` (``trainable=False``: Keras 3 then also runs it in inference mode),
    or ``"batch"`` (normalises with batch statistics and updates its moving
    statistics) — whether gamma/beta train, the momentum, and the range of its
    moving statistics. A note flags statistics that are still at their initial
    values (mean 0, variance 1) and variances near 0, which blow up activations in
    inference mode.

    Args:
        model: a Keras model or layer.
        print_fn: called with the table as one string; ``None`` prints nothing.

    Returns:
        A list with one dict per layer, keys ``path``, ``name``, ``class``, ``mode``,
        ``pinned``, ``trainable``, ``affine_trainable``, ``momentum``, ``epsilon``,
        ``channels``, ``mean_min``, ``mean_max``, ``var_min``, ``var_max``, ``note``.

    Raises:
        TypeError: ``model`` is not a Keras model or layer, or ``print_fn`` is
            neither callable nor ``None``.
    """
    check_model(model)
    if print_fn is not None and not callable(print_fn):
        raise TypeError(f"`print_fn` must be a function or None, got {describe(print_fn)}.")
    rows = []
    for path, layer in _bn_paths(model):
        row = {
            "path": path,
            "name": layer.name,
            "class": type(layer).__name__,
            "mode": fit_mode(layer),
            "pinned": bool(getattr(layer, "inference_mode", False)),
            "trainable": bool(layer.trainable),
            "affine_trainable": bool(layer.trainable and getattr(layer, "affine_trainable", True)),
            "momentum": float(layer.momentum),
            "epsilon": float(layer.epsilon),
            "channels": None,
            "mean_min": None,
            "mean_max": None,
            "var_min": None,
            "var_max": None,
            "note": "not built",
        }
        if layer.built:
            mean = np.asarray(ops.convert_to_numpy(layer.moving_mean), np.float64)
            var = np.asarray(ops.convert_to_numpy(layer.moving_variance), np.float64)
            row.update(
                channels=int(mean.size),
                mean_min=float(mean.min()),
                mean_max=float(mean.max()),
                var_min=float(var.min()),
                var_max=float(var.max()),
                note="",
            )
            if var.min() < layer.epsilon:
                row["note"] = "variance ~0!"
            elif not mean.any() and np.all(var == 1.0):
                row["note"] = "initial stats (0/1)"
        rows.append(row)
    if print_fn is not None:
        print_fn(_format_summary(model, rows))
    return rows


def _format_summary(model, rows):
    def num(value):
        return "-" if value is None else f"{value:.3g}"

    header = ("layer", "in fit", "gamma/beta", "momentum", "moving mean", "moving variance", "note")
    table = [header] + [
        (
            row["path"],
            _MODE_TEXT[row["mode"]],
            "train" if row["affine_trainable"] else "frozen",
            f"{row['momentum']:g}",
            f"[{num(row['mean_min'])}, {num(row['mean_max'])}]",
            f"[{num(row['var_min'])}, {num(row['var_max'])}]",
            row["note"],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    counts = {mode: sum(row["mode"] == mode for row in rows) for mode in _MODE_TEXT}
    lines.insert(
        0,
        f"{model.name}: {len(rows)} BatchNormalization layers — {counts['pinned']} pinned, "
        f"{counts['frozen']} trainable=False, {counts['batch']} in batch-statistics mode during fit",
    )
    return "\n".join(lines)
