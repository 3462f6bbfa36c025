"""ConvNeXt Tiny, Small, Base, Large and XLarge (Liu et al., "A ConvNet for the
2020s", CVPR 2022).

A 4x4/4 "patchify" stem, then four stages of ConvNeXt blocks joined by 2x2/2
downsampling convolutions. A block is a 7x7 depthwise convolution, a
LayerNormalization, an inverted bottleneck of two pointwise (``Dense``) layers
with GELU between them, a learned per-channel scale (LayerScale) and an identity
skip. The five models differ in the blocks per stage and the channels.

Layer names, order and weights match Keras' official ImageNet files, so
``weights="imagenet"`` loads ``convnext_{tiny,small,base,large,xlarge}.h5`` (with
the top) or ``convnext_{...}_notop.h5``; the stem and each downsampling step are
nested ``Sequential`` models, and the layer names start with the model's
``name``, as in Keras. Default input {default_size}x{default_size} (any size from
{min_size}x{min_size} without the top); ``channels_last`` only, as in Keras.

Preprocessing is part of the model (``include_preprocessing=True``, the default):
it takes RGB images in [0, 255] and normalises each channel with the ImageNet
mean and standard deviation (a ``Normalization`` layer with fixed statistics), so
``preprocess_input`` is the identity.

ConvNeXt normalises with LayerNormalization and has no BatchNormalization:
``inference_bn`` is accepted, so that every model of this package has one
signature, and changes nothing.

The LayerScale (and, with a ``drop_path_rate``, stochastic depth) layers are
Keras' own classes (``keras.src.applications.convnext``), so a saved ``.keras``
model reloads with Keras alone, without this package.
"""

import numpy as np
from keras import Sequential, layers

from keras_applications_bn import imagenet_utils
from keras_applications_bn._models import builder, docs, keras_internals
from keras_applications_bn._models.blocks import require_channels_last
from keras_applications_bn._models.checks import check_bool
from keras_applications_bn.imagenet_utils import decode_predictions

# Keras' own layers (not exported under a public name): a model that holds them
# is rebuilt by Keras from their module path, so it reloads without this package.
LayerScale, StochasticDepth = keras_internals.convnext_layers()

__all__ = [
    "ConvNeXtTiny",
    "ConvNeXtSmall",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtXLarge",
    "preprocess_input",
    "decode_predictions",
]
__doc__ = docs.module_docstring(__doc__, "convnext")

preprocess_input = builder.module_preprocessor("convnext", "ConvNeXt")

#: The five variants (Table 9 of the paper): each model function's blocks per
#: stage and channels per stage, the keyword arguments of `ConvNeXt` that make it.
VARIANTS = {
    "ConvNeXtTiny": dict(depths=(3, 3, 9, 3), projection_dims=(96, 192, 384, 768)),
    "ConvNeXtSmall": dict(depths=(3, 3, 27, 3), projection_dims=(96, 192, 384, 768)),
    "ConvNeXtBase": dict(depths=(3, 3, 27, 3), projection_dims=(128, 256, 512, 1024)),
    "ConvNeXtLarge": dict(depths=(3, 3, 27, 3), projection_dims=(192, 384, 768, 1536)),
    "ConvNeXtXLarge": dict(depths=(3, 3, 27, 3), projection_dims=(256, 512, 1024, 2048)),
}

#: What the docstrings of the model functions say of their own.
DOC = docs.ModelDoc(
    top="the classifier (``<name>_head_gap``, ``_head_layernorm``, ``_head_dense``)",
    inference_bn=None,
    summary="Blocks per stage {depths}, channels {projection_dims}.",
    args={
        "include_preprocessing": (
            "whether the model normalises its [0, 255] input\n"
            "itself (the default, as the official weights expect; only for 3\n"
            "channels); ``False`` leaves that to you."
        ),
        "name": (
            "the model's name, also the prefix of its layer names;\n"
            '``weights="imagenet"`` loads ``{weights_file}[_notop].h5`` whatever it is.'
        ),
    },
    returns=(
        "A `keras.Model` that takes RGB images with values in [0, 255]: it\n"
        "normalises them itself, so\n"
        "`keras_applications_bn.{module}.preprocess_input` is the identity."
    ),
)

LN_EPSILON = 1e-6
LAYER_SCALE_INIT = 1e-6


def prestem(x, *, name):
    """Per-channel ImageNet normalisation of [0, 255] pixels
    (``{name}_prestem_normalization``: fixed statistics, no weights)."""
    mean = [m * 255 for m in imagenet_utils.IMAGENET_MEAN_RGB]
    variance = [(s * 255) ** 2 for s in imagenet_utils.IMAGENET_STD_RGB]
    return layers.Normalization(mean=mean, variance=variance, name=f"{name}_prestem_normalization")(
        x
    )


def stem(x, filters, *, name):
    """The nested model ``{name}_stem``: a 4x4 convolution with stride 4
    (non-overlapping patches), then LayerNormalization."""
    return Sequential(
        [
            layers.Conv2D(filters, 4, strides=4, name=f"{name}_stem_conv"),
            layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{name}_stem_layernorm"),
        ],
        name=f"{name}_stem",
    )(x)


def downsampling(x, filters, index, *, name):
    """The nested model ``{name}_downsampling_block_{index}`` before stages 1-3:
    LayerNormalization, then a 2x2 convolution with stride 2."""
    return Sequential(
        [
            layers.LayerNormalization(
                epsilon=LN_EPSILON, name=f"{name}_downsampling_layernorm_{index}"
            ),
            layers.Conv2D(filters, 2, strides=2, name=f"{name}_downsampling_conv_{index}"),
        ],
        name=f"{name}_downsampling_block_{index}",
    )(x)


