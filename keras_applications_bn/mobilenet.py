"""MobileNet (Howard et al., "MobileNets: Efficient Convolutional Neural Networks
for Mobile Vision Applications", 2017).

Layer names, order and weights match Keras' official ImageNet files: with
``weights="imagenet"`` the model loads ``mobilenet_{a}_{size}_tf.h5`` (with the top)
or ``mobilenet_{a}_{size}_tf_no_top.h5``, where ``a`` is ``1_0``, ``7_5``, ``5_0`` or
``2_5`` for ``alpha`` 1.0, 0.75, 0.5 or 0.25 and ``size`` is {sizes}
({files} files; Keras pins no hash for any of them). Default input {default_size}x{default_size} (any size
from {min_size}x{min_size} without the top); preprocessing: ``"{mode}"`` mode. With
``inference_bn=True`` every BatchNormalization runs in inference mode.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import weights_rows
from keras_applications_bn._models.checks import (
    check_bool,
    check_positive,
    check_positive_int,
    check_rate,
)
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory
from keras_applications_bn.weights import registry

__all__ = ["MobileNet", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "mobilenet")

preprocess_input = builder.module_preprocessor("mobilenet", "MobileNet")

#: The width multipliers with official weights (the registry's files).
WEIGHT_ALPHAS = registry.variant_values("MobileNet", "alpha")
#: The square input sizes with official weights (the registry's files).
WEIGHT_SIZES = registry.variant_values("MobileNet", "rows")
DEFAULT_SIZE = registry.model_spec("MobileNet").default_size

#: ``(filters, strides)`` of the 13 depthwise separable blocks (Table 1 of the paper).
BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)

#: What the docstring of `MobileNet` says of its own.
DOC = docs.ModelDoc(
    top="the classifier (``conv_preds``)",
    args={
        "input_shape": (
            "optional ``(height, width, 3)`` (channels-last) input shape,\n"
            "each side at least {min_size}. With ImageNet weights and the top it must be\n"
            "square of size {sizes} ({default_size} when ``None``); without the\n"
            "top, other sizes load the {default_size}x{default_size} weights, with a warning."
        ),
        "alpha": (
            "width multiplier: every layer has ``alpha`` times the filters of\n"
            "the paper's network (ImageNet weights for {alphas})."
        ),
        "depth_multiplier": (
            "channel multiplier of the depthwise convolutions (1\nwith ImageNet weights)."
        ),
        "dropout": "dropout rate before the classifier, in [0, 1).",
        "weights": docs.SIZED_WEIGHTS_DOC,
        "input_tensor": docs.SHAPED_INPUT_TENSOR_DOC,
        "name": "the model's name; ``None`` gives Keras' ``mobilenet_{alpha:.2f}_{rows}``.",
    },
)


def bn_relu6(x, norm, *, name):
    """BN (``{name}_bn``), then ReLU capped at 6 (``{name}_relu``)."""
    x = norm(x, name=f"{name}_bn")
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def conv_block(x, filters, *, norm, strides=2):
    """The first layer: full 3x3 convolution, BN, ReLU6 (``conv1``)."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name="conv1")(x)
    return bn_relu6(x, norm, name="conv1")


def depthwise_separable_block(x, filters, *, norm, depth_multiplier=1, strides=1, block_id):
    """3x3 depthwise convolution, BN, ReLU6, then 1x1 pointwise convolution to
    ``filters`` channels, BN, ReLU6. A strided block pads bottom/right first."""
    if strides == 1:
        padding = "same"
    else:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(
        3,
        strides=strides,
        padding=padding,
        depth_multiplier=depth_multiplier,
        use_bias=False,
        name=f"conv_dw_{block_id}",
    )(x)
    x = bn_relu6(x, norm, name=f"conv_dw_{block_id}")

    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"conv_pw_{block_id}")(x)
    return bn_relu6(x, norm, name=f"conv_pw_{block_id}")


def classifier_top(x, *, classes, dropout, classifier_activation):
    """Global average pooling, dropout and a 1x1 convolution as the classifier."""
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(int(classes), 1, padding="same", name="conv_preds")(x)
    x = layers.Reshape((int(classes),), name="reshape_2")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


#: The narrowest layer's filters at alpha 1 (the stem's): ``int(alpha * 32)`` must be >= 1.
NARROWEST = 32


def check_options(*, alpha, depth_multiplier, dropout, include_top, weights):
    """MobileNet's own arguments, checked before anything is built: ``alpha`` wide
    enough for every layer to keep a filter, ``depth_multiplier`` a positive int
    (not a bool), ``dropout`` (with the top) a rate in [0, 1), and with ImageNet
    weights ``check_imagenet_options``."""
    if int(check_positive(alpha, "alpha", maximum=builder.MAX_ALPHA) * NARROWEST) < 1:
        raise ValueError(
            f"`alpha` must be at least 1/{NARROWEST} = {1 / NARROWEST} for MobileNet (its "
            f"narrowest layer has {NARROWEST} * alpha filters, rounded down), got alpha={alpha!r}."
        )
    check_positive_int(depth_multiplier, "depth_multiplier")
    if check_bool(include_top, "include_top"):
        check_rate(dropout, "dropout")
    if isinstance(weights, str) and weights == "imagenet":
        check_imagenet_options(alpha, depth_multiplier)


def check_imagenet_options(alpha, depth_multiplier):
    """Official weights exist only for depth_multiplier 1 and four widths."""
    if depth_multiplier != 1:
        raise ValueError(
            "With weights='imagenet', `depth_multiplier` must be 1 (the only value "
            f"with official weights), got depth_multiplier={depth_multiplier!r}. Use "
            "weights=None or a weights file for other values."
        )
    if alpha not in WEIGHT_ALPHAS:
        raise ValueError(
            f"With weights='imagenet', `alpha` must be one of {docs.listed(WEIGHT_ALPHAS)} "
            f"(the widths with official weights), got alpha={alpha!r}. Use "
            "weights=None or a weights file for other widths."
        )


@builder.model_function(DOC)
def MobileNet(
    input_shape=None,
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    inference_bn=False,
):
    check_options(
        alpha=alpha,
        depth_multiplier=depth_multiplier,
        dropout=dropout,
        include_top=include_top,
        weights=weights,
    )
    img_input = builder.model_input(
        model="MobileNet",
        inference_bn=inference_bn,
        alpha=alpha,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
    )
    norm = bn_factory(inference_bn)
    rows = weights_rows(
        tuple(img_input.shape[1:]),
        weights,
        family="MobileNet",
        default_size=DEFAULT_SIZE,
        weight_sizes=WEIGHT_SIZES,
    )

    x = conv_block(img_input, int(32 * alpha), norm=norm)
    for block_id, (filters, strides) in enumerate(BLOCKS, start=1):
        x = depthwise_separable_block(
            x,
            int(filters * alpha),
            norm=norm,
            depth_multiplier=depth_multiplier,
            strides=strides,
            block_id=block_id,
        )

    if include_top:
        x = classifier_top(
            x, classes=classes, dropout=dropout, classifier_activation=classifier_activation
        )
    else:
        x = builder.pooling_head(x, pooling, named=False)
    return builder.create_model(
        img_input,
        x,
        input_tensor=input_tensor,
        name=f"mobilenet_{alpha:0.2f}_{rows}" if name is None else name,
        weights=weights,
        model="MobileNet",
        variant={"alpha": alpha, "rows": rows},
        include_top=include_top,
    )
