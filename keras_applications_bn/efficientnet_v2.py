"""EfficientNetV2 B0-B3, S, M and L (Tan and Le, "EfficientNetV2: Smaller Models
and Faster Training", ICML 2021).

The early stages use fused MBConv blocks (one full convolution in place of the
1x1 expansion and the depthwise convolution), the later ones MBConv blocks with
squeeze-and-excitation. B0-B3 share one stage table, scaled in width and depth;
S, M and L have their own tables.

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``efficientnetv2-{b0,b1,b2,b3,s,m,l}.h5`` (with the
top) or ``efficientnetv2-{...}_notop.h5``. Default input {default_sizes}
pixels square for B0, B1, B2, B3, S, M and L (any size from {min_size}x{min_size}
without the top).

Preprocessing is part of the model (``include_preprocessing=True``, the default):
it takes RGB images in [0, 255]; B0-B3 rescale them to [0, 1] and normalise each
channel with the ImageNet mean and standard deviation (``Rescaling``,
``Normalization`` with fixed statistics), S, M and L rescale them to [-1, 1]. So
``preprocess_input`` is the identity. With ``inference_bn=True`` every
BatchNormalization runs in inference mode.

The module is longer than 400 lines because it keeps the four stage tables, the
blocks, the builder and the seven model functions (Keras' signatures) together.
"""

import collections

from keras import initializers, layers

from keras_applications_bn import imagenet_utils
from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import (
    EFFICIENTNET_CONV_INIT,
    drop_connect_residual,
    efficientnet_stages,
    efficientnet_top,
    squeeze_excite,
)
from keras_applications_bn._models.checks import check_bool
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory, channel_axis

__all__ = [
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2S",
    "EfficientNetV2M",
    "EfficientNetV2L",
    "preprocess_input",
    "decode_predictions",
]
__doc__ = docs.module_docstring(__doc__, "efficientnet_v2")

preprocess_input = builder.module_preprocessor("efficientnet_v2", "EfficientNetV2")

#: Momentum of every BatchNormalization of EfficientNetV2.
BN_MOMENTUM = 0.9


#: One stage of blocks before scaling: ``fused`` picks FusedMBConv over MBConv.
Stage = collections.namedtuple(
    "Stage", "fused kernel_size repeats filters_in filters_out expand_ratio strides se_ratio"
)

#: The stage tables (B0-B3 share the base one; Table 4 of the paper gives S).
STAGES = {
    "b": (
        Stage(True, 3, 1, 32, 16, 1, 1, 0.0),
        Stage(True, 3, 2, 16, 32, 4, 2, 0.0),
        Stage(True, 3, 2, 32, 48, 4, 2, 0.0),
        Stage(False, 3, 3, 48, 96, 4, 2, 0.25),
        Stage(False, 3, 5, 96, 112, 6, 1, 0.25),
        Stage(False, 3, 8, 112, 192, 6, 2, 0.25),
    ),
    "s": (
        Stage(True, 3, 2, 24, 24, 1, 1, 0.0),
        Stage(True, 3, 4, 24, 48, 4, 2, 0.0),
        Stage(True, 3, 4, 48, 64, 4, 2, 0.0),
        Stage(False, 3, 6, 64, 128, 4, 2, 0.25),
        Stage(False, 3, 9, 128, 160, 6, 1, 0.25),
        Stage(False, 3, 15, 160, 256, 6, 2, 0.25),
    ),
    "m": (
        Stage(True, 3, 3, 24, 24, 1, 1, 0.0),
        Stage(True, 3, 5, 24, 48, 4, 2, 0.0),
        Stage(True, 3, 5, 48, 80, 4, 2, 0.0),
        Stage(False, 3, 7, 80, 160, 4, 2, 0.25),
        Stage(False, 3, 14, 160, 176, 6, 1, 0.25),
        Stage(False, 3, 18, 176, 304, 6, 2, 0.25),
        Stage(False, 3, 5, 304, 512, 6, 1, 0.25),
    ),
    "l": (
        Stage(True, 3, 4, 32, 32, 1, 1, 0.0),
        Stage(True, 3, 7, 32, 64, 4, 2, 0.0),
        Stage(True, 3, 7, 64, 96, 4, 2, 0.0),
        Stage(False, 3, 10, 96, 192, 4, 2, 0.25),
        Stage(False, 3, 19, 192, 224, 6, 1, 0.25),
        Stage(False, 3, 25, 224, 384, 6, 2, 0.25),
        Stage(False, 3, 7, 384, 640, 6, 1, 0.25),
    ),
}

