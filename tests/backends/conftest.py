"""The backend stage: tests/backends runs under the Keras backend that
``KERAS_BACKEND`` names (``make test-backends`` runs it with ``jax`` and with
``torch``; the main suite leaves this folder out).

A backend that was asked for but cannot be used fails the stage at collection,
never skips it. Under JAX and PyTorch the package and its models must run on
``keras.layers``/``keras.ops`` alone: TensorFlow (installed, as the package
requires it) is made unimportable, as on a machine without it, so any use of it
fails the test that reaches it. (Keras itself only probes for it, e.g. when
serialising, and carries on without it.)
"""

import importlib
import importlib.abc
import os
import sys

import pytest

REQUESTED = os.environ.get("KERAS_BACKEND", "tensorflow")
_MODULES = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}

if REQUESTED not in _MODULES:
    raise pytest.UsageError(
        f"KERAS_BACKEND={REQUESTED!r}: tests/backends runs under 'jax', 'torch' or 'tensorflow'."
    )
try:
    importlib.import_module(_MODULES[REQUESTED])
except ImportError as e:  # the stage must fail, not skip
    raise pytest.UsageError(
        f"KERAS_BACKEND={REQUESTED} but {_MODULES[REQUESTED]} cannot be imported ({e}); "
        "install the `backends` extras (`make test-backends` does)."
    ) from e

import keras  # noqa: E402  (after the check, so Keras picks the backend above)

if keras.backend.backend() != REQUESTED:
    raise pytest.UsageError(
        f"KERAS_BACKEND={REQUESTED} but Keras runs on {keras.backend.backend()!r}: "
        "was keras imported before the variable was set?"
    )

BACKEND = REQUESTED


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(
                f"TensorFlow is not available under the {BACKEND} backend in tests/backends"
            )
        return None


if BACKEND != "tensorflow":
    assert "tensorflow" not in sys.modules, "TensorFlow was imported before tests/backends started"
    sys.meta_path.insert(0, _NoTensorFlow())


def pytest_report_header(config):
    module = sys.modules[_MODULES[BACKEND]]
    return f"keras {keras.__version__}, backend {BACKEND} {getattr(module, '__version__', '')}"
