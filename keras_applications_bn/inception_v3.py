"""InceptionV3 (Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016).

Layer order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``inception_v3_weights_tf_dim_ordering_tf_kernels.h5``
(with the top) or ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``.
Like Keras, the convolution units are not named, so their layers get Keras'
automatic names (``conv2d_N``, ``batch_normalization_N``, ``activation_N``), and
every BatchNormalization has no gamma (``scale=False``), as in the official files.
Default input {default_size}x{default_size} (any size from {min_size}x{min_size} without the top); preprocessing:
``"{mode}"`` mode. With ``inference_bn=True`` every BatchNormalization runs in
inference mode.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import concat, conv2d_bn, inception_stem
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory

__all__ = ["InceptionV3", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "inception_v3")

preprocess_input = builder.module_preprocessor("inception_v3", "InceptionV3")

#: What the docstring of `InceptionV3` says of its own.
DOC = docs.ModelDoc(
    top="the classifier (``avg_pool`` + ``predictions``)",
    inference_bn=docs.PINNED_BN_WITHOUT_GAMMA_DOC,
)


def block_35x35(x, pool_filters, *, norm, name):
    """1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1 (``mixed0``-``mixed2``)."""
    b1 = conv2d_bn(x, 64, 1, norm=norm)

    b5 = conv2d_bn(x, 48, 1, norm=norm)
    b5 = conv2d_bn(b5, 64, 5, norm=norm)

    b3 = conv2d_bn(x, 64, 1, norm=norm)
    b3 = conv2d_bn(b3, 96, 3, norm=norm)
    b3 = conv2d_bn(b3, 96, 3, norm=norm)

    pool = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    pool = conv2d_bn(pool, pool_filters, 1, norm=norm)
    return concat([b1, b5, b3, pool], name=name)


def reduction_35_to_17(x, *, norm):
    """3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool /2 (``mixed3``)."""
    b3 = conv2d_bn(x, 384, 3, norm=norm, strides=2, padding="valid")

    b3dbl = conv2d_bn(x, 64, 1, norm=norm)
    b3dbl = conv2d_bn(b3dbl, 96, 3, norm=norm)
    b3dbl = conv2d_bn(b3dbl, 96, 3, norm=norm, strides=2, padding="valid")

    pool = layers.MaxPooling2D(3, strides=2)(x)
    return concat([b3, b3dbl, pool], name="mixed3")


def block_17x17(x, filters, *, norm, name):
    """1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> (7x1 -> 1x7) x2 | avg pool -> 1x1, with
    ``filters`` channels inside the factorised 7x7 branches (``mixed4``-``mixed7``)."""
    b1 = conv2d_bn(x, 192, 1, norm=norm)

    b7 = conv2d_bn(x, filters, 1, norm=norm)
    b7 = conv2d_bn(b7, filters, (1, 7), norm=norm)
    b7 = conv2d_bn(b7, 192, (7, 1), norm=norm)

    b7dbl = conv2d_bn(x, filters, 1, norm=norm)
    b7dbl = conv2d_bn(b7dbl, filters, (7, 1), norm=norm)
    b7dbl = conv2d_bn(b7dbl, filters, (1, 7), norm=norm)
    b7dbl = conv2d_bn(b7dbl, filters, (7, 1), norm=norm)
    b7dbl = conv2d_bn(b7dbl, 192, (1, 7), norm=norm)

    pool = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    pool = conv2d_bn(pool, 192, 1, norm=norm)
    return concat([b1, b7, b7dbl, pool], name=name)


def reduction_17_to_8(x, *, norm):
    """1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool /2 (``mixed8``)."""
    b3 = conv2d_bn(x, 192, 1, norm=norm)
    b3 = conv2d_bn(b3, 320, 3, norm=norm, strides=2, padding="valid")

    b7 = conv2d_bn(x, 192, 1, norm=norm)
    b7 = conv2d_bn(b7, 192, (1, 7), norm=norm)
    b7 = conv2d_bn(b7, 192, (7, 1), norm=norm)
    b7 = conv2d_bn(b7, 192, 3, norm=norm, strides=2, padding="valid")

    pool = layers.MaxPooling2D(3, strides=2)(x)
    return concat([b3, b7, pool], name="mixed8")


def block_8x8(x, index, *, norm):
    """1x1 | 1x1 -> (1x3 | 3x1) | 1x1 -> 3x3 -> (1x3 | 3x1) | avg pool -> 1x1
    (``mixed9`` for index 0, ``mixed10`` for index 1)."""
    b1 = conv2d_bn(x, 320, 1, norm=norm)

    b3 = conv2d_bn(x, 384, 1, norm=norm)
    b3 = concat(
        [
            conv2d_bn(b3, 384, (1, 3), norm=norm),
            conv2d_bn(b3, 384, (3, 1), norm=norm),
        ],
        name=f"mixed9_{index}",
    )

    b3dbl = conv2d_bn(x, 448, 1, norm=norm)
    b3dbl = conv2d_bn(b3dbl, 384, 3, norm=norm)
    b3dbl = concat(
        [
            conv2d_bn(b3dbl, 384, (1, 3), norm=norm),
            conv2d_bn(b3dbl, 384, (3, 1), norm=norm),
        ]
    )

    pool = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    pool = conv2d_bn(pool, 192, 1, norm=norm)
    return concat([b1, b3, b3dbl, pool], name=f"mixed{9 + index}")


@builder.model_function(DOC)
def InceptionV3(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v3",
    inference_bn=False,
):
    img_input = builder.model_input(
        model="InceptionV3",
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
    x = block_35x35(x, 32, norm=norm, name="mixed0")
    x = block_35x35(x, 64, norm=norm, name="mixed1")
    x = block_35x35(x, 64, norm=norm, name="mixed2")
    x = reduction_35_to_17(x, norm=norm)
    x = block_17x17(x, 128, norm=norm, name="mixed4")
    x = block_17x17(x, 160, norm=norm, name="mixed5")
    x = block_17x17(x, 160, norm=norm, name="mixed6")
    x = block_17x17(x, 192, norm=norm, name="mixed7")
    x = reduction_17_to_8(x, norm=norm)
    x = block_8x8(x, 0, norm=norm)
    x = block_8x8(x, 1, norm=norm)

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
        model="InceptionV3",
        include_top=include_top,
    )