def convnext_block(x, filters, *, drop_path_rate, layer_scale_init_value, name):
    """One ConvNeXt block on ``filters`` channels, layers ``{name}_depthwise_conv``
    ... ``{name}_identity`` (or ``{name}_stochastic_depth``).

    7x7 depthwise convolution (a ``Conv2D`` with one group per channel, as the
    official files hold it), LayerNormalization, ``Dense`` to 4x the channels,
    GELU, ``Dense`` back, LayerScale (unless ``layer_scale_init_value`` is None),
    then the residual sum, whose branch stochastic depth drops in training when
    ``drop_path_rate`` > 0."""
    shortcut = x
    x = layers.Conv2D(filters, 7, padding="same", groups=filters, name=f"{name}_depthwise_conv")(x)
    x = layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{name}_layernorm")(x)
    x = layers.Dense(4 * filters, name=f"{name}_pointwise_conv_1")(x)
    x = layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = layers.Dense(filters, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, filters, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        x = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")(x)
    else:
        x = layers.Activation("linear", name=f"{name}_identity")(x)
    # an operation, not a layer (as in Keras): absent from ``model.layers``
    return shortcut + x


def head(x, *, classes, classifier_activation, name):
    """The classifier: global average pooling (``{name}_head_gap``),
    LayerNormalization (``{name}_head_layernorm``), ``{name}_head_dense``."""
    x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
    x = layers.LayerNormalization(epsilon=LN_EPSILON, name=f"{name}_head_layernorm")(x)
    return layers.Dense(int(classes), activation=classifier_activation, name=f"{name}_head_dense")(
        x
    )


def ConvNeXt(
    depths,
    projection_dims,
    drop_path_rate=0.0,
    layer_scale_init_value=LAYER_SCALE_INIT,
    *,
    model,
    name,
    include_preprocessing,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    inference_bn=False,
):
    """The ConvNeXt with ``depths[i]`` blocks of ``projection_dims[i]`` channels in
    stage ``i``, with stochastic depth rising linearly from 0 to ``drop_path_rate``
    over the blocks (0, the default of every public function as in Keras, leaves
    it out). The public functions are this with their row of `VARIANTS`;
    ``model`` names the function whose registry rows (input sizes, weight files)
    apply: ``weights="imagenet"`` loads its files whatever the model's ``name``."""
    require_channels_last("ConvNeXt")
    include_preprocessing = check_bool(include_preprocessing, "include_preprocessing")
    img_input = builder.model_input(
        model=model,
        input_tensor=input_tensor,
        input_shape=input_shape,
        include_top=include_top,
        weights=weights,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
        inference_bn=inference_bn,
    )

    x = img_input
    if include_preprocessing and img_input.shape[-1] == 3:
        x = prestem(x, name=name)

    rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
    index = 0
    for i, (depth, filters) in enumerate(zip(depths, projection_dims)):
        x = stem(x, filters, name=name) if i == 0 else downsampling(x, filters, i - 1, name=name)
        for j in range(depth):
            x = convnext_block(
                x,
                filters,
                drop_path_rate=rates[index],
                layer_scale_init_value=layer_scale_init_value,
                name=f"{name}_stage_{i}_block_{j}",
            )
            index += 1

    if include_top:
        x = head(x, classes=classes, classifier_activation=classifier_activation, name=name)
    else:
        x = builder.pooling_head(x, pooling, named=False)
        # normalised features in every case, pooled or not (Keras' unnamed layer)
        x = layers.LayerNormalization(epsilon=LN_EPSILON)(x)
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
def ConvNeXtTiny(
    include_top=True,
    include_preprocessing=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="convnext_tiny",
    inference_bn=False,
):
    return ConvNeXt(
        **VARIANTS["ConvNeXtTiny"],
        model="ConvNeXtTiny",
        name=name,
        include_preprocessing=include_preprocessing,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def ConvNeXtSmall(
    include_top=True,
    include_preprocessing=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="convnext_small",
    inference_bn=False,
):
    return ConvNeXt(
        **VARIANTS["ConvNeXtSmall"],
        model="ConvNeXtSmall",
        name=name,
        include_preprocessing=include_preprocessing,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def ConvNeXtBase(
    include_top=True,
    include_preprocessing=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="convnext_base",
    inference_bn=False,
):
    return ConvNeXt(
        **VARIANTS["ConvNeXtBase"],
        model="ConvNeXtBase",
        name=name,
        include_preprocessing=include_preprocessing,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def ConvNeXtLarge(
    include_top=True,
    include_preprocessing=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="convnext_large",
    inference_bn=False,
):
    return ConvNeXt(
        **VARIANTS["ConvNeXtLarge"],
        model="ConvNeXtLarge",
        name=name,
        include_preprocessing=include_preprocessing,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )


@builder.model_function(DOC, variants=VARIANTS)
def ConvNeXtXLarge(
    include_top=True,
    include_preprocessing=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="convnext_xlarge",
    inference_bn=False,
):
    return ConvNeXt(
        **VARIANTS["ConvNeXtXLarge"],
        model="ConvNeXtXLarge",
        name=name,
        include_preprocessing=include_preprocessing,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        inference_bn=inference_bn,
    )
