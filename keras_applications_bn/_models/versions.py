"""The Keras and TensorFlow versions the package supports, checked at import.

The floors are those of ``setup.py`` and of the compatibility stage
(``make test-compat``), which runs a subset of the suite on the oldest, a middle
and the newest versions. Below them a feature fails deep inside Keras:

- Keras 3.3.3: ``to_keras`` and ``fold_batch_norm`` rebuild graphs with
  ``keras.models.clone_model(..., call_function=...)``, which Keras 3.0.0-3.3.2
  lack. (Keras before 3.5 also needed ``LayerwiseLR`` to accept Keras' own step
  counter, and before 3.14 ``adapt_bn_statistics`` to read a ``renorm`` it does
  not have: both are handled.)
- TensorFlow 2.16.1: the first TensorFlow release whose ``tf.keras`` is Keras 3.

The check reads the installed distributions' metadata (or ``__version__`` of a
module already imported) and imports neither Keras nor TensorFlow, so an
unsupported pair is refused before Keras' own import can fail inside it. An
absent TensorFlow is not checked: the JAX and PyTorch backends run without it.
"""

import importlib.metadata
import re
import sys

__all__ = ["MINIMUM", "installed_version", "parse", "check_versions"]

#: The oldest supported version of each module, as (major, minor[, micro]).
MINIMUM = {"keras": (3, 3, 3), "tensorflow": (2, 16, 1)}

# The distributions that install each module (PyPI names), the usual one first.
_DISTRIBUTIONS = {
    "keras": ("keras", "keras-nightly"),
    "tensorflow": (
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-intel",
        "tensorflow-macos",
        "tensorflow-aarch64",
        "tf-nightly",
        "tf-nightly-cpu",
    ),
}

_NAMES = {"keras": "Keras", "tensorflow": "TensorFlow"}


def installed_version(module):
    """The version string of ``module`` (``"keras"`` or ``"tensorflow"``): the
    ``__version__`` of the module if it is already imported, else the version of
    the first installed distribution that provides it; None if none is installed."""
    imported = sys.modules.get(module)
    version = getattr(imported, "__version__", None)
    if isinstance(version, str):
        return version
    for distribution in _DISTRIBUTIONS[module]:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def parse(version):
    """``(major, minor, micro)`` of a version string such as ``"3.4.1"``,
    ``"2.21.0rc0"``, ``"3.16.0.dev2025"`` or ``"3.10"`` (micro 0); None if it does
    not start with two numbers."""
    match = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def _floor(module):
    return ".".join(map(str, MINIMUM[module]))


def _requirement(module):
    return f"{_NAMES[module]} >= {_floor(module)}"


def check_versions(versions=None):
    """Raise ImportError if the installed Keras or TensorFlow is unsupported.

    Args:
        versions: ``{"keras": "3.4.1", "tensorflow": "2.17.0"}`` to check instead
            of the installed versions (a value of None: not installed).

    Raises:
        ImportError: Keras is missing or older than ``MINIMUM``, or TensorFlow is
            installed and older than ``MINIMUM``. The message names every
            version found and the versions this package needs.
    """
    if versions is None:
        versions = {module: installed_version(module) for module in MINIMUM}
    found, unsupported = [], []
    for module in MINIMUM:
        version = versions.get(module)
        if version is None:
            if module == "keras":  # TensorFlow is optional on the other backends
                found.append("no Keras")
                unsupported.append(module)
            continue
        found.append(f"{_NAMES[module]} {version}")
        parsed = parse(version)
        if parsed is not None and parsed < parse(_floor(module)):
            unsupported.append(module)
    if unsupported:
        needed = " and ".join(_requirement(module) for module in MINIMUM)
        upgrade = " ".join(f'"{module}>={_floor(module)}"' for module in unsupported)
        raise ImportError(
            f"keras_applications_bn needs {needed} (TensorFlow for Keras' TensorFlow "
            f"backend), and found {' and '.join(found)}. Install supported versions, e.g. "
            f"`pip install --upgrade {upgrade}`; the README gives the tested range."
        )
