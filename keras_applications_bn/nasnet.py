"""NASNetMobile and NASNetLarge (Zoph et al., "Learning Transferable Architectures
for Scalable Image Recognition", CVPR 2018): the NASNet-A cells of Fig. 4.

After a strided 3x3 stem convolution, two reduction cells bring the resolution
down, then three stacks of ``num_blocks`` normal cells follow, separated by
reduction cells that halve the resolution and double the filters. Every cell
takes the outputs of the two cells before it: ``ip`` (the previous one) and
``p`` (the one before), which the *adjust block* first brings to ``ip``'s
resolution and width. The cells' branches are separable convolution blocks
(twice ReLU, separable convolution, BN) and 3x3 poolings, added in pairs.
NASNetMobile is NASNet-A (4 @ 1056), NASNetLarge NASNet-A (6 @ 4032).

Layer names, order and weights match Keras' official ImageNet files: with
``weights="imagenet"`` the model loads ``NASNet-mobile.h5`` / ``NASNet-mobile-no-top.h5``
or ``NASNet-large.h5`` / ``NASNet-large-no-top.h5`` (cached, like Keras, as
``nasnet_mobile.h5``, ``nasnet_mobile_no_top.h5``, ``nasnet_large.h5``,
``nasnet_large_no_top.h5``). Every BatchNormalization has Keras' ``momentum=0.9997``
and ``epsilon=1e-3``. Default input {NASNetMobile_size}x{NASNetMobile_size}
(NASNetMobile) or {NASNetLarge_size}x{NASNetLarge_size} (NASNetLarge), also without
the top; any static size from {min_size}x{min_size} without the top.
``channels_last`` only, as in Keras; like Keras, NASNetMobile refuses the PyTorch
backend. Preprocessing: ``"{mode}"`` mode. With ``inference_bn=True`` every
BatchNormalization runs in inference mode.

Longer than the package's ~400-line guide: the NASNet-A cells (normal and
reduction) and the two model functions' Keras signatures, one argument a line.
"""

import keras
from keras import layers

from keras_applications_bn._models import builder, docs
from keras_applications_bn._models.blocks import concat, correct_pad, require_channels_last
from keras_applications_bn._models.checks import check_bool, check_positive_int
from keras_applications_bn.imagenet_utils import decode_predictions
from keras_applications_bn.layers import bn_factory, channel_axis
from keras_applications_bn.weights import registry

__all__ = ["NASNetMobile", "NASNetLarge", "preprocess_input", "decode_predictions"]
__doc__ = docs.module_docstring(__doc__, "nasnet")

BN_MOMENTUM = 0.9997
BN_EPSILON = 1e-3

#: The two configurations with official weights: the keyword arguments of
#: `NASNet` that make each model function (its default size is the registry's).
VARIANTS = {
    model: dict(default_size=registry.model_spec(model).default_size, **config)
    for model, config in (
        (
            "NASNetMobile",
            dict(
                penultimate_filters=1056,
                num_blocks=4,
                stem_block_filters=32,
                skip_reduction=False,
                filter_multiplier=2,
            ),
        ),
        (
            "NASNetLarge",
            dict(
                penultimate_filters=4032,
                num_blocks=6,
                stem_block_filters=96,
                skip_reduction=True,
                filter_multiplier=2,
            ),
        ),
    )
}

preprocess_input = builder.module_preprocessor("nasnet", "NASNet")

#: What the docstrings of the model functions say of their own.
DOC = docs.ModelDoc(
    top="the classifier (global average pooling + ``predictions``)",
    args={
        "input_shape": (
            "optional ``(height, width, 3)`` (channels-last) input shape,\n"
            "each side at least {min_size} and known ({default_size}x{default_size} when\n"
            "``None``, also without the top); only ``({default_size}, {default_size}, 3)`` with\n"
            "ImageNet weights and the top."
        ),
    },
)


def conv_1x1(x, filters, *, name):
    """1x1 convolution without bias, He-normal initialised."""
    return layers.Conv2D(
        filters, 1, padding="same", use_bias=False, kernel_initializer="he_normal", name=name
    )(x)


