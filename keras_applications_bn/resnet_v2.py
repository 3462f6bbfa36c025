"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., "Identity Mappings in Deep
Residual Networks", ECCV 2016): ResNet with pre-activation bottleneck blocks. Each
block normalises and rectifies its input first (``preact``), so the shortcut is a
clean identity path; one BN + ReLU (``post``) follows the last stage.

As in Keras' models, each stage downsamples in its last block (the identity
shortcut of that block is a 1x1 max pooling with the block's stride) and conv5
keeps its resolution; the stem is ResNet's 7x7 convolution and 3x3 max pooling
(`resnet`) without BN between them.

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads
``resnet{50,101,152}v2_weights_tf_dim_ordering_tf_kernels.h5`` (with the top) or its
``_notop.h5`` twin. Default input {default_size}x{default_size} (any size from {min_size}x{min_size} without the top);
preprocessing: ``"{mode}"`` mode. With ``inference_bn=True`` every BatchNormalization
runs in inference mode.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import bn_relu
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.resnet import DOC, resnet

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "resnet_v2")

#: Each model function's pre-activation bottleneck blocks in the stages
#: conv2..conv5: the keyword arguments of `resnet_v2` that make it.
VARIANTS = {
    "ResNet50V2": dict(stage_blocks=(3, 4, 6, 3)),
    "ResNet101V2": dict(stage_blocks=(3, 4, 23, 3)),
    "ResNet152V2": dict(stage_blocks=(3, 8, 36, 3)),
}

#: Stride of each stage (in its last block): conv5 keeps its resolution.
STAGE_STRIDES = (2, 2, 2, 1)

preprocess_input = builder.module_preprocessor("resnet_v2", "ResNetV2")


def preact_bottleneck_block(x, filters, *, norm, stride=1, conv_shortcut=False, name):
    """BN-ReLU, then 1x1 reduce -> 3x3 (strided) -> 1x1 expand (x4) with BN-ReLU
    between them, added to the shortcut without a final activation.

    The shortcut is a strided 1x1 projection of the pre-activated input when
    ``conv_shortcut``, else the input itself (1x1 max pooled when ``stride > 1``).
    """
    preact = bn_relu(x, norm, name=f"{name}_preact")

    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    elif stride > 1:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)
    else:
        shortcut = x

    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = bn_relu(x, norm, name=f"{name}_1")

    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = bn_relu(x, norm, name=f"{name}_2")

    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stage(x, filters, blocks, *, norm, stride=2, name, block=preact_bottleneck_block):
    """One stage: a projecting block, identity blocks, then an identity block that
    downsamples by ``stride``."""
    x = block(x, filters, norm=norm, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = block(x, filters, norm=norm, name=f"{name}_block{i}")
    return block(x, filters, norm=norm, stride=stride, name=f"{name}_block{blocks}")


def resnet_v2(stage_blocks, **kwargs):
    """`resnet.resnet` with pre-activation stages."""
    return resnet(
        stage_blocks,
        block=preact_bottleneck_block,
        stage_fn=stage,
        stage_strides=STAGE_STRIDES,
        preact=True,
        **kwargs,
    )


@builder.model_function(DOC, variants=VARIANTS)
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
        **VARIANTS["ResNet50V2"],
        model="ResNet50V2",
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


@builder.model_function(DOC, variants=VARIANTS)
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
        **VARIANTS["ResNet101V2"],
        model="ResNet101V2",
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


@builder.model_function(DOC, variants=VARIANTS)
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
        **VARIANTS["ResNet152V2"],
        model="ResNet152V2",
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
