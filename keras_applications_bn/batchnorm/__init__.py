"""Model-level tools for BatchNormalization layers: find, pin, reset, re-estimate, inspect.

:mod:`.pinning` sets the mode the layers run in; :mod:`.statistics` resets,
re-estimates and reports their moving statistics. Every name is importable from
here, as from ``keras_applications_bn`` itself.
"""

from keras_applications_bn.batchnorm.pinning import (
    bn_layers,
    fit_mode,
    forget_traced_functions,
    set_inference_bn,
)
from keras_applications_bn.batchnorm.statistics import (
    adapt_bn_statistics,
    bn_summary,
    reset_bn_statistics,
)

__all__ = [
    "adapt_bn_statistics",
    "bn_layers",
    "bn_summary",
    "forget_traced_functions",
    "reset_bn_statistics",
    "set_inference_bn",
]
