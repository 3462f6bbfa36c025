"""InceptionResNetV2 (Szegedy et al., "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017).

Stem, ``mixed_5b``, 10 Inception-ResNet-A blocks (35x35), reduction
``mixed_6a``, 20 Inception-ResNet-B blocks (17x17), reduction ``mixed_7a``,
10 Inception-ResNet-C blocks (8x8), ``conv_7b``. Each Inception-ResNet block adds
its branches, joined and projected by a 1x1 convolution and scaled, to its input
(`CustomScaleLayer`).

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads
``inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5`` (with the top) or
``inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5``. Like Keras,
the convolution units inside the blocks and the scaled sums are not named
(``conv2d_N``, ``batch_normalization_N``, ``activation_N``,
``custom_scale_layer_N``), and every BatchNormalization has no gamma
(``scale=False``). Default input {default_size}x{default_size} (any size from {min_size}x{min_size} without the top);
preprocessing: ``"{mode}"`` mode. With ``inference_bn=True`` every BatchNormalization
runs in inference mode.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import concat, conv2d_bn, inception_stem
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import CustomScaleLayer, bn_factory, channel_axis

__all__ = ["InceptionResNetV2", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "inception_resnet_v2")

preprocess_input = builder.module_preprocessor("inception_resnet_v2", "InceptionResNetV2")

#: What the docstring of `InceptionResNetV2` says of its own.
DOC = docs.ModelDoc(
    top="the classifier (``avg_pool`` + ``predictions``)",
    inference_bn=docs.PINNED_BN_WITHOUT_GAMMA_DOC,
)


def mixed_5b(x, *, norm):
    """1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1: 35x35x320."""
    b0 = conv2d_bn(x, 96, 1, norm=norm)

    b1 = conv2d_bn(x, 48, 1, norm=norm)
    b1 = conv2d_bn(b1, 64, 5, norm=norm)

    b2 = conv2d_bn(x, 64, 1, norm=norm)
    b2 = conv2d_bn(b2, 96, 3, norm=norm)
    b2 = conv2d_bn(b2, 96, 3, norm=norm)

    pool = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    pool = conv2d_bn(pool, 64, 1, norm=norm)
    return concat([b0, b1, b2, pool], name="mixed_5b")


def residual_sum(x, branches, *, scale, name, activation=True):
    """Join ``branches`` (``<name>_mixed``), project back to ``x``'s channels with a
    1x1 convolution with bias and no BN (``<name>_conv``), add ``scale`` times that
    to ``x`` and, unless ``activation`` is false, apply ReLU (``<name>_ac``)."""
    mixed = concat(branches, name=f"{name}_mixed")
    up = layers.Conv2D(x.shape[channel_axis()], 1, padding="same", name=f"{name}_conv")(mixed)
    x = CustomScaleLayer(scale)([x, up])
    if activation:
        x = layers.Activation("relu", name=f"{name}_ac")(x)
    return x


def block35(x, index, *, norm):
    """Inception-ResNet-A: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3, scale 0.17."""
    b0 = conv2d_bn(x, 32, 1, norm=norm)

    b1 = conv2d_bn(x, 32, 1, norm=norm)
    b1 = conv2d_bn(b1, 32, 3, norm=norm)

    b2 = conv2d_bn(x, 32, 1, norm=norm)
    b2 = conv2d_bn(b2, 48, 3, norm=norm)
    b2 = conv2d_bn(b2, 64, 3, norm=norm)
    return residual_sum(x, [b0, b1, b2], scale=0.17, name=f"block35_{index}")


def reduction_a(x, *, norm):
    """3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool /2 (``mixed_6a``): 17x17x1088."""
    b0 = conv2d_bn(x, 384, 3, norm=norm, strides=2, padding="valid")

    b1 = conv2d_bn(x, 256, 1, norm=norm)
    b1 = conv2d_bn(b1, 256, 3, norm=norm)
    b1 = conv2d_bn(b1, 384, 3, norm=norm, strides=2, padding="valid")

    pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    return concat([b0, b1, pool], name="mixed_6a")


def block17(x, index, *, norm):
    """Inception-ResNet-B: 1x1 | 1x1 -> 1x7 -> 7x1, scale 0.1."""
    b0 = conv2d_bn(x, 192, 1, norm=norm)

    b1 = conv2d_bn(x, 128, 1, norm=norm)
    b1 = conv2d_bn(b1, 160, (1, 7), norm=norm)
    b1 = conv2d_bn(b1, 192, (7, 1), norm=norm)
    return residual_sum(x, [b0, b1], scale=0.1, name=f"block17_{index}")


def reduction_b(x, *, norm):
    """1x1 -> 3x3/2 | 1x1 -> 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool /2
    (``mixed_7a``): 8x8x2080."""
    b0 = conv2d_bn(x, 256, 1, norm=norm)
    b0 = conv2d_bn(b0, 384, 3, norm=norm, strides=2, padding="valid")

    b1 = conv2d_bn(x, 256, 1, norm=norm)
    b1 = conv2d_bn(b1, 288, 3, norm=norm, strides=2, padding="valid")

    b2 = conv2d_bn(x, 256, 1, norm=norm)
    b2 = conv2d_bn(b2, 288, 3, norm=norm)
    b2 = conv2d_bn(b2, 320, 3, norm=norm, strides=2, padding="valid")

    pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    return concat([b0, b1, b2, pool], name="mixed_7a")


def block8(x, index, *, norm, scale=0.2, activation=True):
    """Inception-ResNet-C: 1x1 | 1x1 -> 1x3 -> 3x1, scale 0.2 (the last one:
    scale 1 and no ReLU)."""
    b0 = conv2d_bn(x, 192, 1, norm=norm)

    b1 = conv2d_bn(x, 192, 1, norm=norm)
    b1 = conv2d_bn(b1, 224, (1, 3), norm=norm)
    b1 = conv2d_bn(b1, 256, (3, 1), norm=norm)
    return residual_sum(x, [b0, b1], scale=scale, name=f"block8_{index}", activation=activation)


@builder.model_function(DOC)
def InceptionResNetV2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_resnet_v2",
    inference_bn=False,
):
    img_input = builder.model_input(
        model="InceptionResNetV2",
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

    x = inception_stem(img_input, norm=norm)
    x = mixed_5b(x, norm=norm)
    for index in range(1, 11):
        x = block35(x, index, norm=norm)
    x = reduction_a(x, norm=norm)
    for index in range(1, 21):
        x = block17(x, index, norm=norm)
    x = reduction_b(x, norm=norm)
    for index in range(1, 10):
        x = block8(x, index, norm=norm)
    x = block8(x, 10, norm=norm, scale=1.0, activation=False)
    x = conv2d_bn(x, 1536, 1, norm=norm, name="conv_7b")

    x = builder.classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        named_pooling=False,
    )
    return builder.create_model(
        img_input,
        x,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        model="InceptionResNetV2",
        include_top=include_top,
    )
