"""Write a model for deployment: ``.keras``, TensorFlow SavedModel, TFLite, ONNX,
optionally with its BatchNormalization folded first (``export.fold``)."""

import importlib

import keras
import numpy as np

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.checks import check_bool, check_keras_model, check_path, describe
from keras_applications_bn.export.convert import to_keras
from keras_applications_bn.export.fold import constant_normalization, fold_batch_norm

__all__ = ["export_model", "check_format", "FORMATS", "MissingExtraError"]


class MissingExtraError(ImportError):
    """An export format needs packages that are not installed."""


#: format -> (what it writes, the packages it needs beyond this package's own)
FORMATS = {
    "keras": ("a .keras file (loads with only keras)", ()),
    "savedmodel": ("a TensorFlow SavedModel directory (tf.saved_model.load)", ("tensorflow",)),
    "tflite": ("a TFLite flatbuffer (tf.lite.Interpreter)", ("tensorflow",)),
    "onnx": ("an ONNX file (onnxruntime)", ("tensorflow", "tf2onnx", "onnx")),
}


def check_format(fmt):
    """Check an export format before any slow work: a known name, its packages
    installed, the backend able to write it.

    Args:
        fmt: the format's name, one of `FORMATS`.

    Raises:
        TypeError: ``fmt`` is not a string.
        ValueError: an unknown format, or one that needs TensorFlow on another backend.
        MissingExtraError: the packages the format needs are not installed.
    """
    if not isinstance(fmt, str):
        raise TypeError(
            f"`format` must be one of {', '.join(map(repr, FORMATS))}, got {describe(fmt)}."
        )
    if fmt not in FORMATS:
        raise ValueError(
            f"Unsupported export format {fmt!r} (`format`): use one of {', '.join(FORMATS)}."
        )
    missing = []
    for module in FORMATS[fmt][1]:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        hint = (
            'pip install "keras-applications-bn[onnx]"'
            if fmt == "onnx"
            else f"pip install {' '.join(missing)}"
        )
        raise MissingExtraError(
            f"Exporting to {fmt} needs {', '.join(missing)}, which is not installed: {hint}"
        )
    if fmt != "keras" and keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"Exporting to {fmt} runs on the TensorFlow backend; Keras runs on "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow."
        )


def export_model(model, path, format, *, fold_bn=False, moving_statistics=False, verbose=False):  # noqa: A002
    """Write ``model`` for deployment, optionally with its BN layers folded.

    Args:
        model: a Keras model (of this package or not).
        path: where to write: a ``.keras`` file, a SavedModel directory, a
            ``.tflite`` file or a ``.onnx`` file.
        format: ``"keras"``, ``"savedmodel"``, ``"tflite"`` or ``"onnx"``
            (needs the ``onnx`` extra: ``tf2onnx`` and ``onnx``; ``onnxruntime``
            runs the file).
        fold_bn: fold BatchNormalization first (`fold_batch_norm`).
        moving_statistics: passed to `fold_batch_norm`.
        verbose: print progress and the folding summary.

    Returns:
        The model that was written: a copy made of Keras' own classes (folded
        when ``fold_bn``).

    Raises:
        TypeError: ``model`` is not a Keras model (a single layer is not),
            ``path`` is not a str or ``os.PathLike``, ``format`` is not a
            string, or ``fold_bn``, ``moving_statistics`` or ``verbose`` is not
            a bool (NumPy bools are; ``fold_bn="no"`` is refused, not read as
            true). All are checked before anything is written.
        ValueError: an unknown ``format``, an empty ``path``, a format other
            than ``"keras"`` on a backend other than TensorFlow, or a model
            `fold_batch_norm` refuses.
        MissingExtraError: the packages the format needs are not installed.
    """
    # every argument before any work (a string flag such as "no" would read as true)
    check_keras_model(model)
    path = check_path(path, "path")
    check_format(format)
    fold_bn = check_bool(fold_bn, "fold_bn")
    moving_statistics = check_bool(moving_statistics, "moving_statistics")
    verbose = check_bool(verbose, "verbose")
    say = print if verbose else (lambda *a, **k: None)
    if fold_bn:
        say("folding BatchNormalization ...", flush=True)
        model = fold_batch_norm(model, moving_statistics=moving_statistics)
        say(str(model.bn_folding), flush=True)
    else:
        model = to_keras(model)
    if format == "onnx":
        # Normalization's tensors would become extra ONNX inputs: make them constants
        model = constant_normalization(model)
    say(f"writing {format} to {path} ...", flush=True)
    if format == "keras":
        model.save(path)
    else:
        keras_format = {"savedmodel": "tf_saved_model", "tflite": "litert", "onnx": "onnx"}[format]
        if not keras_internals.has_been_called(
            model
        ):  # Keras' ONNX export needs a model that ran once
            zeros = [np.zeros([d or 1 for d in t.shape], t.dtype) for t in model.inputs]
            model(zeros[0] if len(zeros) == 1 else zeros)
        model.export(path, format=keras_format, verbose=False)
    return model
