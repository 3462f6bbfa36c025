"""MobileNetV3 (Howard et al., "Searching for MobileNetV3", ICCV 2019).

A 3x3 convolution with hard-swish, a stack of inverted residual blocks (Tables 1
and 2 of the paper: 1x1 expansion, depthwise convolution, optional
squeeze-and-excite, linear 1x1 projection, shortcut where shapes allow), a 1x1
convolution to six times the last block's channels, and a classifier that pools
globally first (so the top takes any input size). The "minimalistic" variants
drop squeeze-and-excite, hard-swish and 5x5 kernels.

Layer names, order and weights match Keras' official ImageNet files: with
``weights="imagenet"`` the model loads
``weights_mobilenet_v3_{small|large}[_minimalistic]_224_{alpha}_float.h5`` (with
the top) or ``..._float_no_top_v2.h5``, for ``alpha`` {alphas} (only {minimalistic_alphas} for
the minimalistic models); every file is for {default_size}x{default_size} inputs and has the hash
Keras pins. Default input: any size from {min_size}x{min_size}. Preprocessing is part of the
model (a ``Rescaling`` layer from [0, 255] to [-1, 1]; ``include_preprocessing``)
and this module's ``preprocess_input`` returns its input unchanged, as in Keras.
With ``inference_bn=True`` every BatchNormalization runs in inference mode.

Longer than the package's ~400-line guide: the two block tables of the paper
and the model functions' Keras signatures, one argument a line.
"""

from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import correct_pad, make_divisible, weights_rows
from keras_applications_bn._models.checks import check_bool, check_rate
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import Affine, bn_factory, channel_axis
from keras_applications_bn.weights import registry

__all__ = ["MobileNetV3Small", "MobileNetV3Large", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "mobilenet_v3")

#: The input size of every official weight file.
DEFAULT_SIZE = registry.model_spec("MobileNetV3Large").default_size
#: The width multipliers with official weights (the registry's files; the same
#: for Small and Large).
WEIGHT_ALPHAS = registry.variant_values("MobileNetV3Large", "alpha", minimalistic=False)
MINIMALISTIC_WEIGHT_ALPHAS = registry.variant_values("MobileNetV3Large", "alpha", minimalistic=True)

#: Squeeze-and-excite bottleneck ratio (``None`` in the minimalistic models).
SE_RATIO = 0.25

#: Each model function's bottleneck blocks (Table 2: Small, Table 1: Large) and
#: the channels of the classifier's penultimate (1x1 convolution) layer: the
#: keyword arguments of `mobilenet_v3` that make it. A block is: expansion
#: factor, output channels (before ``alpha``), kernel size, stride,
#: squeeze-and-excite, activation. Kernel ``None`` is the "large" kernel (5, 3 when
#: minimalistic); activation "hswish" is hard-swish (ReLU when minimalistic).
VARIANTS = {
    "MobileNetV3Small": dict(
        blocks=(
            (1, 16, 3, 2, True, "relu"),
            (72 / 16, 24, 3, 2, False, "relu"),
            (88 / 24, 24, 3, 1, False, "relu"),
            (4, 40, None, 2, True, "hswish"),
            (6, 40, None, 1, True, "hswish"),
            (6, 40, None, 1, True, "hswish"),
            (3, 48, None, 1, True, "hswish"),
            (3, 48, None, 1, True, "hswish"),
            (6, 96, None, 2, True, "hswish"),
            (6, 96, None, 1, True, "hswish"),
            (6, 96, None, 1, True, "hswish"),
        ),
        last_point_channels=1024,
    ),
    "MobileNetV3Large": dict(
        blocks=(
            (1, 16, 3, 1, False, "relu"),
            (4, 24, 3, 2, False, "relu"),
            (3, 24, 3, 1, False, "relu"),
            (3, 40, None, 2, True, "relu"),
            (3, 40, None, 1, True, "relu"),
            (3, 40, None, 1, True, "relu"),
            (6, 80, 3, 2, False, "hswish"),
            (2.5, 80, 3, 1, False, "hswish"),
            (2.3, 80, 3, 1, False, "hswish"),
            (2.3, 80, 3, 1, False, "hswish"),
            (6, 112, 3, 1, True, "hswish"),
            (6, 112, 3, 1, True, "hswish"),
            (6, 160, None, 2, True, "hswish"),
            (6, 160, None, 1, True, "hswish"),
            (6, 160, None, 1, True, "hswish"),
        ),
        last_point_channels=1280,
    ),
}

#: Keras' batch normalisation settings for this family.
BN = dict(epsilon=1e-3, momentum=0.999)

