"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018).

A full 3x3 convolution, then 17 inverted residual blocks (1x1 expansion, 3x3
depthwise convolution, linear 1x1 projection, with a shortcut where shapes allow)
and a last 1x1 convolution to 1280 channels.

Layer names, order and weights match Keras' official ImageNet files: with
``weights="imagenet"`` the model loads
``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}.h5`` (with the
top) or ``..._{alpha}_{size}_no_top.h5``, where ``alpha`` is {alphas}
and ``size`` is {sizes} ({files} files; Keras pins no hash for any of them).
Default input {default_size}x{default_size} (any size from {min_size}x{min_size}
without the top); preprocessing: ``"{mode}"`` mode. With ``inference_bn=True``
every BatchNormalization runs in inference mode.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import correct_pad, make_divisible, weights_rows
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory, channel_axis
from keras_applications_bn.weights import registry

__all__ = ["MobileNetV2", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "mobilenet_v2")

preprocess_input = builder.module_preprocessor("mobilenet_v2", "MobileNetV2")

#: The width multipliers with official weights (the registry's files).
WEIGHT_ALPHAS = registry.variant_values("MobileNetV2", "alpha")
#: The square input sizes with official weights (the registry's files).
WEIGHT_SIZES = registry.variant_values("MobileNetV2", "rows")
DEFAULT_SIZE = registry.model_spec("MobileNetV2").default_size

#: The bottleneck sequences of Table 2 of the paper: expansion factor ``t``,
#: output channels ``c`` (before ``alpha``), repeats ``n``, first stride ``s``.
BOTTLENECKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

#: Keras' batch normalisation settings for this family.
BN = dict(epsilon=1e-3, momentum=0.999)

#: What the docstring of `MobileNetV2` says of its own.
DOC = docs.ModelDoc(
    top="the classifier (``predictions``)",
    args={
        "input_shape": (
            "optional ``(height, width, 3)`` (channels-last) input shape,\n"
            "each side at least {min_size}. With ImageNet weights and the top it must be\n"
            "square of size {sizes} ({default_size} when ``None``); without\n"
            "the top, other sizes load the {default_size}x{default_size} weights, with a warning."
        ),
        "alpha": (
            "width multiplier: the blocks have ``alpha`` times the filters of\n"
            "the paper's network, rounded to multiples of 8; above 1 the last\n"
            "convolution widens too (ImageNet weights for {alphas})."
        ),
        "weights": docs.SIZED_WEIGHTS_DOC,
        "input_tensor": docs.SHAPED_INPUT_TENSOR_DOC,
        "name": "the model's name; ``None`` gives Keras' ``mobilenetv2_{alpha:.2f}_{rows}``.",
    },
)


def inverted_residual_block(x, *, expansion, filters, stride, alpha, norm, block_id):
    """Expand (1x1 convolution, BN, ReLU6; not in block 0), 3x3 depthwise
    convolution, BN, ReLU6, then a linear 1x1 projection to ``filters * alpha``
    channels (rounded to a multiple of 8) and BN; the input is added back when
    the shapes agree. Layers are named ``block_{id}_*`` (``expanded_conv_*`` in
    block 0)."""
    in_channels = x.shape[channel_axis()]
    out_channels = make_divisible(int(filters * alpha), 8)
    inputs = x
    if block_id:
        prefix = f"block_{block_id}_"
        x = layers.Conv2D(
            expansion * in_channels, 1, padding="same", use_bias=False, name=f"{prefix}expand"
        )(x)
        x = norm(x, name=f"{prefix}expand_BN")
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"

    if stride == 2:
        x = layers.ZeroPadding2D(correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(
        3,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        name=f"{prefix}depthwise",
    )(x)
    x = norm(x, name=f"{prefix}depthwise_BN")
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)

    x = layers.Conv2D(out_channels, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = norm(x, name=f"{prefix}project_BN")
    if stride == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def check_imagenet_alpha(alpha):
    """Official weights exist only for six widths."""
    if alpha not in WEIGHT_ALPHAS:
        raise ValueError(
            f"With weights='imagenet', `alpha` must be one of {docs.listed(WEIGHT_ALPHAS)} "
            f"(the widths with official weights), got alpha={alpha!r}. "
            "Use weights=None or a weights file for other widths."
        )


@builder.model_function(DOC)
def MobileNetV2(
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    inference_bn=False,
):
    img_input = builder.model_input(
        model="MobileNetV2",
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
    norm = bn_factory(inference_bn, **BN)
    if weights == "imagenet":
        check_imagenet_alpha(alpha)
    rows = weights_rows(
        tuple(img_input.shape[1:]),
        weights,
        family="MobileNetV2",
        default_size=DEFAULT_SIZE,
        weight_sizes=WEIGHT_SIZES,
    )

    x = layers.Conv2D(
        make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False, name="Conv1"
    )(img_input)
    x = norm(x, name="bn_Conv1")
    x = layers.ReLU(6.0, name="Conv1_relu")(x)

    block_id = 0
    for expansion, filters, repeats, first_stride in BOTTLENECKS:
        for i in range(repeats):
            x = inverted_residual_block(
                x,
                expansion=expansion,
                filters=filters,
                stride=first_stride if i == 0 else 1,
                alpha=alpha,
                norm=norm,
                block_id=block_id,
            )
            block_id += 1

    last_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_filters, 1, use_bias=False, name="Conv_1")(x)
    x = norm(x, name="Conv_1_bn")
    x = layers.ReLU(6.0, name="out_relu")(x)

    # Keras leaves the pooling layers of this family unnamed.
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(int(classes), activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    return builder.create_model(
        img_input,
        x,
        input_tensor=input_tensor,
        name=f"mobilenetv2_{alpha:0.2f}_{rows}" if name is None else name,
        weights=weights,
        model="MobileNetV2",
        variant={"alpha": alpha, "rows": rows},
        include_top=include_top,
    )
