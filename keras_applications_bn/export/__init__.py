"""Copies and files to ship: ``to_keras`` (a copy made of Keras' own classes),
``fold_batch_norm`` (BN folded into the preceding layer) and ``export_model``
(``.keras``, SavedModel, TFLite, ONNX)."""

from keras_applications_bn.export.convert import to_keras
from keras_applications_bn.export.deploy import (
    FORMATS,
    FoldReport,
    MissingExtraError,
    export_model,
    fold_batch_norm,
)

__all__ = ["to_keras", "fold_batch_norm", "FoldReport", "export_model", "FORMATS", "MissingExtraError"]