#: Each model function's stage table and scaling (its input size is the
#: registry's): the keyword arguments of `EfficientNetV2` that make it.
VARIANTS = {
    "EfficientNetV2B0": dict(width_coefficient=1.0, depth_coefficient=1.0, stages=STAGES["b"]),
    "EfficientNetV2B1": dict(width_coefficient=1.0, depth_coefficient=1.1, stages=STAGES["b"]),
    "EfficientNetV2B2": dict(width_coefficient=1.1, depth_coefficient=1.2, stages=STAGES["b"]),
    "EfficientNetV2B3": dict(width_coefficient=1.2, depth_coefficient=1.4, stages=STAGES["b"]),
    "EfficientNetV2S": dict(width_coefficient=1.0, depth_coefficient=1.0, stages=STAGES["s"]),
    "EfficientNetV2M": dict(width_coefficient=1.0, depth_coefficient=1.0, stages=STAGES["m"]),
    "EfficientNetV2L": dict(width_coefficient=1.0, depth_coefficient=1.0, stages=STAGES["l"]),
}

#: What the docstrings of the model functions say of their own.
DOC = docs.ModelDoc(
    top="the classifier (``top_dropout`` + ``predictions``)",
    args={
        "include_preprocessing": (
            "whether the model rescales (and, for B0-B3,\n"
            "normalises) its [0, 255] input itself (the default, as the official\n"
            "weights expect); ``False`` leaves that to you."
        ),
    },
    returns=docs.IN_MODEL_RETURNS,
)


def round_filters(filters, width_coefficient, divisor=8, min_depth=8):
    """``filters * width_coefficient`` rounded to the nearest multiple of
    ``divisor`` (at least ``min_depth``). Unlike EfficientNet's
    (`blocks.make_divisible`) there is no 10% floor: B3's 16-filter stage keeps
    16 channels (19.2 rounded) where the v1 rule gives 24."""
    scaled = filters * width_coefficient
    return int(max(min_depth or divisor, int(scaled + divisor / 2) // divisor * divisor))


def conv_bn(x, filters, kernel_size, *, strides=1, activation=None, norm, name):
    """Convolution without bias ("same" padding), BN (momentum 0.9) and, when
    ``activation`` is given, the activation: ``{name}_conv``/``_bn``/``_activation``
    from ``name`` = ``"block1a_expand"`` etc."""
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=EFFICIENTNET_CONV_INIT,
        name=f"{name}_conv",
    )(x)
    x = norm(x, name=f"{name}_bn")
    if activation is None:
        return x
    return layers.Activation(activation, name=f"{name}_activation")(x)


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
    """1x1 expansion, depthwise ``kernel_size`` convolution (``{name}dwconv2``),
    squeeze-and-excitation, 1x1 linear projection; an identity skip with drop
    connect when the shape is kept."""
    inputs = x
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = conv_bn(
            x,
            filters,
            1,
            activation=activation,
            norm=norm,
            name=f"{name}expand",
        )
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        depthwise_initializer=EFFICIENTNET_CONV_INIT,
        name=f"{name}dwconv2",
    )(x)
    x = norm(x, name=f"{name}bn")
    x = layers.Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, max(1, int(filters_in * se_ratio)), activation=activation, name=name)
    x = conv_bn(x, filters_out, 1, norm=norm, name=f"{name}project")
    if strides == 1 and filters_in == filters_out:
        x = drop_connect_residual(x, inputs, drop_rate, name=name)
    return x


def fused_mbconv_block(
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
    """One ``kernel_size`` convolution that expands (and strides), optional
    squeeze-and-excitation, 1x1 linear projection; without expansion the
    projection itself is the ``kernel_size`` convolution, with an activation.
    An identity skip with drop connect when the shape is kept."""
    inputs = x
    if expand_ratio != 1:
        x = conv_bn(
            x,
            filters_in * expand_ratio,
            kernel_size,
            strides=strides,
            activation=activation,
            norm=norm,
            name=f"{name}expand",
        )
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, max(1, int(filters_in * se_ratio)), activation=activation, name=name)
    if expand_ratio != 1:
        x = conv_bn(x, filters_out, 1, norm=norm, name=f"{name}project")
    else:
        x = conv_bn(
            x,
            filters_out,
            kernel_size,
            strides=strides,
            activation=activation,
            norm=norm,
            name=f"{name}project",
        )
    if strides == 1 and filters_in == filters_out:
        x = drop_connect_residual(x, inputs, drop_rate, name=name)
    return x


