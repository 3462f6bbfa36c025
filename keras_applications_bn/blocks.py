"""Building blocks that more than one architecture family uses.

A block used by one family only lives in that family's module; what two
families would otherwise write twice lives here.
"""

from keras import layers

from keras_applications_bn.layers import batch_norm, channel_axis

__all__ = ["make_divisible", "correct_pad", "concat", "conv2d_bn", "inception_stem"]


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
    one pixel less at the top/left when the side is even (or unknown)."""
    axis = 2 if channel_axis() == 1 else 1
    rows, cols = inputs.shape[axis : axis + 2]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    if rows is None:
        short = (1, 1)
    else:
        short = (1 - rows % 2, 1 - cols % 2)
    half = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((half[0] - short[0], half[0]), (half[1] - short[1], half[1]))


def concat(branches, name=None):
    """Join branches along the channel axis."""
    return layers.Concatenate(axis=channel_axis(), name=name)(branches)


def conv2d_bn(x, filters, kernel_size, *, inference_bn, strides=1, padding="same", name=None):
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
    x = batch_norm(x, inference_bn, scale=False, name=None if name is None else f"{name}_bn")
    return layers.Activation("relu", name=None if name is None else f"{name}_ac")(x)


def inception_stem(x, *, inference_bn):
    """The stem of InceptionV3 and InceptionResNetV2: five :func:`conv2d_bn` units
    and two 3x3/2 max poolings, 299x299x3 -> 35x35x192 (unnamed layers)."""
    x = conv2d_bn(x, 32, 3, inference_bn=inference_bn, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, inference_bn=inference_bn, padding="valid")
    x = conv2d_bn(x, 64, 3, inference_bn=inference_bn)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, inference_bn=inference_bn, padding="valid")
    x = conv2d_bn(x, 192, 3, inference_bn=inference_bn, padding="valid")
    return layers.MaxPooling2D(3, strides=2)(x)
