"""Model-level tools for BatchNormalization layers: find, pin, reset, re-estimate, inspect.

``bn_layers`` finds a model's BatchNormalization layers, ``set_inference_bn``
pins them (``fit_mode`` tells the mode a layer runs in during ``fit``,
``forget_traced_functions`` makes a change take effect mid-``fit``);
``reset_bn_statistics`` resets their moving statistics, ``adapt_bn_statistics``
re-estimates them on data, and ``bn_summary`` describes every layer. Every name
but ``fit_mode`` is importable from ``keras_applications_bn`` itself too.

Modules: ``pinning`` (find and pin), ``selection`` (the ``layers`` argument),
``reset``, ``adapt`` (the pass), ``data`` (what ``data`` may be), ``step`` (the
compiled forward pass), ``distribute`` (tf.distribute), ``processes`` (the pass
across the processes of JAX and PyTorch), ``summary``.
"""

from keras_applications_bn.batchnorm.adapt import adapt_bn_statistics
from keras_applications_bn.batchnorm.pinning import (
    bn_layers,
    fit_mode,
    forget_traced_functions,
    set_inference_bn,
)
from keras_applications_bn.batchnorm.reset import reset_bn_statistics
from keras_applications_bn.batchnorm.summary import bn_summary

__all__ = [
    "adapt_bn_statistics",
    "bn_layers",
    "bn_summary",
    "fit_mode",
    "forget_traced_functions",
    "reset_bn_statistics",
    "set_inference_bn",
]
