"""EfficientNet B0-B7 (Tan and Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019).

B0 is a stack of seven stages of mobile inverted bottleneck blocks (MBConv) with
squeeze-and-excitation; B1-B7 scale its width, depth and input resolution
together by the compound coefficients of the paper.

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``efficientnetb{0-7}.h5`` (with the top) or
``efficientnetb{0-7}_notop.h5``. Default input {default_sizes} pixels
square for B0-B7 (any size from {min_size}x{min_size} without the top).

Preprocessing is part of the model: it takes RGB images in [0, 255], and its
first layers rescale them to [0, 1] (``Rescaling``) and normalise each channel
(``Normalization``, whose mean and variance are weights: 0 and 1 in a model built
with ``weights=None``, the ImageNet statistics in the official files), so
``preprocess_input`` is the identity. The official files store the ImageNet
standard deviation where the variance belongs; with ``weights="imagenet"`` a
further ``Rescaling`` corrects for it, as in Keras. With ``inference_bn=True``
every BatchNormalization runs in inference mode.

Longer than the package's ~400-line guide: its eight model functions repeat
Keras' signatures, one argument a line.
"""

import collections
import math

from keras import layers

from keras_applications_bn import imagenet_utils
from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import (
    EFFICIENTNET_CONV_INIT,
    correct_pad,
    drop_connect_residual,
    efficientnet_stages,
    efficientnet_top,
    make_divisible,
    round_repeats,
    squeeze_excite,
)
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory, channel_axis

__all__ = [
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "preprocess_input",
    "decode_predictions",
]
__doc__ = docs.module_docstring(__doc__, "efficientnet")

preprocess_input = builder.module_preprocessor("efficientnet", "EfficientNet")

#: One stage of MBConv blocks of EfficientNet-B0, before scaling.
Stage = collections.namedtuple(
    "Stage", "kernel_size repeats filters_in filters_out expand_ratio strides se_ratio"
)

#: The seven stages of EfficientNet-B0 (Table 1 of the paper).
STAGES = (
    Stage(3, 1, 32, 16, 1, 1, 0.25),
    Stage(3, 2, 16, 24, 6, 2, 0.25),
    Stage(5, 2, 24, 40, 6, 2, 0.25),
    Stage(3, 3, 40, 80, 6, 2, 0.25),
    Stage(5, 3, 80, 112, 6, 1, 0.25),
    Stage(5, 4, 112, 192, 6, 2, 0.25),
    Stage(3, 1, 192, 320, 6, 1, 0.25),
)

#: The compound scaling of each model function (its input size is the
#: registry's): the keyword arguments of `EfficientNet` that make it.
VARIANTS = {
    "EfficientNetB0": dict(width_coefficient=1.0, depth_coefficient=1.0, dropout_rate=0.2),
    "EfficientNetB1": dict(width_coefficient=1.0, depth_coefficient=1.1, dropout_rate=0.2),
    "EfficientNetB2": dict(width_coefficient=1.1, depth_coefficient=1.2, dropout_rate=0.3),
    "EfficientNetB3": dict(width_coefficient=1.2, depth_coefficient=1.4, dropout_rate=0.3),
    "EfficientNetB4": dict(width_coefficient=1.4, depth_coefficient=1.8, dropout_rate=0.4),
    "EfficientNetB5": dict(width_coefficient=1.6, depth_coefficient=2.2, dropout_rate=0.4),
    "EfficientNetB6": dict(width_coefficient=1.8, depth_coefficient=2.6, dropout_rate=0.5),
    "EfficientNetB7": dict(width_coefficient=2.0, depth_coefficient=3.1, dropout_rate=0.5),
}

#: What the docstrings of the model functions say of their own.
DOC = docs.ModelDoc(
    top="the classifier (``top_dropout`` + ``predictions``)", returns=docs.IN_MODEL_RETURNS
)