def preprocessing(x, *, imagenet_statistics):
    """In-model preprocessing of [0, 255] images: to [0, 1] and normalised by the
    ImageNet statistics (B0-B3 on 3 channels), else to [-1, 1]."""
    if imagenet_statistics:
        x = layers.Rescaling(scale=1.0 / 255)(x)
        return layers.Normalization(
            mean=list(imagenet_utils.IMAGENET_MEAN_RGB),
            variance=[std**2 for std in imagenet_utils.IMAGENET_STD_RGB],
            axis=3 if channel_axis() == -1 else 1,
        )(x)
    return layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)


def EfficientNetV2(
    width_coefficient,
    depth_coefficient,
    stages,
    default_size=None,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    depth_divisor=8,
    min_depth=8,
    activation="swish",
    *,
    name,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    include_preprocessing,
    model,
    inference_bn,
):
    """The network of ``stages`` scaled by ``width_coefficient`` (channels) and
    ``depth_coefficient`` (block repeats, rounded up). Drop connect rises linearly
    over the blocks, counted (as in Keras and the official weights' training)
    against the unscaled number of blocks. The public functions are this with
    each variant's table and coefficients. ``model`` names the function whose
    registry rows (input sizes, weight files) apply; ``default_size`` (the
    registry's when ``None``) replaces its size."""
    include_preprocessing = check_bool(include_preprocessing, "include_preprocessing")
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
    norm = bn_factory(inference_bn, momentum=BN_MOMENTUM)

    def round_to_divisor(filters):
        return round_filters(filters, width_coefficient, depth_divisor, min_depth)

    x = img_input
    if include_preprocessing:
        channels = img_input.shape[3 if channel_axis() == -1 else 1]
        x = preprocessing(x, imagenet_statistics=stages is STAGES["b"] and channels == 3)
    x = conv_bn(
        x,
        round_to_divisor(stages[0].filters_in),
        3,
        strides=2,
        activation=activation,
        norm=norm,
        name="stem",
    )

    x = efficientnet_stages(
        x,
        stages,
        block_of=lambda stage: fused_mbconv_block if stage.fused else mbconv_block,
        round_filters=round_to_divisor,
        depth_coefficient=depth_coefficient,
        total_blocks=sum(stage.repeats for stage in stages),  # unscaled, as in Keras
        drop_connect_rate=drop_connect_rate,
        activation=activation,
        norm=norm,
    )

    x = conv_bn(x, round_to_divisor(1280), 1, activation=activation, norm=norm, name="top")

    x = efficientnet_top(
        x,
        include_top=include_top,
        pooling=pooling,
        dropout_rate=dropout_rate,
        classes=classes,
        classifier_activation=classifier_activation,
        bias_initializer=initializers.Constant(0.0),  # zeros, as Keras configures it
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
def EfficientNetV2B0(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="efficientnetv2-b0",
    inference_bn=False,
):
    return EfficientNetV2(
        **VARIANTS["EfficientNetV2B0"],
        model="EfficientNetV2B0",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetV2B1(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="efficientnetv2-b1",
    inference_bn=False,
):
    return EfficientNetV2(
        **VARIANTS["EfficientNetV2B1"],
        model="EfficientNetV2B1",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetV2B2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="efficientnetv2-b2",
    inference_bn=False,
):
    return EfficientNetV2(
        **VARIANTS["EfficientNetV2B2"],
        model="EfficientNetV2B2",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetV2B3(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="efficientnetv2-b3",
    inference_bn=False,
):
    return EfficientNetV2(
        **VARIANTS["EfficientNetV2B3"],
        model="EfficientNetV2B3",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetV2S(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="efficientnetv2-s",
    inference_bn=False,
):
    return EfficientNetV2(
        **VARIANTS["EfficientNetV2S"],
        model="EfficientNetV2S",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetV2M(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="efficientnetv2-m",
    inference_bn=False,
):
    return EfficientNetV2(
        **VARIANTS["EfficientNetV2M"],
        model="EfficientNetV2M",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def EfficientNetV2L(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="efficientnetv2-l",
    inference_bn=False,
):
    return EfficientNetV2(
        **VARIANTS["EfficientNetV2L"],
        model="EfficientNetV2L",
        name=name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        inference_bn=inference_bn,
    )
