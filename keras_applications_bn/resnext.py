"""ResNeXt50 and ResNeXt101 (Xie et al., "Aggregated Residual Transformations for
Deep Neural Networks", CVPR 2017), as the standalone ``keras_applications`` 1.0.8
package builds them (Keras 3 never shipped ResNeXt): ResNet (`resnet`'s
builder, stem and stages) with blocks whose 3x3 convolution is split into 32
groups, twice as wide bottlenecks, and no convolution biases.

Layer names, order and weight shapes are 1.0.8's, so ``weights="imagenet"`` loads
its official files ``resnext{50,101}_weights_tf_dim_ordering_tf_kernels.h5`` (the
classifier is named ``probs``, as there) or the ``_notop.h5`` twins, published as
release assets of keras-team/keras-applications. Default input {default_size}x{default_size} (any
static size from {min_size}x{min_size} without the top); preprocessing: ``"{mode}"`` mode. With
``inference_bn=True`` every BatchNormalization runs in inference mode.

The grouped convolution is 1.0.8's construct: a depthwise 3x3 convolution with
depth multiplier ``c`` (the channels per group) computes every (input, output)
channel pair of each group, a reshape to ``(groups, c, c)`` and a sum over each
group's input channels complete it — the same weights as the official files.
1.0.8 sums in a ``Lambda`` layer; here it is `layers.ReduceSum`, which
a saved model rebuilds without unsafe deserialization. Like 1.0.8's, the reshape
needs the input's height and width.
"""

import keras
from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import bn_relu
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import ReduceSum
from keras_applications_bn.resnet import resnet

__all__ = ["ResNeXt50", "ResNeXt101", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "resnext")

#: Each model function's grouped bottleneck blocks in the stages conv2..conv5
#: (ResNet50's and ResNet101's): the keyword arguments of `resnext` that make it.
VARIANTS = {
    "ResNeXt50": dict(stage_blocks=(3, 4, 6, 3)),
    "ResNeXt101": dict(stage_blocks=(3, 4, 23, 3)),
}

#: Groups of every grouped 3x3 convolution (the "cardinality" of the paper).
GROUPS = 32
#: Bottleneck width of the stages conv2..conv5 (each block outputs 2x as many channels).
STAGE_FILTERS = (128, 256, 512, 1024)

preprocess_input = builder.module_preprocessor("resnext", "ResNeXt")

#: What the docstrings of the model functions say of their own.
DOC = docs.ModelDoc(top="the classifier (``avg_pool`` + ``probs``)")


def grouped_conv(x, filters, *, groups, stride, name):
    """The grouped 3x3 convolution (``{name}_2_pad``, ``{name}_2_conv``, a reshape,
    ``{name}_2_reduce``, a reshape) from ``filters`` to ``filters`` channels."""
    c = filters // groups
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.DepthwiseConv2D(
        3, strides=stride, depth_multiplier=c, use_bias=False, name=f"{name}_2_conv"
    )(x)
    size = tuple(x.shape[1:3])
    # channel (g * c + k) * c + j: input channel k of group g -> output channel j
    x = layers.Reshape(size + (groups, c, c))(x)
    x = ReduceSum(axis=-2, name=f"{name}_2_reduce")(x)
    return layers.Reshape(size + (filters,))(x)


def grouped_bottleneck_block(
    x, filters, *, norm, stride=1, conv_shortcut=True, groups=GROUPS, name
):
    """1x1 reduce -> grouped 3x3 (strided) -> 1x1 expand (x2), added to the
    (projected) shortcut; no convolution has a bias."""
    width = (64 // groups) * filters
    if conv_shortcut:
        shortcut = layers.Conv2D(width, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = norm(shortcut, name=f"{name}_0_bn")
    else:
        shortcut = x

    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(x)
    x = bn_relu(x, norm, name=f"{name}_1")

    x = grouped_conv(x, filters, groups=groups, stride=stride, name=name)
    x = bn_relu(x, norm, name=f"{name}_2")

    x = layers.Conv2D(width, 1, use_bias=False, name=f"{name}_3_conv")(x)
    x = norm(x, name=f"{name}_3_bn")

    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _check_input(img_input):
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "ResNeXt is built for image_data_format 'channels_last' only (as in "
            "keras_applications 1.0.8, whose grouped convolution it keeps); got "
            f"{keras.config.image_data_format()!r}."
        )
    if None in tuple(img_input.shape[1:3]):
        raise ValueError(
            "ResNeXt needs a static input height and width (its grouped convolution "
            "reshapes to them, as in keras_applications 1.0.8): pass input_shape="
            f"(height, width, 3), got an input of shape {tuple(img_input.shape[1:])}."
        )


def resnext(stage_blocks, **kwargs):
    """`resnet.resnet` with grouped bottleneck blocks."""
    return resnet(
        stage_blocks,
        block=grouped_bottleneck_block,
        stage_filters=STAGE_FILTERS,
        use_bias=False,
        top_name="probs",
        check_input=_check_input,
        **kwargs,
    )


@builder.model_function(DOC, variants=VARIANTS)
def ResNeXt50(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnext50",
    inference_bn=False,
):
    return resnext(
        **VARIANTS["ResNeXt50"],
        model="ResNeXt50",
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
def ResNeXt101(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnext101",
    inference_bn=False,
):
    return resnext(
        **VARIANTS["ResNeXt101"],
        model="ResNeXt101",
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
