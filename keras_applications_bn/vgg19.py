"""VGG19 (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015): the VGG network of `vgg16` with four
convolutions in each of its last three blocks ("configuration E").

``weights="imagenet"`` loads ``vgg19_weights_tf_dim_ordering_tf_kernels.h5`` or its
``_notop.h5`` twin. Input size ({default_size}x{default_size} default, {min_size}x{min_size} minimum), ``"{mode}"``
preprocessing and ``inference_bn`` (accepted; no BatchNormalization to pin) are as
for VGG16.
"""

from keras_applications_bn._models import builder, docs
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.vgg16 import DOC, VARIANTS, vgg

__all__ = ["VGG19", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "vgg19")

preprocess_input = builder.module_preprocessor("vgg19", "VGG19")


@builder.model_function(DOC, variants=VARIANTS)
def VGG19(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg19",
    inference_bn=False,
):
    return vgg(
        **VARIANTS["VGG19"],
        model="VGG19",
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        inference_bn=inference_bn,
    )
