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
"""

import collections

from keras import initializers, layers

from keras_applications_bn import imagenet_utils, legacy
from keras_applications_bn._models import builder
from keras_applications_bn._models.checks import check_bool
from keras_applications_bn._models.blocks import (
    EFFICIENTNET_CONV_INIT,
    drop_connect_residual,
    efficientnet_classifier,
    inside_model_docstring,
    inside_model_preprocessor,
    round_repeats,
    squeeze_excite,
)
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
__doc__ = builder.module_docstring(__doc__, "efficientnet_v2")

preprocess_input = inside_model_preprocessor("EfficientNetV2")

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
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        kernel_initializer=EFFICIENTNET_CONV_INIT, name=f"{name}_conv",
    )(x)
    x = norm(x, name=f"{name}_bn")
    if activation is None:
        return x
    return layers.Activation(activation, name=f"{name}_activation")(x)


def mbconv_block(
    x, *, filters_in, filters_out, kernel_size, strides, expand_ratio, se_ratio,
    drop_rate, activation, norm, name,
):
    """1x1 expansion, depthwise ``kernel_size`` convolution (``{name}dwconv2``),
    squeeze-and-excitation, 1x1 linear projection; an identity skip with drop
    connect when the shape is kept."""
    inputs = x
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = conv_bn(
            x, filters, 1, activation=activation, norm=norm,
            name=f"{name}expand",
        )
    x = layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding="same", use_bias=False,
        depthwise_initializer=EFFICIENTNET_CONV_INIT, name=f"{name}dwconv2",
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
    x, *, filters_in, filters_out, kernel_size, strides, expand_ratio, se_ratio,
    drop_rate, activation, norm, name,
):
    """One ``kernel_size`` convolution that expands (and strides), optional
    squeeze-and-excitation, 1x1 linear projection; without expansion the
    projection itself is the ``kernel_size`` convolution, with an activation.
    An identity skip with drop connect when the shape is kept."""
    inputs = x
    if expand_ratio != 1:
        x = conv_bn(
            x, filters_in * expand_ratio, kernel_size, strides=strides, activation=activation,
            norm=norm, name=f"{name}expand",
        )
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, max(1, int(filters_in * se_ratio)), activation=activation, name=name)
    if expand_ratio != 1:
        x = conv_bn(x, filters_out, 1, norm=norm, name=f"{name}project")
    else:
        x = conv_bn(
            x, filters_out, kernel_size, strides=strides, activation=activation,
            norm=norm, name=f"{name}project",
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
    default_size,
    stages,
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
        model=model, default_size=default_size, inference_bn=inference_bn,
        input_tensor=input_tensor, input_shape=input_shape, include_top=include_top,
        weights=weights, classes=classes, classifier_activation=classifier_activation,
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
        x, round_to_divisor(stages[0].filters_in), 3, strides=2, activation=activation,
        norm=norm, name="stem",
    )

    total = sum(stage.repeats for stage in stages)
    index = 0
    for i, stage in enumerate(stages, start=1):
        block = fused_mbconv_block if stage.fused else mbconv_block
        filters_in = round_to_divisor(stage.filters_in)
        filters_out = round_to_divisor(stage.filters_out)
        for j in range(round_repeats(stage.repeats, depth_coefficient)):
            x = block(
                x, filters_in=filters_in if j == 0 else filters_out, filters_out=filters_out,
                kernel_size=stage.kernel_size, strides=stage.strides if j == 0 else 1,
                expand_ratio=stage.expand_ratio, se_ratio=stage.se_ratio,
                drop_rate=drop_connect_rate * index / total, activation=activation,
                norm=norm, name=f"block{i}{chr(ord('a') + j)}_",
            )
            index += 1

    x = conv_bn(x, round_to_divisor(1280), 1, activation=activation, norm=norm, name="top")

    if include_top:
        x = efficientnet_classifier(
            x, dropout_rate=dropout_rate, classes=classes,
            classifier_activation=classifier_activation,
            bias_initializer=initializers.Constant(0.0),  # zeros, as Keras configures it
        )
    else:
        x = builder.pooling_head(x, pooling)
    return builder.create_model(
        img_input, x, input_tensor=input_tensor, name=name, weights=weights,
        model=model, include_top=include_top,
    )


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
        1.0, 1.0, default_size=None, stages=STAGES["b"], name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, model="EfficientNetV2B0",
        inference_bn=inference_bn,
    )


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
        1.0, 1.1, default_size=None, stages=STAGES["b"], name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, model="EfficientNetV2B1",
        inference_bn=inference_bn,
    )


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
        1.1, 1.2, default_size=None, stages=STAGES["b"], name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, model="EfficientNetV2B2",
        inference_bn=inference_bn,
    )


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
        1.2, 1.4, default_size=None, stages=STAGES["b"], name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, model="EfficientNetV2B3",
        inference_bn=inference_bn,
    )


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
        1.0, 1.0, default_size=None, stages=STAGES["s"], name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, model="EfficientNetV2S",
        inference_bn=inference_bn,
    )


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
        1.0, 1.0, default_size=None, stages=STAGES["m"], name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, model="EfficientNetV2M",
        inference_bn=inference_bn,
    )


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
        1.0, 1.0, default_size=None, stages=STAGES["l"], name=name,
        include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing, model="EfficientNetV2L",
        inference_bn=inference_bn,
    )


INCLUDE_PREPROCESSING_DOC = (
    "        include_preprocessing: whether the model rescales (and, for B0-B3,\n"
    "            normalises) its [0, 255] input itself (the default, as the official\n"
    "            weights expect); ``False`` leaves that to you.\n"
)

for _fn in __all__[:7]:
    globals()[_fn].__doc__ = inside_model_docstring(_fn, extra_args=INCLUDE_PREPROCESSING_DOC)
del _fn

legacy.accept_injected_modules(globals())