preprocess_input = builder.module_preprocessor(
    "mobilenet_v3",
    "MobileNetV3",
    doc="""Return ``x`` unchanged: MobileNetV3 models preprocess inside the model.

    With ``include_preprocessing=True`` (the default) the model takes pixels in
    [0, 255]; with ``include_preprocessing=False`` it expects them in [-1, 1].
    Kept, as in Keras, so that every model module has a ``preprocess_input``.

    Args:
        x: NumPy array or tensor.
        data_format: ignored.
    """,
)

#: What the docstrings of the model functions say of their own.
DOC = docs.ModelDoc(
    top="the classifier (``conv_2``, ``logits``)",
    args={
        "input_shape": (
            "optional ``(height, width, 3)`` (channels-last) input shape,\n"
            "each side at least {min_size} (``None``: any size, also with the top, which\n"
            "pools globally first). ImageNet weights are for "
            "{default_size}x{default_size}; other sizes\n"
            "load them with a warning."
        ),
        "alpha": (
            "width multiplier: the blocks have ``alpha`` times the filters of\n"
            "the paper's network, rounded to multiples of 8; above 1 the\n"
            "classifier's penultimate layer widens too (ImageNet weights for {alphas},\n"
            "only {minimalistic_alphas} when ``minimalistic``)."
        ),
        "minimalistic": (
            "the variant without squeeze-and-excite, hard-swish and 5x5\n"
            "kernels (ReLU and 3x3 kernels throughout)."
        ),
        "weights": (
            '``None`` (random initialisation), ``"imagenet"`` (official\n'
            "ImageNet weights for this ``alpha`` and ``minimalistic``), or the path\n"
            "of a weights file in the same layout."
        ),
        "input_tensor": docs.SHAPED_INPUT_TENSOR_DOC,
        "dropout_rate": "dropout rate before the ``logits`` layer, in [0, 1) (none when 0).",
        "include_preprocessing": (
            "whether the model starts with a ``Rescaling``\n"
            "layer from pixels in [0, 255] to [-1, 1]; without it, the model\n"
            "expects inputs in [-1, 1]."
        ),
    },
    returns=(
        "A `keras.Model` that takes pixels in [0, 255] (with\n"
        "``include_preprocessing``); `keras_applications_bn.mobilenet_v3.preprocess_input`\n"
        "returns its input unchanged."
    ),
)


def relu(x):
    return layers.ReLU()(x)


def hard_sigmoid(x, inference_bn=False):
    """ReLU6(x + 3) / 6: Keras' ReLU layer between two graph operations, not layers.

    Unpinned, these are Keras' own ``x + 3.0`` and ``* (1 / 6)``, as in
    `keras.applications`, so the model reloads from ``.keras`` with Keras alone.
    Pinned models, which need this package to reload anyway, use its registered
    `Affine` op instead (the same layers and
    outputs), so they also reload from a legacy ``.h5`` model file.
    """
    if inference_bn:
        x = layers.ReLU(6.0)(Affine(offset=3.0)(x))
        return Affine(scale=1.0 / 6.0)(x)
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x):
    """x * ReLU6(x + 3) / 6."""
    return layers.Activation("hard_swish")(x)


