"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., "Identity Mappings in Deep
Residual Networks", ECCV 2016): ResNet with pre-activation bottleneck blocks. Each
block normalises and rectifies its input first (``preact``), so the shortcut is a
clean identity path; one BN + ReLU (``post``) follows the last stage.

As in Keras' models, each stage downsamples in its last block (the identity
shortcut of that block is a 1x1 max pooling with the block's stride) and conv5
keeps its resolution; the stem is ResNet's 7x7 convolution and 3x3 max pooling
(:mod:`.resnet`) without BN between them.

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads
``resnet{50,101,152}v2_weights_tf_dim_ordering_tf_kernels.h5`` (with the top) or its
``_notop.h5`` twin. Default input 224x224 (any size from 32x32 without the top);
preprocessing: ``"tf"`` mode. With ``inference_bn=True`` every BatchNormalization
runs in inference mode.
"""

from keras import layers

from keras_applications_bn import imagenet_utils, legacy
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import batch_norm
from keras_applications_bn.resnet import BN_EPSILON, STAGE_FILTERS, STAGE_NAMES, stem_conv, stem_pool

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "preprocess_input", "decode_predictions"]

#: Pre-activation bottleneck blocks in the stages conv2..conv5 of each depth.
RESNET50V2_BLOCKS = (3, 4, 6, 3)
RESNET101V2_BLOCKS = (3, 4, 23, 3)
RESNET152V2_BLOCKS = (3, 8, 36, 3)

preprocess_input = imagenet_utils.preprocessor("tf", "ResNetV2")


def bn_relu(x, inference_bn, *, name):
    """BN (``{name}_bn``), then ReLU (``{name}_relu``)."""
    x = batch_norm(x, inference_bn, epsilon=BN_EPSILON, name=f"{name}_bn")
    return layers.Activation("relu", name=f"{name}_relu")(x)


def preact_bottleneck_block(x, filters, *, inference_bn, stride=1, conv_shortcut=False, name):
    """BN-ReLU, then 1x1 reduce -> 3x3 (strided) -> 1x1 expand (x4) with BN-ReLU
    between them, added to the shortcut without a final activation.

    The shortcut is a strided 1x1 projection of the pre-activated input when
    ``conv_shortcut``, else the input itself (1x1 max pooled when ``stride > 1``).
    """
    preact = bn_relu(x, inference_bn, name=f"{name}_preact")

    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    elif stride > 1:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)
    else:
        shortcut = x

    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = bn_relu(x, inference_bn, name=f"{name}_1")

    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = bn_relu(x, inference_bn, name=f"{name}_2")

    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stage(x, filters, blocks, *, inference_bn, stride=2, name):
    """One stage: a projecting block, identity blocks, then an identity block that
    downsamples by ``stride``."""
    x = preact_bottleneck_block(
        x, filters, inference_bn=inference_bn, conv_shortcut=True, name=f"{name}_block1"
    )
    for i in range(2, blocks):
        x = preact_bottleneck_block(x, filters, inference_bn=inference_bn, name=f"{name}_block{i}")
    return preact_bottleneck_block(
        x, filters, inference_bn=inference_bn, stride=stride, name=f"{name}_block{blocks}"
    )


def resnet_v2(
    stage_blocks,
    *,
    weights_name,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
    inference_bn,
):
    """The ResNetV2 with ``stage_blocks[i]`` blocks in stage ``i``; conv2..conv4
    halve the resolution at their end, conv5 keeps it."""
    img_input = imagenet_utils.model_input(
        inference_bn=inference_bn,
        input_tensor=input_tensor, input_shape=input_shape, default_size=224,
        min_size=32, include_top=include_top, weights=weights, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling,
    )

    x = stem_pool(stem_conv(img_input))
    last = len(stage_blocks) - 1
    for i, (filters, blocks, stage_name) in enumerate(zip(STAGE_FILTERS, stage_blocks, STAGE_NAMES)):
        x = stage(
            x, filters, blocks, inference_bn=inference_bn, stride=1 if i == last else 2,
            name=stage_name,
        )
    x = bn_relu(x, inference_bn, name="post")

    x = imagenet_utils.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return imagenet_utils.create_model(
        img_input, x, input_tensor=input_tensor, name=name, weights=weights,
        weights_name=weights_name, include_top=include_top,
    )


def ResNet50V2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet50v2",
    inference_bn=False,
):
    return resnet_v2(
        RESNET50V2_BLOCKS, weights_name="resnet50v2", include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name, inference_bn=inference_bn,
    )


def ResNet101V2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet101v2",
    inference_bn=False,
):
    return resnet_v2(
        RESNET101V2_BLOCKS, weights_name="resnet101v2", include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name, inference_bn=inference_bn,
    )


def ResNet152V2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet152v2",
    inference_bn=False,
):
    return resnet_v2(
        RESNET152V2_BLOCKS, weights_name="resnet152v2", include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, name=name, inference_bn=inference_bn,
    )


def resnet_v2_docstring(model):
    return imagenet_utils.model_docstring(
        model, module="resnet_v2", top="the classifier (``avg_pool`` + ``predictions``)",
        default_size=224, min_size=32, mode="tf",
    )


ResNet50V2.__doc__ = resnet_v2_docstring("ResNet50V2")
ResNet101V2.__doc__ = resnet_v2_docstring("ResNet101V2")
ResNet152V2.__doc__ = resnet_v2_docstring("ResNet152V2")

legacy.accept_injected_modules(globals())
