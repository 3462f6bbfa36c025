"""VGG16 (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015), and the VGG network that VGG19 shares.

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (with
the top) or ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``. Default input
{default_size}x{default_size} (any size from {min_size}x{min_size} without the top); preprocessing: ``"{mode}"`` mode.

VGG has no BatchNormalization: ``inference_bn`` is accepted, so that every model of
this package has one signature, and has nothing to change here.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn.imagenet_utils import decode_predictions

__all__ = ["VGG16", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "vgg16")

preprocess_input = builder.module_preprocessor("vgg16", "VGG16")

#: Filters of the five convolutional blocks (the same in every VGG).
BLOCK_FILTERS = (64, 128, 256, 512, 512)
#: The convolutions per block of VGG16 ("configuration D" of the paper) and of
#: VGG19 (`vgg19`, "configuration E"): the keyword arguments of `vgg`
#: that make each.
VARIANTS = {
    "VGG16": dict(convs_per_block=(2, 2, 3, 3, 3)),
    "VGG19": dict(convs_per_block=(2, 2, 4, 4, 4)),
}

#: What the docstrings of VGG16 and VGG19 say of their own.
DOC = docs.ModelDoc(
    top="the three fully-connected layers (``fc1``, ``fc2``, ``predictions``)",
    inference_bn=None,
)


def conv_block(x, filters, convs, *, name):
    """``convs`` 3x3 ReLU convolutions, then 2x2 max pooling (stride 2)."""
    for i in range(1, convs + 1):
        x = layers.Conv2D(filters, 3, activation="relu", padding="same", name=f"{name}_conv{i}")(x)
    return layers.MaxPooling2D(2, strides=2, name=f"{name}_pool")(x)


def fully_connected_top(x, *, classes, classifier_activation):
    """Flatten, two 4096-unit ReLU layers, then the ``predictions`` layer."""
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(4096, activation="relu", name="fc1")(x)
    x = layers.Dense(4096, activation="relu", name="fc2")(x)
    return layers.Dense(int(classes), activation=classifier_activation, name="predictions")(x)


def vgg(
    convs_per_block,
    *,
    model,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
    inference_bn=False,
):
    """The VGG network with ``convs_per_block[i]`` convolutions in block ``i + 1``."""
    img_input = builder.model_input(
        model=model,
        inference_bn=inference_bn,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
    )

    x = img_input
    for i, (filters, convs) in enumerate(zip(BLOCK_FILTERS, convs_per_block), start=1):
        x = conv_block(x, filters, convs, name=f"block{i}")

    if include_top:
        x = fully_connected_top(x, classes=classes, classifier_activation=classifier_activation)
    else:
        x = builder.pooling_head(x, pooling, named=False)
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
def VGG16(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg16",
    inference_bn=False,
):
    return vgg(
        **VARIANTS["VGG16"],
        model="VGG16",
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
