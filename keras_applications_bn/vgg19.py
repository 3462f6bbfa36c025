"""VGG19 (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015): the VGG network of :mod:`.vgg16` with four
convolutions in each of its last three blocks ("configuration E").

``weights="imagenet"`` loads ``vgg19_weights_tf_dim_ordering_tf_kernels.h5`` or its
``_notop.h5`` twin. Input size ({default_size}x{default_size} default, {min_size}x{min_size} minimum), ``"{mode}"``
preprocessing and ``inference_bn`` (accepted; no BatchNormalization to pin) are as
for VGG16.
"""

from keras_applications_bn import legacy
from keras_applications_bn._models import builder
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.vgg16 import vgg, vgg_docstring

__all__ = ["VGG19", "preprocess_input", "decode_predictions"]
__doc__ = builder.module_docstring(__doc__, "vgg19")

preprocess_input = builder.module_preprocessor("vgg19", "VGG19")

#: Convolutions per block of VGG19.
VGG19_CONVS = (2, 2, 4, 4, 4)


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
        VGG19_CONVS, model="VGG19", include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
        classes=classes, classifier_activation=classifier_activation, name=name,
        inference_bn=inference_bn,
    )


VGG19.__doc__ = vgg_docstring("VGG19")

legacy.accept_injected_modules(globals())
