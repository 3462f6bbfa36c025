"""Fine-tuning tools: freeze/unfreeze layer ranges, layer-wise learning rates
(``LayerwiseLR``, ``lr_multipliers``) and the callbacks ``GradualUnfreezing`` and
``AdaptBNStatistics``."""

from keras_applications_bn.tuning.callbacks import AdaptBNStatistics, GradualUnfreezing
from keras_applications_bn.tuning.finetune import LayerwiseLR, freeze, lr_multipliers, unfreeze

__all__ = [
    "freeze",
    "unfreeze",
    "LayerwiseLR",
    "lr_multipliers",
    "GradualUnfreezing",
    "AdaptBNStatistics",
]
