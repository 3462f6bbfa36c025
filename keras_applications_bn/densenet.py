"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al., "Densely Connected
Convolutional Networks", CVPR 2017).

A stem (7x7/2 convolution, 3x3/2 max pooling), then four dense blocks joined by
transition blocks. Inside a dense block every unit (BN-ReLU-1x1 convolution to
``4 * growth`` channels, BN-ReLU-3x3 convolution to ``growth`` = 32 channels)
appends its output to everything before it; a transition block halves the
channels with a 1x1 convolution and the resolution with 2x2 average pooling.
The three models differ only in the number of units per dense block.

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``densenet{121,169,201}_weights_tf_dim_ordering_tf_kernels.h5``
(with the top) or ``..._notop.h5``. Default input {default_size}x{default_size}
(any size from {min_size}x{min_size} without the top); ``channels_last`` only, as in Keras; preprocessing:
``"{mode}"`` mode. With ``inference_bn=True`` every BatchNormalization runs in
inference mode.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import bn_relu, concat, require_channels_last
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory, channel_axis

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "densenet")

BN_EPSILON = 1.001e-5
GROWTH_RATE = 32
#: Channels kept by a transition block.
COMPRESSION = 0.5

#: Each model function's units in the four dense blocks: the keyword arguments
#: of `DenseNet` that make it (and select its official weights).
VARIANTS = {
    "DenseNet121": dict(blocks=(6, 12, 24, 16)),
    "DenseNet169": dict(blocks=(6, 12, 32, 32)),
    "DenseNet201": dict(blocks=(6, 12, 48, 32)),
}

preprocess_input = builder.module_preprocessor("densenet", "DenseNet")

#: What the docstrings of the model functions say of their own.
DOC = docs.ModelDoc(top="the classifier (``avg_pool`` + ``predictions``)")


def conv_block(x, growth_rate, *, norm, name):
    """One unit of a dense block: BN-ReLU-1x1 conv (``4 * growth_rate``), BN-ReLU-3x3
    conv (``growth_rate``), concatenated to the unit's input."""
    y = bn_relu(x, norm, name=f"{name}_0")
    y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = bn_relu(y, norm, name=f"{name}_1")
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return concat([x, y], name=f"{name}_concat")


def dense_block(x, units, *, norm, name):
    """``units`` conv blocks, each seeing the outputs of all before it."""
    for i in range(1, units + 1):
        x = conv_block(x, GROWTH_RATE, norm=norm, name=f"{name}_block{i}")
    return x


def transition_block(x, reduction, *, norm, name):
    """BN-ReLU-1x1 conv keeping ``reduction`` of the channels, 2x2/2 average pooling."""
    x = bn_relu(x, norm, name=name)
    x = layers.Conv2D(
        int(x.shape[channel_axis()] * reduction), 1, use_bias=False, name=f"{name}_conv"
    )(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def stem(x, *, norm):
    """7x7/2 convolution, BN, ReLU, 3x3/2 max pooling (the paddings are unnamed, as in Keras)."""
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(x)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = bn_relu(x, norm, name="conv1")
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1")(x)


def DenseNet(
    blocks,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet",
    inference_bn=False,
):
    """The DenseNet with ``blocks`` units in each of its four dense blocks, the
    builder behind DenseNet121/169/201 (like Keras' own ``densenet.DenseNet``).
    The other arguments are those of `DenseNet121`."""
    require_channels_last("DenseNet")
    model = builder.weights_model_of(dict(blocks=tuple(blocks)), VARIANTS)
    # the size rules of the model with these blocks (any DenseNet's for other blocks)
    img_input = builder.model_input(
        model=model or "DenseNet121",
        inference_bn=inference_bn,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
    )
    if model is None and weights == "imagenet":
        raise ValueError(
            "With weights='imagenet', `blocks` must be one of "
            f"{', '.join(str(row['blocks']) for row in VARIANTS.values())} (DenseNet121, "
            "169, 201: the networks with official weights), got "
            f"blocks={blocks!r}. Use weights=None or a weights file for other depths."
        )
    norm = bn_factory(inference_bn, epsilon=BN_EPSILON)

    x = stem(img_input, norm=norm)
    for stage, units in enumerate(blocks, start=2):
        x = dense_block(x, units, norm=norm, name=f"conv{stage}")
        if stage < len(blocks) + 1:  # a transition after every dense block but the last
            x = transition_block(x, COMPRESSION, norm=norm, name=f"pool{stage}")
    x = norm(x, name="bn")
    x = layers.Activation("relu", name="relu")(x)  # not bn_relu's names

    x = builder.classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
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
def DenseNet121(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet121",
    inference_bn=False,
):
    return DenseNet(
        **VARIANTS["DenseNet121"],
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
def DenseNet169(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet169",
    inference_bn=False,
):
    return DenseNet(
        **VARIANTS["DenseNet169"],
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
def DenseNet201(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet201",
    inference_bn=False,
):
    return DenseNet(
        **VARIANTS["DenseNet201"],
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
