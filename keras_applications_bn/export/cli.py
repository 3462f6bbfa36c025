"""``python -m keras_applications_bn export``: load a saved model, fold its BN
layers if asked, and write it for deployment without ever losing a file.

The output never replaces ``MODEL_FILE`` and an existing output only with
``--overwrite``; it is written beside its final path and moved there once
complete. The export itself is ``export.fold``'s and ``export.formats``' (``fold_batch_norm``,
``export_model``), imported when the command runs: the other commands of the
command line do not pay for Keras' import.
"""

import os
import shutil
import tempfile

#: The suffix of each format's output (a SavedModel is a directory).
_SUFFIX = {"keras": ".keras", "savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}


def default_output(model_file, fmt, fold_bn=False):
    """The output path the command line uses when none is given.

    Never ``model_file`` itself (an export drops the optimizer and the pinned
    BN flags of the file it reads): ``finetuned.keras`` becomes
    ``finetuned.export.keras``, ``finetuned_folded.keras`` with ``fold_bn``,
    ``finetuned_savedmodel``, ``finetuned_folded.tflite``, ``finetuned.onnx``.

    Args:
        model_file: the path of the saved model.
        fmt: the export format, one of ``FORMATS``.
        fold_bn: whether BN is folded (the name then says ``_folded``).

    Returns:
        A path next to ``model_file``, with the format's suffix.
    """
    stem = os.path.splitext(os.fspath(model_file))[0]
    if fmt == "keras" and not fold_bn:
        return f"{stem}.export{_SUFFIX[fmt]}"
    return f"{stem}{'_folded' if fold_bn else ''}{'_savedmodel' if fmt == 'savedmodel' else ''}{_SUFFIX[fmt]}"


def _is_saved_model(path):
    return any(
        os.path.isfile(os.path.join(path, f)) for f in ("saved_model.pb", "saved_model.pbtxt")
    )


def _check_output(out, model_file, fmt, overwrite):
    """Refuse an output path whose writing would lose data, before anything slow
    runs: ``MODEL_FILE`` itself (through a link, a relative path or another name
    too), a directory that holds it, or an existing output without ``overwrite``
    (with it, only an output of the same kind: a file, or a SavedModel directory)."""
    if not out:
        raise ValueError("OUT (-o) is empty; give a path, or leave -o out for the default.")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ValueError(
            f"OUT {out!r} cannot be written: its directory {parent!r} does not exist. "
            "Create it, or choose another path with -o."
        )
    if os.path.exists(out) and os.path.samefile(out, model_file):
        raise ValueError(
            f"OUT {out!r} is MODEL_FILE itself; the export would replace your model "
            "(and lose what it keeps beyond the weights: the optimizer, pinned BN "
            f"layers). Choose another path with -o, or leave -o out for "
            f"{default_output(model_file, fmt)!r}."
        )
    if os.path.realpath(model_file).startswith(os.path.join(os.path.realpath(out), "")):
        raise ValueError(
            f"OUT {out!r} is a directory that holds MODEL_FILE {model_file!r}; the export "
            "would delete it. Choose another path with -o."
        )
    if not os.path.lexists(out):
        return
    if not overwrite:
        raise ValueError(
            f"OUT {out!r} exists; pass --overwrite to replace it, or choose another path with -o."
        )
    if fmt == "savedmodel":
        if os.path.islink(out) or not os.path.isdir(out) or not _is_saved_model(out):
            raise ValueError(
                f"OUT {out!r} exists and is not a SavedModel directory, so --overwrite "
                "does not replace it. Choose another path with -o."
            )
    elif os.path.isdir(out):
        raise ValueError(
            f"OUT {out!r} is a directory, and a {fmt} export is a file, so --overwrite "
            "does not replace it. Choose another path with -o."
        )


def _write_beside(out, write):
    """Call ``write(path)`` with a fresh path beside ``out``, then move the result
    to ``out``: an existing ``out`` is replaced only by a complete output, and a
    failure (or Ctrl-C) leaves ``out`` as it was and nothing half-written."""
    parent = os.path.dirname(os.path.abspath(out))
    staging = tempfile.mkdtemp(prefix=".export-", suffix=".partial", dir=parent)
    try:
        new = os.path.join(staging, os.path.basename(os.path.normpath(out)))
        write(new)
        if os.path.isdir(out) and not os.path.islink(out):  # a SavedModel: move it aside first
            previous = os.path.join(staging, "previous")
            os.rename(out, previous)
            try:
                os.rename(new, out)
            except BaseException:
                os.rename(previous, out)
                raise
        else:
            os.replace(new, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _size(path):
    if os.path.isdir(path):
        total = sum(
            os.path.getsize(os.path.join(root, f))
            for root, _, files in os.walk(path)
            for f in files
        )
    else:
        total = os.path.getsize(path)
    return f"{total / 1e6:.1f} MB"


def export_command(
    model_file, fmt, *, fold_bn=False, output=None, moving_statistics=False, overwrite=False
):
    """Run ``python -m keras_applications_bn export``: load, fold, write.

    The output never replaces ``model_file``, and an existing output only with
    ``overwrite``; it is written beside its final path first and moved there
    once complete, so a failed export leaves nothing half-written and loses
    nothing.

    Args:
        model_file: the saved Keras model (``.keras`` or ``.h5``).
        fmt: the export format, one of ``FORMATS``.
        fold_bn: fold BatchNormalization first (``fold_batch_norm``).
        output: the output path; ``None`` for ``default_output``.
        moving_statistics: passed to ``fold_batch_norm``.
        overwrite: replace an existing output (a file, or a SavedModel
            directory for ``"savedmodel"``).

    Returns:
        0, the command's exit code.

    Raises:
        ValueError: ``model_file`` does not exist or is not a Keras model,
            ``fmt`` is unknown, or the output is ``model_file`` itself (or a
            directory holding it), exists without ``overwrite``, or is of
            another kind than the format writes (the command line's usage
            errors).
        TypeError: ``overwrite`` is not a bool.
        MissingExtraError: the packages the format needs are not installed.
    """
    # imported here: the weight commands must not pay for Keras' import
    import keras

    from keras_applications_bn._models.checks import check_bool
    from keras_applications_bn.export import fold, formats

    formats.check_format(fmt)  # before the slow part: a known format, its packages installed
    overwrite = check_bool(overwrite, "overwrite")
    model_file = os.fspath(model_file)
    steps = 3 if fold_bn else 2
    step = iter(range(1, steps + 1))
    if not os.path.isfile(model_file):
        raise ValueError(f"MODEL_FILE {model_file!r} does not exist (or is not a file).")
    if not model_file.endswith((".keras", ".h5", ".hdf5")):
        raise ValueError(
            f"MODEL_FILE {model_file!r} is not a Keras model file: use a .keras or .h5 "
            "file written by model.save()."
        )
    out = os.fspath(output) if output is not None else default_output(model_file, fmt, fold_bn)
    _check_output(out, model_file, fmt, overwrite)
    print(f"[{next(step)}/{steps}] loading {model_file}", flush=True)
    try:
        model = keras.saving.load_model(model_file, compile=False)
    except Exception as e:  # a zip/h5 that is not a saved model, or a broken one
        raise ValueError(
            f"MODEL_FILE {model_file!r} could not be loaded as a Keras model "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})."
        ) from e
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"MODEL_FILE {model_file!r} holds a {type(model).__name__}, not a Keras model."
        )
    if fold_bn:
        print(f"[{next(step)}/{steps}] folding BatchNormalization", flush=True)
        model = fold.fold_batch_norm(model, moving_statistics=moving_statistics)
        for line in str(model.bn_folding).splitlines():
            print(f"      {line}", flush=True)
    print(f"[{next(step)}/{steps}] writing {fmt} to {out}", flush=True)
    _write_beside(out, lambda path: formats.export_model(model, path, fmt))
    print(f"done: {out} ({_size(out)})", flush=True)
    return 0


