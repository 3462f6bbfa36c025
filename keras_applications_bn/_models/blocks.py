"""Building blocks that more than one architecture family uses.

A block used by one family only lives in that family's module; what two
families would otherwise write twice lives here.
"""

import math
import warnings

import keras
from keras import layers

from keras_applications_bn import imagenet_utils, legacy
from keras_applications_bn._models import builder
from keras_applications_bn.layers import channel_axis

__all__ = [
    "make_divisible",
    "correct_pad",
    "bn_relu",
    "concat",
    "conv2d_bn",
    "inception_stem",
    "require_channels_last",
    "weights_rows",
    "EFFICIENTNET_CONV_INIT",
    "EFFICIENTNET_DENSE_INIT",
    "round_repeats",
    "squeeze_excite",
    "drop_connect_residual",
    "efficientnet_stages",
    "efficientnet_top",
]


def make_divisible(value, divisor=8, min_value=None):
    """``value`` rounded to the nearest multiple of ``divisor`` (at least
    ``min_value``, default ``divisor``), never more than 10% below ``value``.

    MobileNetV2/V3 and EfficientNet round their channel counts with this rule; the
    official weight files have the channel counts it gives.
    """
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def correct_pad(inputs, kernel_size):
    """The ``ZeroPadding2D`` padding that makes a strided ``"valid"`` convolution
    of ``kernel_size`` behave like TensorFlow's ``"same"`` padding on ``inputs``:
    one pixel less at the top/left when the side is even (or unknown).

    The rule of keras_applications 1.0.8's ``correct_pad``, written once in
    `legacy.correct_pad` (which the Keras-like modules may import, and
    this one not) and read here with the image data format of Keras 3.
    """
    return legacy.correct_pad(keras.backend, inputs, kernel_size)


def bn_relu(x, norm, *, name):
    """BN (``{name}_bn``), then ReLU (``{name}_relu``, an ``Activation`` layer)."""
    x = norm(x, name=f"{name}_bn")
    return layers.Activation("relu", name=f"{name}_relu")(x)


def concat(branches, name=None):
    """Join branches along the channel axis."""
    return layers.Concatenate(axis=channel_axis(), name=name)(branches)


def conv2d_bn(x, filters, kernel_size, *, norm, strides=1, padding="same", name=None):
    """The Inception unit (InceptionV3, InceptionResNetV2): a convolution without
    bias, BatchNormalization without gamma (``scale=False``, as in the official
    files), ReLU.

    With a ``name`` the layers are ``name``, ``name + "_bn"`` and ``name + "_ac"``;
    without one they get Keras' automatic names (``conv2d_N``,
    ``batch_normalization_N``, ``activation_N``), as in Keras' models.
    """
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name
    )(x)
    x = norm(x, scale=False, name=None if name is None else f"{name}_bn")
    return layers.Activation("relu", name=None if name is None else f"{name}_ac")(x)


def inception_stem(x, *, norm):
    """The stem of InceptionV3 and InceptionResNetV2: five `conv2d_bn` units
    and two 3x3/2 max poolings, 299x299x3 -> 35x35x192 (unnamed layers)."""
    x = conv2d_bn(x, 32, 3, norm=norm, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, norm=norm, padding="valid")
    x = conv2d_bn(x, 64, 3, norm=norm)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, norm=norm, padding="valid")
    x = conv2d_bn(x, 192, 3, norm=norm, padding="valid")
    return layers.MaxPooling2D(3, strides=2)(x)


def require_channels_last(family):
    """Refuse the ``channels_first`` image data format, as Keras does for the
    families whose official models exist in ``channels_last`` only (DenseNet, NASNet)."""
    if keras.config.image_data_format() == "channels_first":
        raise ValueError(
            f"{family} does not support the 'channels_first' image data format. Call "
            "keras.config.set_image_data_format('channels_last') (or set "
            '"image_data_format": "channels_last" in ~/.keras/keras.json) before '
            "building the model."
        )


def weights_rows(input_shape, weights, *, family, default_size, weight_sizes, stacklevel=3):
    """The square input size whose ImageNet file a model loads.

    For families with ImageNet weights at several square sizes (``weight_sizes``:
    MobileNet, MobileNetV2; MobileNetV3 has only 224) the file is that of the
    input's own size when the input is square and of one of those sizes; any
    other input loads the ``default_size`` file, with a warning as in Keras.
    Without ImageNet weights this is just the input's rows (maybe ``None``),
    which goes into the model's default name.

    ``stacklevel`` points the warning at the user's call (3: called from the
    public model function itself).
    """
    rows, cols = imagenet_utils.spatial_size(input_shape)
    if weights != "imagenet":
        return rows
    size = imagenet_utils.weights_size(
        input_shape, default_size=default_size, weight_sizes=weight_sizes
    )
    if (rows, cols) != (size, size):
        given = "of unspecified size" if None in (rows, cols) else f"{rows}x{cols}"
        warnings.warn(
            f"{family} has ImageNet weights for square inputs of size "
            f"{', '.join(map(str, weight_sizes))} only; the input is {given}, so "
            f"the weights for {size}x{size} are loaded.",
            stacklevel=stacklevel,
        )
    return size


