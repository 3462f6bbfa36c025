"""ResNet50 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016),
as ``keras.applications.resnet50`` offers it: the model, its ``preprocess_input``
(``"{mode}"`` mode) and ``decode_predictions``, re-exported from `resnet`,
where ResNet50, ResNet101 and ResNet152 are built.

``weights="imagenet"`` loads ``resnet50_weights_tf_dim_ordering_tf_kernels.h5`` or
its ``_notop.h5`` twin. Default input {default_size}x{default_size} (any size from {min_size}x{min_size} without the
top). With ``inference_bn=True`` every BatchNormalization runs in inference mode.
"""

from keras_applications_bn._models import docs
from keras_applications_bn.resnet import ResNet50, decode_predictions, preprocess_input

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "resnet")  # ResNet50's facts are its module's