def _cmd_export(args):
    return export_command(
        args.model_file,
        args.to,
        fold_bn=args.fold_bn,
        output=args.output,
        moving_statistics=args.moving_statistics,
        overwrite=args.overwrite,
    )


def add_command(command):
    """Add the ``export`` command to the command line.

    Args:
        command: ``command(name, help, func)`` adds the sub-command ``name`` that
            runs ``func(args)`` and returns its ``argparse`` parser.
    """
    p = command(
        "export", "write a saved Keras model for deployment (BN folded with --fold-bn)", _cmd_export
    )
    p.add_argument("model_file", metavar="MODEL_FILE", help="a .keras or .h5 model file")
    p.add_argument(
        "--to",
        required=True,
        choices=["keras", "savedmodel", "tflite", "onnx"],
        help="keras: .keras with Keras' own classes; savedmodel: TensorFlow SavedModel; "
        "tflite: TFLite flatbuffer; onnx: ONNX (needs the onnx extra)",
    )
    p.add_argument(
        "--fold-bn", action="store_true", help="fold BatchNormalization into the layer before it"
    )
    p.add_argument(
        "--moving-statistics",
        action="store_true",
        help="with --fold-bn: also fold BN layers that are not pinned, with their moving statistics",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output path (default: next to MODEL_FILE, e.g. NAME.export.keras, "
        "NAME_folded.tflite, NAME_savedmodel); never MODEL_FILE itself",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT if it exists (written beside it first, then moved into place)",
    )
