"""Copies and files to ship: ``to_keras`` (a copy made of Keras' own classes),
``fold_batch_norm`` (BN folded into the preceding layer) and ``export_model``
(``.keras``, SavedModel, TFLite, ONNX).

The names are imported on first use, so that the command line's ``export.cli``
(which imports them only when the command runs) costs no import of Keras.
"""

import importlib

# public name -> the module of this package that defines it
_EXPORTS = {
    "to_keras": "convert",
    "fold_batch_norm": "fold",
    "FoldReport": "fold",
    "export_model": "formats",
    "FORMATS": "formats",
    "MissingExtraError": "formats",
}

__all__ = [
    "to_keras",
    "fold_batch_norm",
    "FoldReport",
    "export_model",
    "FORMATS",
    "MissingExtraError",
]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
