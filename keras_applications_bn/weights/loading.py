"""What ``load_weights`` needs besides the cache: checking a weights file before
Keras reads it, and errors that name the file and both architectures."""

import json
import re

from keras_applications_bn.weights import integrity
from keras_applications_bn.weights.errors import WeightsError


def weights_file_problem(path):
    """Why the file at ``path`` cannot be a weights file, before h5py or Keras see it.

    Args:
        path: a ``.keras``, ``.h5`` or other weights file.

    Returns:
        Why (not a zip archive, not a complete HDF5 file), or None.
    """
    lower = path.lower()
    if lower.endswith(".keras"):
        import zipfile

        if not zipfile.is_zipfile(path):
            return "is not a .keras archive (not a zip file)"
        return None
    if integrity.expects_hdf5(lower):
        return integrity.hdf5_problem(path, deep=False)
    return None


def unreadable_weights(path, problem, cached):
    """The error for a weights file that cannot be read.

    Args:
        path: the file.
        problem: why, as ``weights_file_problem`` says it.
        cached: its registry name when it is a cached ImageNet file, else None.

    Returns:
        A ``WeightsError`` for a cached file (with the commands that replace
        it), else a ``ValueError`` (to raise).
    """
    if cached:
        return WeightsError(
            f"The cached weights file {path} {problem}. Run `python -m keras_applications_bn "
            f"verify {cached}` to check it and `python -m keras_applications_bn fetch {cached}` "
            f"to replace it (`forget {cached}` first if it has no pinned hash)."
        )
    return ValueError(
        f"Could not load weights={path!r}: the file {problem}. Pass the path of a complete "
        "weights file (saved with `model.save_weights(...)` or `model.save(...)`), "
        "'imagenet', or None."
    )


def _describe_saved(path):
    """What the weights file ``path`` holds, in words: the model's name and class where
    the file says (``.keras`` archives, full-model ``.h5`` files), else how many
    weight tensors it has."""
    try:
        if path.lower().endswith(".keras"):
            import zipfile

            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        else:
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
                if raw is None:
                    tensors = []
                    f.visititems(
                        lambda _, obj: tensors.append(1) if isinstance(obj, h5py.Dataset) else None
                    )
                    return f"another architecture ({len(tensors)} weight tensors)"
                config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        inner = config.get("config") or {}
        return f"the model {inner.get('name')!r} ({config.get('class_name')})"
    except Exception:  # any unreadable detail: describe the file without it
        return "another architecture"


def mismatch_message(model, path, error):
    """One readable error for weights that do not fit ``model`` (no arrays dumped).

    Args:
        model: the model the weights were loaded into.
        path: the weights file.
        error: the ``ValueError`` Keras raised.

    Returns:
        The message.
    """
    text = str(error)
    detail = ""
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if shapes:
        detail = f" (e.g. a variable of shape {shapes.group(1)} received {shapes.group(2)})"
    elif "expected" in text and "variables" in text:
        detail = " (its layers hold other numbers of variables)"
    else:
        first = text.strip().splitlines()[0] if text.strip() else ""
        detail = f" ({first[:200]})" if first else ""
    source = _describe_saved(path)
    return (
        f"Could not load weights={path!r} into {model.name!r} ({type(model).__name__}, "
        f"{len(model.weights)} weight tensors): the file holds the weights of {source}, "
        f"which do not fit{detail}. The file must hold the weights of this architecture "
        "with the same include_top, classes and alpha (or other size arguments)."
    )