def mbconv_block(
    x,
    *,
    filters_in,
    filters_out,
    kernel_size,
    strides,
    expand_ratio,
    se_ratio,
    drop_rate,
    activation,
    norm,
    name,
):
    """Mobile inverted bottleneck: 1x1 expansion (when ``expand_ratio`` > 1), depthwise
    ``kernel_size`` convolution (padded like TensorFlow's "same" when strided),
    squeeze-and-excitation, 1x1 linear projection; an identity skip with drop
    connect when the shape is kept. Layers are named ``{name}expand_conv`` ...
    ``{name}add``."""
    inputs = x
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(
            filters,
            1,
            padding="same",
            use_bias=False,
            kernel_initializer=EFFICIENTNET_CONV_INIT,
            name=f"{name}expand_conv",
        )(x)
        x = norm(x, name=f"{name}expand_bn")
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)

    if strides == 2:
        x = layers.ZeroPadding2D(correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        depthwise_initializer=EFFICIENTNET_CONV_INIT,
        name=f"{name}dwconv",
    )(x)
    x = norm(x, name=f"{name}bn")
    x = layers.Activation(activation, name=f"{name}activation")(x)

    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, max(1, int(filters_in * se_ratio)), activation=activation, name=name)

    x = layers.Conv2D(
        filters_out,
        1,
        padding="same",
        use_bias=False,
        kernel_initializer=EFFICIENTNET_CONV_INIT,
        name=f"{name}project_conv",
    )(x)
    x = norm(x, name=f"{name}project_bn")
    if strides == 1 and filters_in == filters_out:
        x = drop_connect_residual(x, inputs, drop_rate, name=name)
    return x


def stem(x, filters, *, activation, norm, imagenet):
    """In-model preprocessing (rescale to [0, 1], normalise; with the official
    weights also the variance correction), then a 3x3/2 convolution, BN and
    activation (``stem_*``)."""
    axis = 3 if channel_axis() == -1 else 1
    x = layers.Rescaling(1.0 / 255.0)(x)
    x = layers.Normalization(axis=axis)(x)
    if imagenet:
        # the official files hold the ImageNet std where the variance belongs
        x = layers.Rescaling([1.0 / math.sqrt(std) for std in imagenet_utils.IMAGENET_STD_RGB])(x)
    x = layers.ZeroPadding2D(correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(
        filters,
        3,
        strides=2,
        padding="valid",
        use_bias=False,
        kernel_initializer=EFFICIENTNET_CONV_INIT,
        name="stem_conv",
    )(x)
    x = norm(x, name="stem_bn")
    return layers.Activation(activation, name="stem_activation")(x)


def EfficientNet(
    width_coefficient,
    depth_coefficient,
    default_size=None,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    depth_divisor=8,
    activation="swish",
    stages=STAGES,
    *,
    name,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    model,
    inference_bn,
):
    """EfficientNet-B0 scaled by ``width_coefficient`` (channels, rounded to
    multiples of ``depth_divisor``) and ``depth_coefficient`` (block repeats,
    rounded up), with drop connect rising linearly from 0 to ``drop_connect_rate``
    over the blocks. The public functions are this with the paper's coefficients.
    ``model`` names the function whose registry rows (input sizes, weight files)
    apply; ``default_size`` (the registry's when ``None``) replaces its size."""
    img_input = builder.model_input(
        model=model,
        default_size=default_size,
        inference_bn=inference_bn,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
    )
    norm = bn_factory(inference_bn)

    def round_filters(filters):
        return make_divisible(filters * width_coefficient, depth_divisor)

    x = stem(
        img_input,
        round_filters(32),
        activation=activation,
        norm=norm,
        imagenet=weights == "imagenet",
    )
    x = efficientnet_stages(
        x,
        stages,
        block_of=lambda stage: mbconv_block,
        round_filters=round_filters,
        depth_coefficient=depth_coefficient,
        total_blocks=sum(round_repeats(stage.repeats, depth_coefficient) for stage in stages),
        drop_connect_rate=drop_connect_rate,
        activation=activation,
        norm=norm,
    )

    x = layers.Conv2D(
        round_filters(1280),
        1,
        padding="same",
        use_bias=False,
        kernel_initializer=EFFICIENTNET_CONV_INIT,
        name="top_conv",
    )(x)
    x = norm(x, name="top_bn")
    x = layers.Activation(activation, name="top_activation")(x)

    x = efficientnet_top(
        x,
        include_top=include_top,
        pooling=pooling,
        dropout_rate=dropout_rate,
        classes=classes,
        classifier_activation=classifier_activation,
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
def EfficientNetB0(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb0",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB0"],
        model="EfficientNetB0",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetB1(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb1",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB1"],
        model="EfficientNetB1",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetB2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb2",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB2"],
        model="EfficientNetB2",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetB3(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb3",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB3"],
        model="EfficientNetB3",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetB4(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb4",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB4"],
        model="EfficientNetB4",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetB5(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb5",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB5"],
        model="EfficientNetB5",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetB6(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb6",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB6"],
        model="EfficientNetB6",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetB7(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="efficientnetb7",
    inference_bn=False,
):
    return EfficientNet(
        **VARIANTS["EfficientNetB7"],
        model="EfficientNetB7",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )
