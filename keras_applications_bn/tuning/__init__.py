"""Fine-tuning tools, one module a job: ``freeze`` (freeze/unfreeze layer
ranges), ``lr`` (layer-wise learning rates: ``LayerwiseLR``, ``lr_multipliers``),
``optimizer`` (extending a built optimizer to more variables) and ``callbacks``
(``GradualUnfreezing``, ``AdaptBNStatistics``)."""

from keras_applications_bn.tuning.callbacks import AdaptBNStatistics, GradualUnfreezing
from keras_applications_bn.tuning.freeze import freeze, unfreeze
from keras_applications_bn.tuning.lr import LayerwiseLR, lr_multipliers

__all__ = [
    "freeze",
    "unfreeze",
    "LayerwiseLR",
    "lr_multipliers",
    "GradualUnfreezing",
    "AdaptBNStatistics",
]
