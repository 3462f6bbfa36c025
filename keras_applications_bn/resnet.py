"""ResNet50, ResNet101 and ResNet152 (He et al., "Deep Residual Learning for Image
Recognition", CVPR 2016): a 7x7 stem, then four stages of bottleneck blocks
(1x1 reduce, 3x3, 1x1 expand, added to the shortcut, then ReLU), which differ only
in how many blocks each stage stacks (Table 1 of the paper).

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``resnet{50,101,152}_weights_tf_dim_ordering_tf_kernels.h5``
(with the top) or its ``_notop.h5`` twin. Default input {default_size}x{default_size} (any size from
{min_size}x{min_size} without the top); preprocessing: ``"{mode}"`` mode. With ``inference_bn=True``
every BatchNormalization runs in inference mode.

The builder (`resnet`: stem, stages, top) is that of `resnet_v2`
(pre-activation stages) and `resnext` (grouped blocks) too, as Keras builds
the three with one function.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import bn_relu
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory

__all__ = ["ResNet50", "ResNet101", "ResNet152", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "resnet")

#: The epsilon of every BatchNormalization in ResNet (v1 and v2).
BN_EPSILON = 1.001e-5

#: Each model function's bottleneck blocks in the stages conv2..conv5 (Table 1
#: of the paper): the keyword arguments of `resnet` that make it.
VARIANTS = {
    "ResNet50": dict(stage_blocks=(3, 4, 6, 3)),
    "ResNet101": dict(stage_blocks=(3, 4, 23, 3)),
    "ResNet152": dict(stage_blocks=(3, 8, 36, 3)),
}
#: Bottleneck width of the stages conv2..conv5 (each block outputs 4x as many channels).
STAGE_FILTERS = (64, 128, 256, 512)
STAGE_NAMES = ("conv2", "conv3", "conv4", "conv5")
#: Stride of each stage (v1 and ResNeXt: in its first block).
STAGE_STRIDES = (1, 2, 2, 2)

preprocess_input = builder.module_preprocessor("resnet", "ResNet")

#: What the docstrings of the model functions of ResNet (v1 and v2) say of their own.
DOC = docs.ModelDoc(top="the classifier (``avg_pool`` + ``predictions``)")


def stem_conv(x, use_bias=True):
    """The 7x7/2 convolution with 64 filters (``conv1``), padded by 3."""
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    return layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)


def stem_pool(x):
    """3x3/2 max pooling (``pool1``), padded by 1."""
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def bottleneck_block(x, filters, *, norm, stride=1, conv_shortcut=True, name):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), added to the (projected) shortcut."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = norm(shortcut, name=f"{name}_0_bn")
    else:
        shortcut = x

    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = bn_relu(x, norm, name=f"{name}_1")

    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = bn_relu(x, norm, name=f"{name}_2")

    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = norm(x, name=f"{name}_3_bn")

    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stage(x, filters, blocks, *, norm, stride=2, name, block=bottleneck_block):
    """One stage: a projecting ``block`` (which may downsample), then identity blocks."""
    x = block(x, filters, norm=norm, stride=stride, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = block(x, filters, norm=norm, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def resnet(
    stage_blocks,
    *,
    model,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
    inference_bn,
    block=bottleneck_block,
    stage_fn=stage,
    stage_filters=STAGE_FILTERS,
    stage_strides=STAGE_STRIDES,
    preact=False,
    use_bias=True,
    top_name="predictions",
    check_input=None,
):
    """The ResNet with ``stage_blocks[i]`` blocks in stage ``i``, as Keras builds
    v1, v2 and ResNeXt with one function: the stem's 7x7 convolution, its BN and
    ReLU (``conv1``) unless the blocks pre-activate (``preact``), 3x3/2 max
    pooling; the stages, ``stage_fn(x, filters, blocks, norm=..., stride=...,
    name=..., block=...)`` with ``stage_filters`` and ``stage_strides``; after them
    BN and ReLU (``post``) when ``preact``; then the top.

    v1 (the defaults) keeps the stem's resolution in conv2 and halves it in the
    first block of conv3..conv5. ResNetV2 (`resnet_v2`) passes its own
    pre-activation stages, which halve it at their end in conv2..conv4. ResNeXt
    (`resnext`) passes another ``block`` (grouped bottlenecks of width
    ``stage_filters``), no convolution biases (``use_bias=False``) and a classifier
    named ``top_name``; ``check_input(img_input)`` may refuse inputs the block
    cannot take. ``model`` is the model function's name: the registry gives its
    input sizes and weight files."""
    img_input = builder.model_input(
        model=model,
        inference_bn=inference_bn,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
    )
    norm = bn_factory(inference_bn, epsilon=BN_EPSILON)
    if check_input is not None:
        check_input(img_input)

    x = stem_conv(img_input, use_bias)
    if not preact:
        x = bn_relu(x, norm, name="conv1")
    x = stem_pool(x)
    for filters, blocks, stride, stage_name in zip(
        stage_filters, stage_blocks, stage_strides, STAGE_NAMES
    ):
        x = stage_fn(x, filters, blocks, norm=norm, stride=stride, name=stage_name, block=block)
    if preact:
        x = bn_relu(x, norm, name="post")

    x = builder.classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=top_name,
    )
    return builder.create_model(
        img_input,
        x,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        model=model,
        include_top=include_top,
    )


@builder.model_function(DOC, variants=VARIANTS)
def ResNet50(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet50",
    inference_bn=False,
):
    return resnet(
        **VARIANTS["ResNet50"],
        model="ResNet50",
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
def ResNet101(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet101",
    inference_bn=False,
):
    return resnet(
        **VARIANTS["ResNet101"],
        model="ResNet101",
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
def ResNet152(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet152",
    inference_bn=False,
):
    return resnet(
        **VARIANTS["ResNet152"],
        model="ResNet152",
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