def separable_conv_block(x, filters, kernel_size=3, strides=1, *, norm, block_id):
    """Twice ReLU -> separable convolution -> BN; the first convolution may be
    strided (after a TensorFlow-"same" padding of its own)."""
    with keras.name_scope(f"separable_conv_block_{block_id}"):
        x = layers.Activation("relu")(x)
        if strides == 2:
            x = layers.ZeroPadding2D(
                padding=correct_pad(x, kernel_size), name=f"separable_conv_1_pad_{block_id}"
            )(x)
            padding = "valid"
        else:
            padding = "same"
        x = layers.SeparableConv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=False,
            name=f"separable_conv_1_{block_id}",
        )(x)
        x = norm(x, name=f"separable_conv_1_bn_{block_id}")
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=False,
            name=f"separable_conv_2_{block_id}",
        )(x)
        return norm(x, name=f"separable_conv_2_bn_{block_id}")


def spatial(x):
    return tuple(x.shape[1:3])


def adjust_block(p, ip, filters, *, norm, block_id):
    """The previous-but-one cell's output ``p``, made to fit the cell's input ``ip``:
    ``ip`` itself when there is none; halved in resolution by two 1x1/2 paths (the
    second shifted by one pixel) when ``p`` is larger; projected to ``filters``
    channels when only the width differs."""
    with keras.name_scope("adjust_block"):
        if p is None:
            return ip
        if spatial(p) != spatial(ip):
            with keras.name_scope(f"adjust_reduction_block_{block_id}"):
                p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
                p1 = layers.AveragePooling2D(1, strides=2, name=f"adjust_avg_pool_1_{block_id}")(p)
                p1 = conv_1x1(p1, filters // 2, name=f"adjust_conv_1_{block_id}")
                p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
                p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)
                p2 = layers.AveragePooling2D(1, strides=2, name=f"adjust_avg_pool_2_{block_id}")(p2)
                p2 = conv_1x1(p2, filters // 2, name=f"adjust_conv_2_{block_id}")
                p = concat([p1, p2])
                return norm(p, name=f"adjust_bn_{block_id}")
        if p.shape[channel_axis()] != filters:
            with keras.name_scope(f"adjust_projection_block_{block_id}"):
                p = layers.Activation("relu")(p)
                p = conv_1x1(p, filters, name=f"adjust_conv_projection_{block_id}")
                return norm(p, name=f"adjust_bn_{block_id}")
        return p


def cell_input(ip, p, filters, *, norm, kind, block_id):
    """What both cells start with: ``p`` adjusted, and ``h`` = ReLU -> 1x1 conv -> BN of ``ip``."""
    p = adjust_block(p, ip, filters, norm=norm, block_id=block_id)
    h = layers.Activation("relu")(ip)
    h = conv_1x1(h, filters, name=f"{kind}_conv_1_{block_id}")
    return p, norm(h, name=f"{kind}_bn_1_{block_id}")


def avg_pool_3x3(x, *, strides=1, name):
    return layers.AveragePooling2D(
        3, strides=strides, padding="same" if strides == 1 else "valid", name=name
    )(x)


def normal_cell(ip, p, filters, *, norm, block_id):
    """NASNet-A normal cell: five pairwise sums over ``h`` (from ``ip``) and ``p``,
    concatenated with ``p``. Returns ``(output, ip)``: the next cell's two inputs."""
    sep = dict(norm=norm)
    with keras.name_scope(f"normal_A_block_{block_id}"):
        p, h = cell_input(ip, p, filters, norm=norm, kind="normal", block_id=block_id)
        with keras.name_scope("block_1"):
            x1 = layers.add(
                [
                    separable_conv_block(h, filters, 5, block_id=f"normal_left1_{block_id}", **sep),
                    separable_conv_block(
                        p, filters, 3, block_id=f"normal_right1_{block_id}", **sep
                    ),
                ],
                name=f"normal_add_1_{block_id}",
            )
        with keras.name_scope("block_2"):
            x2 = layers.add(
                [
                    separable_conv_block(p, filters, 5, block_id=f"normal_left2_{block_id}", **sep),
                    separable_conv_block(
                        p, filters, 3, block_id=f"normal_right2_{block_id}", **sep
                    ),
                ],
                name=f"normal_add_2_{block_id}",
            )
        with keras.name_scope("block_3"):
            x3 = avg_pool_3x3(h, name=f"normal_left3_{block_id}")
            x3 = layers.add([x3, p], name=f"normal_add_3_{block_id}")
        with keras.name_scope("block_4"):
            x4 = layers.add(
                [
                    avg_pool_3x3(p, name=f"normal_left4_{block_id}"),
                    avg_pool_3x3(p, name=f"normal_right4_{block_id}"),
                ],
                name=f"normal_add_4_{block_id}",
            )
        with keras.name_scope("block_5"):
            x5 = separable_conv_block(h, filters, 3, block_id=f"normal_left5_{block_id}", **sep)
            x5 = layers.add([x5, h], name=f"normal_add_5_{block_id}")
        x = concat([p, x1, x2, x3, x4, x5], name=f"normal_concat_{block_id}")
    return x, ip


def reduction_cell(ip, p, filters, *, norm, block_id):
    """NASNet-A reduction cell: strided separable convolutions and 3x3/2 poolings
    halve the resolution; four of its sums are concatenated. Returns ``(output, ip)``."""
    sep = dict(norm=norm, strides=2)
    with keras.name_scope(f"reduction_A_block_{block_id}"):
        p, h = cell_input(ip, p, filters, norm=norm, kind="reduction", block_id=block_id)
        h3 = layers.ZeroPadding2D(padding=correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(h)
        with keras.name_scope("block_1"):
            x1 = layers.add(
                [
                    separable_conv_block(
                        h, filters, 5, block_id=f"reduction_left1_{block_id}", **sep
                    ),
                    separable_conv_block(
                        p, filters, 7, block_id=f"reduction_right1_{block_id}", **sep
                    ),
                ],
                name=f"reduction_add_1_{block_id}",
            )
        with keras.name_scope("block_2"):
            x2 = layers.add(
                [
                    layers.MaxPooling2D(3, strides=2, name=f"reduction_left2_{block_id}")(h3),
                    separable_conv_block(
                        p, filters, 7, block_id=f"reduction_right2_{block_id}", **sep
                    ),
                ],
                name=f"reduction_add_2_{block_id}",
            )
        with keras.name_scope("block_3"):
            x3 = layers.add(
                [
                    avg_pool_3x3(h3, strides=2, name=f"reduction_left3_{block_id}"),
                    separable_conv_block(
                        p, filters, 5, block_id=f"reduction_right3_{block_id}", **sep
                    ),
                ],
                name=f"reduction_add3_{block_id}",
            )
        with keras.name_scope("block_4"):
            x4 = avg_pool_3x3(x1, name=f"reduction_left4_{block_id}")
            x4 = layers.add([x2, x4])
        with keras.name_scope("block_5"):
            x5 = layers.add(
                [
                    separable_conv_block(
                        x1, filters, 3, norm=norm, block_id=f"reduction_left4_{block_id}"
                    ),
                    layers.MaxPooling2D(3, strides=2, name=f"reduction_right5_{block_id}")(h3),
                ],
                name=f"reduction_add4_{block_id}",
            )
        x = concat([x2, x3, x4, x5], name=f"reduction_concat_{block_id}")
    return x, ip


def stem(x, filters, *, norm):
    """3x3/2 convolution (valid padding) and BN."""
    x = layers.Conv2D(
        filters,
        3,
        strides=2,
        padding="valid",
        use_bias=False,
        kernel_initializer="he_normal",
        name="stem_conv1",
    )(x)
    return norm(x, name="stem_bn1")


def cells(x, filters, *, num_blocks, skip_reduction, filter_multiplier, norm):
    """Every cell after the stem: two reduction cells (``stem_1``, ``stem_2``) up to
    ``filters`` channels, then three stacks of ``num_blocks`` normal cells,
    separated by reduction cells that widen by ``filter_multiplier``."""
    cell = dict(norm=norm)
    x, p = reduction_cell(x, None, filters // filter_multiplier**2, block_id="stem_1", **cell)
    x, p = reduction_cell(x, p, filters // filter_multiplier, block_id="stem_2", **cell)

    # ids as in Keras: normal cells 0..N-1, reduce_N, N+1..2N, reduce_2N, 2N+1..3N
    for i in range(num_blocks):
        x, p = normal_cell(x, p, filters, block_id=f"{i}", **cell)
    for stage in (1, 2):
        filters *= filter_multiplier
        x, p_reduced = reduction_cell(
            x, p, filters, block_id=f"reduce_{stage * num_blocks}", **cell
        )
        if not skip_reduction:
            p = p_reduced
        for i in range(stage * num_blocks + 1, (stage + 1) * num_blocks + 1):
            x, p = normal_cell(x, p, filters, block_id=f"{i}", **cell)
    return x


def classifier_top(x, *, include_top, pooling, classes, classifier_activation):
    """Global average pooling and ``predictions``, or ``pooling`` (the poolings unnamed, as in Keras)."""
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        return layers.Dense(int(classes), activation=classifier_activation, name="predictions")(x)
    return builder.pooling_head(x, pooling, named=False)


def check_static_size(img_input, input_shape):
    """NASNet's cells decide from static shapes where ``p`` must be reduced; an
    unknown height or width would build a network that fails when called."""
    if None in spatial(img_input):
        raise ValueError(
            "NASNet needs a static input height and width: its cells compare the "
            "resolutions of their two inputs while the model is built. Got "
            f"input_shape={input_shape if input_shape is not None else tuple(img_input.shape[1:])}; "
            "pass e.g. input_shape=(224, 224, 3)."
        )


def NASNet(
    input_shape=None,
    penultimate_filters=4032,
    num_blocks=6,
    stem_block_filters=96,
    skip_reduction=True,
    filter_multiplier=2,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    default_size=None,
    classifier_activation="softmax",
    name="NASNet",
    inference_bn=False,
):
    """NASNet-A (``num_blocks`` @ ``penultimate_filters``), the builder behind
    NASNetMobile and NASNetLarge (like Keras' own ``nasnet.NASNet``).

    ``stem_block_filters`` is the stem convolution's width, ``filter_multiplier``
    the factor by which each reduction widens the cells, ``skip_reduction``
    whether a normal cell after a reduction cell takes as ``p`` the input of
    the reduction cell's predecessor rather than that of the reduction cell
    itself; ``default_size`` (NASNetLarge's when ``None``) is the input size
    without an ``input_shape``. The other arguments are those of
    `NASNetMobile`.
    """
    require_channels_last("NASNet")
    for value, argname in (
        (penultimate_filters, "penultimate_filters"),
        (num_blocks, "num_blocks"),
        (stem_block_filters, "stem_block_filters"),
        (filter_multiplier, "filter_multiplier"),
    ):
        check_positive_int(value, argname)
    skip_reduction = check_bool(skip_reduction, "skip_reduction")
    default_size = check_positive_int(default_size, "default_size", allow_none=True)
    if default_size is None:
        default_size = registry.model_spec("NASNetLarge").default_size
    if penultimate_filters % (24 * filter_multiplier**2) != 0:
        raise ValueError(
            "`penultimate_filters` must be a multiple of 24 * filter_multiplier ** 2 "
            f"= {24 * filter_multiplier**2} for NASNet-A, got "
            f"penultimate_filters={penultimate_filters}."
        )
    config = dict(
        default_size=default_size,
        penultimate_filters=penultimate_filters,
        num_blocks=num_blocks,
        stem_block_filters=stem_block_filters,
        skip_reduction=skip_reduction,
        filter_multiplier=filter_multiplier,
    )
    model = builder.weights_model_of(config, VARIANTS)
    if model is None and weights == "imagenet":
        raise ValueError(
            "ImageNet weights exist for NASNetMobile and NASNetLarge only: with "
            "weights='imagenet', (default_size, penultimate_filters, num_blocks, "
            "stem_block_filters, skip_reduction, filter_multiplier) must be "
            f"{tuple(VARIANTS['NASNetMobile'].values())} or "
            f"{tuple(VARIANTS['NASNetLarge'].values())}, got {tuple(config.values())}. "
            "Use weights=None or a weights file for other configurations."
        )
    if input_shape is None and input_tensor is None:
        input_shape = (default_size, default_size, 3)
    img_input = builder.model_input(
        # another configuration has NASNetLarge's size rules, with its own default_size
        model=model or "NASNetLarge",
        default_size=default_size,
        inference_bn=inference_bn,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
    )
    # momentum 0.9997, epsilon 1e-3; axis -1 (not 3) as Keras has it
    norm = bn_factory(inference_bn, axis=channel_axis(), momentum=BN_MOMENTUM, epsilon=BN_EPSILON)
    check_static_size(img_input, input_shape)

    x = stem(img_input, stem_block_filters, norm=norm)
    x = cells(
        x,
        penultimate_filters // 24,
        num_blocks=num_blocks,
        skip_reduction=skip_reduction,
        filter_multiplier=filter_multiplier,
        norm=norm,
    )
    x = layers.Activation("relu")(x)
    x = classifier_top(
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
def NASNetMobile(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_mobile",
    inference_bn=False,
):
    return NASNet(
        input_shape,
        **VARIANTS["NASNetMobile"],
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def NASNetLarge(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_large",
    inference_bn=False,
):
    return NASNet(
        input_shape,
        **VARIANTS["NASNetLarge"],
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        inference_bn=inference_bn,
    )
