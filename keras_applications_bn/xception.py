"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable
Convolutions", CVPR 2017).

Entry flow (two convolutions, three downsampling blocks), middle flow (eight
residual blocks of three separable convolutions at 728 channels), exit flow (a
downsampling block, two separable convolutions). Layer names, order and weights
match Keras' official ImageNet files, so ``weights="imagenet"`` loads
``xception_weights_tf_dim_ordering_tf_kernels.h5`` (with the top) or
``xception_weights_tf_dim_ordering_tf_kernels_notop.h5``. Like Keras, the 1x1
shortcut projections and their BN layers are not named (``conv2d_N``,
``batch_normalization_N``), nor are the residual sums (``add_N``).
Default input {default_size}x{default_size} (any size from {min_size}x{min_size} without the top); preprocessing:
``"{mode}"`` mode. With ``inference_bn=True`` every BatchNormalization runs in
inference mode.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory, channel_axis

__all__ = ["Xception", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "xception")

preprocess_input = builder.module_preprocessor("xception", "Xception")

#: What the docstring of `Xception` says of its own.
DOC = docs.ModelDoc(top="the classifier (``avg_pool`` + ``predictions``)")


def sepconv_bn(x, filters, *, norm, name):
    """3x3 depthwise-separable convolution without bias, then BN (``<name>_bn``)."""
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return norm(x, name=f"{name}_bn")


def relu(x, name):
    return layers.Activation("relu", name=name)(x)


def stem(x, *, norm):
    """Block 1: 3x3/2 convolution (32) and 3x3 convolution (64), each with BN and ReLU."""
    x = layers.Conv2D(32, 3, strides=2, use_bias=False, name="block1_conv1")(x)
    x = norm(x, name="block1_conv1_bn")
    x = relu(x, "block1_conv1_act")
    x = layers.Conv2D(64, 3, use_bias=False, name="block1_conv2")(x)
    x = norm(x, name="block1_conv2_bn")
    return relu(x, "block1_conv2_act")


def downsampling_block(x, filters, *, norm, index, relu_first=True):
    """[ReLU] -> sepconv -> ReLU -> sepconv -> 3x3/2 max pool, added to a 1x1/2
    convolution + BN of the input (entry-flow blocks 2-4 and exit-flow block 13).
    ``filters`` = (first, second) separable convolution widths; the shortcut has
    the second. Block 2 follows the stem's ReLU, so it has no leading ReLU."""
    name = f"block{index}"
    shortcut = layers.Conv2D(filters[1], 1, strides=2, padding="same", use_bias=False)(x)
    shortcut = norm(shortcut)

    if relu_first:
        x = relu(x, f"{name}_sepconv1_act")
    x = sepconv_bn(x, filters[0], norm=norm, name=f"{name}_sepconv1")
    x = relu(x, f"{name}_sepconv2_act")
    x = sepconv_bn(x, filters[1], norm=norm, name=f"{name}_sepconv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return layers.Add()([x, shortcut])


def middle_block(x, *, norm, index):
    """(ReLU -> 728-channel sepconv) x3, added to the input (blocks 5-12)."""
    shortcut = x
    for i in (1, 2, 3):
        name = f"block{index}_sepconv{i}"
        x = relu(x, f"{name}_act")
        x = sepconv_bn(x, 728, norm=norm, name=name)
    return layers.Add()([x, shortcut])


def exit_convolutions(x, *, norm):
    """Block 14: sepconv (1536) -> ReLU -> sepconv (2048) -> ReLU."""
    x = sepconv_bn(x, 1536, norm=norm, name="block14_sepconv1")
    x = relu(x, "block14_sepconv1_act")
    x = sepconv_bn(x, 2048, norm=norm, name="block14_sepconv2")
    return relu(x, "block14_sepconv2_act")


@builder.model_function(DOC)
def Xception(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="xception",
    inference_bn=False,
):
    img_input = builder.model_input(
        model="Xception",
        inference_bn=inference_bn,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
    )
    # axis -1 (not 3) as Keras has it; default epsilon and momentum
    norm = bn_factory(inference_bn, axis=channel_axis())

    # entry flow
    x = stem(img_input, norm=norm)
    x = downsampling_block(x, (128, 128), norm=norm, index=2, relu_first=False)
    x = downsampling_block(x, (256, 256), norm=norm, index=3)
    x = downsampling_block(x, (728, 728), norm=norm, index=4)
    # middle flow
    for index in range(5, 13):
        x = middle_block(x, norm=norm, index=index)
    # exit flow
    x = downsampling_block(x, (728, 1024), norm=norm, index=13)
    x = exit_convolutions(x, norm=norm)

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
        model="Xception",
        include_top=include_top,
    )
