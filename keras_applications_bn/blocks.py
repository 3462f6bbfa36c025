"""Building blocks that more than one architecture family uses.

A block used by one family only lives in that family's module; what two
families would otherwise write twice lives here.
"""

import keras
from keras import layers

from keras_applications_bn.layers import channel_axis

__all__ = ["make_divisible", "correct_pad", "concat", "require_channels_last"]


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