def squeeze_excite(x, filters, *, prefix, inference_bn=False):
    """Squeeze-and-excite: global average pooling, a 1x1 convolution to a quarter
    of the channels (rounded to a multiple of 8), ReLU, a 1x1 convolution back to
    ``filters``, hard-sigmoid, then the channel-wise product with ``x``."""
    inputs = x
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(x)
    x = layers.Conv2D(
        make_divisible(filters * SE_RATIO), 1, padding="same", name=f"{prefix}squeeze_excite_conv"
    )(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = hard_sigmoid(x, inference_bn)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def inverted_residual_block(
    x, *, expansion, filters, kernel_size, stride, se, activation, norm, block_id
):
    """Expand (1x1 convolution, BN, activation; not in block 0), depthwise
    convolution, BN, activation, optional squeeze-and-excite, then a linear 1x1
    projection to ``filters`` channels and BN; the input is added back when the
    shapes agree. Layers are named ``expanded_conv_{id}_*`` (``expanded_conv_*``
    in block 0)."""
    in_channels = x.shape[channel_axis()]
    expanded = make_divisible(in_channels * expansion)
    inputs = x
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(expanded, 1, padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = norm(x, name=f"{prefix}expand_bn")
        x = activation(x)
    else:
        prefix = "expanded_conv_"

    if stride == 2:
        x = layers.ZeroPadding2D(correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        name=f"{prefix}depthwise",
    )(x)
    x = norm(x, name=f"{prefix}depthwise_bn")
    x = activation(x)
    if se:
        x = squeeze_excite(x, expanded, prefix=prefix, inference_bn=norm.inference_bn)

    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = norm(x, name=f"{prefix}project_bn")
    if stride == 1 and in_channels == filters:
        x = layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def classifier_top(x, *, channels, activation, dropout_rate, classes, classifier_activation):
    """Global average pooling, a 1x1 convolution with bias to ``channels``,
    activation, dropout, a 1x1 convolution to the classes (``logits``), flatten."""
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Conv2D(channels, 1, padding="same", use_bias=True, name="conv_2")(x)
    x = activation(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate)(x)
    x = layers.Conv2D(int(classes), 1, padding="same", name="logits")(x)
    x = layers.Flatten()(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


def check_imagenet_alpha(alpha, minimalistic, model="MobileNetV3Large"):
    """Official weights exist for the widths of ``model``'s registry files
    (alpha 0.75 and 1.0; minimalistic: 1.0)."""
    allowed = registry.variant_values(model, "alpha", minimalistic=bool(minimalistic))
    if alpha not in allowed:
        which = docs.listed(allowed) + (" for the minimalistic models" if minimalistic else "")
        raise ValueError(
            f"With weights='imagenet', `alpha` must be {which} (the widths with "
            f"official weights), got alpha={alpha!r} (minimalistic={minimalistic!r}). "
            "Use weights=None or a weights file for other widths."
        )


def mobilenet_v3(
    blocks,
    last_point_channels,
    *,
    model,
    input_shape,
    alpha,
    minimalistic,
    include_top,
    weights,
    input_tensor,
    classes,
    pooling,
    dropout_rate,
    classifier_activation,
    include_preprocessing,
    name,
    inference_bn,
):
    """The network of ``blocks`` (a row of `VARIANTS`: Table 1 or 2 of the
    paper) whose classifier has ``last_point_channels`` before ``alpha``; ``model``
    names the function whose registry rows (input sizes, weight files) apply."""
    minimalistic = check_bool(minimalistic, "minimalistic")
    include_preprocessing = check_bool(include_preprocessing, "include_preprocessing")
    if check_bool(include_top, "include_top"):
        check_rate(dropout_rate, "dropout_rate")
    img_input = builder.model_input(
        model=model,
        inference_bn=inference_bn,
        alpha=alpha,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
        top_fixes_size=False,
    )
    norm = bn_factory(inference_bn, **BN)
    if weights == "imagenet":
        check_imagenet_alpha(alpha, minimalistic, model)
    # every official file is for the default size; other inputs get Keras' warning
    size = registry.model_spec(model).default_size
    weights_rows(
        tuple(img_input.shape[1:]),
        weights,
        family=model,
        default_size=size,
        weight_sizes=(size,),
        stacklevel=4,
    )

    if minimalistic:
        large_kernel, activation, se = 3, relu, False
    else:
        large_kernel, activation, se = 5, hard_swish, True

    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    x = norm(x, name="conv_bn")
    x = activation(x)

    for block_id, (expansion, filters, kernel, stride, block_se, act) in enumerate(blocks):
        x = inverted_residual_block(
            x,
            expansion=expansion,
            filters=make_divisible(filters * alpha),
            kernel_size=kernel or large_kernel,
            stride=stride,
            se=se and block_se,
            activation=relu if act == "relu" else activation,
            norm=norm,
            block_id=block_id,
        )

    x = layers.Conv2D(
        make_divisible(x.shape[channel_axis()] * 6),
        1,
        padding="same",
        use_bias=False,
        name="conv_1",
    )(x)
    x = norm(x, name="conv_1_bn")
    x = activation(x)

    if include_top:
        last_point = last_point_channels
        if alpha > 1.0:
            last_point = make_divisible(last_point * alpha)
        x = classifier_top(
            x,
            channels=last_point,
            activation=activation,
            dropout_rate=dropout_rate,
            classes=classes,
            classifier_activation=classifier_activation,
        )
    else:
        x = builder.pooling_head(x, pooling)
    return builder.create_model(
        img_input,
        x,
        input_tensor=input_tensor,
        name=name,
        weights=weights,
        model=model,
        variant={"alpha": alpha, "minimalistic": bool(minimalistic)},
        include_top=include_top,
    )


@builder.model_function(DOC, variants=VARIANTS)
def MobileNetV3Small(
    input_shape=None,
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="MobileNetV3Small",
    inference_bn=False,
):
    return mobilenet_v3(
        **VARIANTS["MobileNetV3Small"],
        model="MobileNetV3Small",
        input_shape=input_shape,
        alpha=alpha,
        minimalistic=minimalistic,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        classes=classes,
        pooling=pooling,
        dropout_rate=dropout_rate,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        name=name,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def MobileNetV3Large(
    input_shape=None,
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="MobileNetV3Large",
    inference_bn=False,
):
    return mobilenet_v3(
        **VARIANTS["MobileNetV3Large"],
        model="MobileNetV3Large",
        input_shape=input_shape,
        alpha=alpha,
        minimalistic=minimalistic,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        classes=classes,
        pooling=pooling,
        dropout_rate=dropout_rate,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        name=name,
        inference_bn=inference_bn,
    )