# --------------------------------------------------------------------------
# EfficientNet and EfficientNetV2
# --------------------------------------------------------------------------

#: Initialiser of every convolution of EfficientNet (v1 and v2): He-style
#: truncated normal scaled by fan-out.
EFFICIENTNET_CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
#: Initialiser of EfficientNet's classifier: uniform, variance 1/3 of fan-out.
EFFICIENTNET_DENSE_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}


def round_repeats(repeats, depth_coefficient):
    """How many times a stage repeats its block once scaled in depth (rounded up)."""
    return int(math.ceil(depth_coefficient * repeats))


def squeeze_excite(x, squeezed_filters, *, activation, name):
    """Squeeze-and-excitation (Hu et al., 2018) as EfficientNet (v1 and v2) has it:
    global average pooling (``{name}se_squeeze``) reshaped to 1x1, a 1x1
    convolution down to ``squeezed_filters`` with ``activation``
    (``{name}se_reduce``), one back up with a sigmoid (``{name}se_expand``), and
    the channels of ``x`` scaled by the result (``{name}se_excite``)."""
    axis = channel_axis()
    filters = x.shape[axis]
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    shape = (filters, 1, 1) if axis == 1 else (1, 1, filters)
    se = layers.Reshape(shape, name=f"{name}se_reshape")(se)
    se = layers.Conv2D(
        squeezed_filters,
        1,
        padding="same",
        activation=activation,
        kernel_initializer=EFFICIENTNET_CONV_INIT,
        name=f"{name}se_reduce",
    )(se)
    se = layers.Conv2D(
        filters,
        1,
        padding="same",
        activation="sigmoid",
        kernel_initializer=EFFICIENTNET_CONV_INIT,
        name=f"{name}se_expand",
    )(se)
    return layers.multiply([x, se], name=f"{name}se_excite")


def drop_connect_residual(x, shortcut, drop_rate, *, name):
    """``x + shortcut``, where in training whole samples of ``x`` are dropped with
    probability ``drop_rate`` (stochastic depth, "drop connect": a ``Dropout``
    ``{name}drop`` broadcast over height, width and channels) — the identity
    skip of EfficientNet's (v1 and v2) blocks (``{name}add``)."""
    if drop_rate > 0:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
    return layers.add([x, shortcut], name=f"{name}add")


def efficientnet_stages(
    x,
    stages,
    *,
    block_of,
    round_filters,
    depth_coefficient,
    total_blocks,
    drop_connect_rate,
    activation,
    norm,
):
    """The stages of EfficientNet (v1 and v2): each stage's block (``block_of(stage)``)
    repeated ``round_repeats(stage.repeats, depth_coefficient)`` times, the first
    one striding and widening from ``stage.filters_in`` to ``stage.filters_out``
    (both through ``round_filters``). Layers are named ``block{stage}{a, b, ...}_``;
    the drop connect rate rises linearly from 0, by ``drop_connect_rate /
    total_blocks`` per block."""
    index = 0
    for i, stage in enumerate(stages, start=1):
        block = block_of(stage)
        filters_in, filters_out = round_filters(stage.filters_in), round_filters(stage.filters_out)
        for j in range(round_repeats(stage.repeats, depth_coefficient)):
            x = block(
                x,
                filters_in=filters_in if j == 0 else filters_out,
                filters_out=filters_out,
                kernel_size=stage.kernel_size,
                strides=stage.strides if j == 0 else 1,
                expand_ratio=stage.expand_ratio,
                se_ratio=stage.se_ratio,
                drop_rate=drop_connect_rate * index / total_blocks,
                activation=activation,
                norm=norm,
                name=f"block{i}{chr(ord('a') + j)}_",
            )
            index += 1
    return x


def efficientnet_top(
    x,
    *,
    include_top,
    pooling,
    dropout_rate,
    classes,
    classifier_activation,
    bias_initializer="zeros",
):
    """EfficientNet's (v1 and v2) top: global average pooling (``avg_pool``),
    dropout (``top_dropout``, absent when the rate is 0) and ``predictions``; or,
    without the top, ``pooling`` (``avg_pool``/``max_pool``)."""
    if not include_top:
        return builder.pooling_head(x, pooling)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    return layers.Dense(
        int(classes),
        activation=classifier_activation,
        kernel_initializer=EFFICIENTNET_DENSE_INIT,
        bias_initializer=bias_initializer,
        name="predictions",
    )(x)
