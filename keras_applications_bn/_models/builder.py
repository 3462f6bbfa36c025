"""What every model function of this package is built from: the checks of its
arguments and input (`model_input`), the top (`classifier_head`,
`pooling_head`), the model with its weights (`create_model`), and
its declaration (`model_function`: the registry row, the docstring of
`docs`, the keywords of keras_applications 1.0.8), as for each module's
``preprocess_input`` (`module_preprocessor`). Each reads the model's input
sizes, preprocessing mode and weight files from `weights.registry`, by the
model function's name.

`imagenet_utils` keeps what Keras' module of that name has (preprocessing,
prediction decoding, `obtain_input_shape`); these names
were there before and remain importable from it.

A little over the package's ~400-line guide: the steps every model function
shares (arguments, input, top, weights, declaration) belong together.
"""

import os

import keras

from keras_applications_bn import imagenet_utils, legacy
from keras_applications_bn import weights as weights_lib
from keras_applications_bn._models import docs, keras_internals
from keras_applications_bn._models.checks import (
    check_bool,
    check_choice,
    check_positive,
    check_positive_int,
    check_shape,
    describe,
)
from keras_applications_bn._models.tf_keras import check_not_tf_keras
from keras_applications_bn.weights import registry
from keras_applications_bn.weights.loading import unreadable_weights, weights_file_problem

__all__ = [
    "NOT_GIVEN",
    "MAX_ALPHA",
    "check_weights",
    "validate_arguments",
    "image_input",
    "model_input",
    "pooling_head",
    "classifier_head",
    "create_model",
    "weight_sizes",
    "weights_model_of",
    "module_preprocessor",
    "model_function",
]


#: ``alpha`` of `validate_arguments` for families without a width multiplier.
NOT_GIVEN = object()

#: The largest width multiplier ``alpha`` accepted: at 10**6 the widest layers
#: already have over a billion filters; far above, their filter counts overflow
#: (Keras: OverflowError).
MAX_ALPHA = 1e6

#: The endings by which Keras' ``load_weights`` recognises a weights file
#: (case-sensitive, as Keras compares them).
WEIGHTS_SUFFIXES = (".weights.h5", ".weights.json", ".h5", ".hdf5", ".keras")


def check_weights(weights):
    """Check ``weights``: ``None``, ``"imagenet"``, or the path of a file Keras loads
    weights from, checked before anything is built.

    Args:
        weights: the ``weights`` argument of a model function.

    Raises:
        TypeError: ``weights`` is neither None, a string nor a path.
        ValueError: the path does not exist, is a directory (other than an Orbax
            checkpoint), has a name Keras does not load weights from (it picks the
            format by the ending: ``.weights.h5``, ``.h5``, ``.hdf5``, ``.keras``,
            ``.weights.json``), or is not the file its name says (an ``.h5`` that
            is not HDF5, a ``.keras`` that is not a zip archive, a truncated file).
    """
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "`weights` must be None, 'imagenet' or the path to a weights file, "
            f"got {describe(weights)}."
        )
    path = os.fsdecode(os.fspath(weights))
    if not os.path.exists(path):
        raise ValueError(
            f"`weights` file not found: {path!r}. Pass None (random "
            "initialisation), 'imagenet' (official ImageNet weights) or the path "
            "to an existing weights file."
        )
    saved_by = (
        "Pass the path of a file saved with `model.save_weights(...)` (.weights.h5) or "
        "`model.save(...)` (.keras), a legacy .h5 file, 'imagenet' or None."
    )
    if os.path.isdir(path):
        if keras_internals.is_orbax_checkpoint(path):
            return
        raise ValueError(f"`weights`={path!r} is a directory, not a weights file. {saved_by}")
    if not path.endswith(WEIGHTS_SUFFIXES):
        raise ValueError(
            f"`weights`={path!r} is not a weights file Keras can load: Keras reads the "
            "format from the name, which must end in .weights.h5, .h5, .hdf5, .keras or "
            f".weights.json (lower case). {saved_by}"
        )
    problem = weights_file_problem(path)
    if problem:
        raise unreadable_weights(path, problem, None)


def validate_arguments(
    *,
    weights,
    include_top,
    classes,
    classifier_activation,
    pooling=None,
    inference_bn=False,
    alpha=NOT_GIVEN,
):
    """Check the arguments every model function takes; raise a clear error.

    Flags (``include_top``, ``inference_bn``) must be ``True`` or ``False`` (NumPy
    bools too): a truthy string such as ``"no"`` is refused rather than read as
    ``True``. ``classes`` (with the top) is a positive integer, NumPy's too, not
    a bool or a float. ``alpha`` (the MobileNet families' width; not given for
    other families) must be a finite number above 0 and at most
    ``MAX_ALPHA``, whatever the weights. ``weights`` is checked by
    ``check_weights``.
    """
    check_bool(inference_bn, "inference_bn")
    if alpha is not NOT_GIVEN:
        check_positive(alpha, "alpha", maximum=MAX_ALPHA)
    check_weights(weights)
    include_top = check_bool(include_top, "include_top")
    check_choice(pooling, "pooling", (None, "avg", "max"))
    if include_top:
        classes = check_positive_int(classes, "classes")
        if weights == "imagenet" and classes != 1000:
            raise ValueError(
                "With weights='imagenet' and include_top=True, `classes` must be 1000 "
                f"(got {classes}). For another number of classes use include_top=False "
                "and add your own classifier, or weights=None."
            )
        if weights is not None:
            act = keras.activations.get(classifier_activation)
            if act not in (keras.activations.get("softmax"), keras.activations.get(None)):
                raise ValueError(
                    "With pretrained weights and include_top=True, "
                    "`classifier_activation` must be 'softmax' or None (logits), "
                    f"got {classifier_activation!r}."
                )


def _check_input_tensor(input_tensor):
    """Refuse an ``input_tensor`` that is not a Keras tensor (Keras 3 builds models
    on symbolic inputs only) with a short message: its type and shape, not its
    values."""
    if keras.backend.is_keras_tensor(input_tensor):
        return
    try:
        shape = tuple(None if d is None else int(d) for d in input_tensor.shape)
    except (AttributeError, TypeError, ValueError):
        shape = None
    what = (
        f"{type(input_tensor).__name__} of shape {shape}"
        if shape is not None
        else describe(input_tensor)
    )
    hint = (
        f" For images of this shape pass `input_shape={shape[1:]}` or "
        f"`input_tensor=keras.Input({shape[1:]})`."
        if shape is not None and len(shape) == 4
        else ""
    )
    raise TypeError(
        "`input_tensor` must be a Keras tensor (a symbolic one, such as "
        "`keras.Input((224, 224, 3))`), "
        f"got {what}.{hint}"
    )


def _merge_tensor_shape(input_tensor, input_shape):
    """The input shape to validate when ``input_tensor`` is given: the tensor's
    own shape (without batch), with any dimension it leaves unknown taken from
    ``input_shape``. A known dimension that ``input_shape`` gives otherwise is an
    error (the model would be built on the tensor, not on ``input_shape``)."""
    _check_input_tensor(input_tensor)
    tensor_shape = tuple(None if d is None else int(d) for d in input_tensor.shape)
    if len(tensor_shape) != 4:
        raise ValueError(
            "`input_tensor` must be a batch of images (4D: batch, then 3 image "
            f"dimensions), got a tensor of shape {tensor_shape}."
        )
    if any(d is not None and d < 1 for d in tensor_shape[1:]):
        raise ValueError(
            f"`input_tensor` has shape {tensor_shape}: each image dimension must be a "
            "positive size (or None). Check its channels, e.g. `keras.Input((224, 224, 3))`."
        )
    tensor_shape = tensor_shape[1:]
    if input_shape is None:
        return tensor_shape
    given = check_shape(input_shape)
    if len(given) != 3:
        return given  # obtain_input_shape says what is wrong with it
    if any(a is not None and b is not None and a != b for a, b in zip(given, tensor_shape)):
        raise ValueError(
            f"`input_tensor` has shape {tensor_shape} (without the batch axis) but "
            f"`input_shape` is {given}; the model is built on `input_tensor`, so "
            "they must agree. Pass only `input_tensor`, or an `input_shape` that matches it."
        )
    return tuple(b if b is not None else a for a, b in zip(given, tensor_shape))


def image_input(
    input_tensor,
    input_shape,
    *,
    default_size,
    min_size,
    include_top,
    weights,
    weight_sizes=None,
):
    """The model's input tensor: ``input_tensor`` (a symbolic Keras tensor) or a new
    `keras.Input`, validated by `imagenet_utils.obtain_input_shape`. With
    ``input_tensor`` its own shape is checked; ``input_shape``, when given too, must
    agree with it."""
    check_not_tf_keras(input_tensor, "input_tensor")
    if input_tensor is not None:
        input_shape = _merge_tensor_shape(input_tensor, input_shape)
    # through the module, so that a patched imagenet_utils.obtain_input_shape is seen
    shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=min_size,
        include_top=include_top,
        weights=weights,
        weight_sizes=weight_sizes,
    )
    if input_tensor is None:
        return keras.Input(shape=shape)
    return input_tensor


def weight_sizes(model):
    """The square input sizes ``model`` has official files for, where it has
    several (MobileNet, MobileNetV2: the ``rows`` of its files); else ``None``."""
    return registry.variant_values(model, "rows") or None


def model_input(
    *,
    model,
    input_tensor,
    input_shape,
    include_top,
    weights,
    classes,
    classifier_activation,
    pooling,
    inference_bn=False,
    alpha=NOT_GIVEN,
    top_fixes_size=True,
    default_size=None,
):
    """What every model function starts with: `validate_arguments`, then
    `image_input` under the size rules of ``model`` in the registry
    (`weights.registry.model_spec`: ``default_size``, ``min_size``, and
    the sizes of its files, `weight_sizes`); returns the model's input
    tensor. ``default_size`` replaces the registry's (NASNet's builder).

    ``top_fixes_size=False`` is for families whose classifier accepts any input
    size, with or without ImageNet weights (MobileNetV3): the input shape is then
    checked as for a model without the top, and defaults to an unknown size."""
    validate_arguments(
        weights=weights,
        include_top=include_top,
        classes=classes,
        classifier_activation=classifier_activation,
        pooling=pooling,
        inference_bn=inference_bn,
        alpha=alpha,
    )
    spec = registry.model_spec(model)
    return image_input(
        input_tensor,
        input_shape,
        include_top=include_top and top_fixes_size,
        weights=weights,
        default_size=spec.default_size if default_size is None else default_size,
        min_size=spec.min_size,
        weight_sizes=weight_sizes(model),
    )


def pooling_head(x, pooling, *, named=True):
    """Global pooling of a headless model's features (``pooling`` None/avg/max).

    The layers are ``avg_pool``/``max_pool`` when ``named``, else Keras' automatic
    names: each family names them as its ``keras.applications`` twin does.
    """
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool" if named else None)(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool" if named else None)(x)
    return x


def classifier_head(
    x,
    *,
    include_top,
    pooling,
    classes,
    classifier_activation,
    named_pooling=True,
    name="predictions",
):
    """Global average pooling and a Dense layer named ``name``, or
    ``pooling_head(x, pooling, named=named_pooling)``."""
    if not include_top:
        return pooling_head(x, pooling, named=named_pooling)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.layers.Dense(int(classes), activation=classifier_activation, name=name)(x)


def create_model(
    img_input, outputs, *, input_tensor, name, weights, model, include_top, variant=None
):
    """Build the functional model and load ``weights`` into it.

    With ``weights="imagenet"`` the file is the registry's for the model function
    ``model`` and its ``variant`` (a dict, e.g. ``{"alpha": 0.5, "rows": 128}``;
    see `weights.registry.lookup`); ``model`` is unused otherwise (and may
    be ``None``: a builder's configuration without official weights).
    """
    inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else img_input
    built = keras.Model(inputs, outputs, name=name)
    top_file = None
    if isinstance(weights, str) and weights == "imagenet":
        top_file = registry.lookup(model, include_top=True, **(variant or {})).name
    return weights_lib.load_weights(built, weights, name=top_file, include_top=include_top)


def module_preprocessor(module, family, doc=None):
    """The ``preprocess_input`` of the model module ``keras_applications_bn.<module>``,
    in the mode the registry gives its models (`weights.registry.module_preprocessing`),
    accepting the keywords that keras_applications 1.0.8 callers inject
    (`legacy.injected_keywords`).

    Args:
        module: the module's name, e.g. ``"resnet"``.
        family: the family's name, for the docstring.
        doc: the docstring, where the family says more than
            `docs.preprocess_docstring`.

    Returns:
        A ``preprocess_input(x, data_format=None)`` function: for ``"in-model"``
        models the identity, else ``imagenet_utils.preprocess_input`` in the mode.
    """
    mode = registry.module_preprocessing(module)
    if mode == "in-model":

        def preprocess_input(x, data_format=None):
            return x

    else:

        def preprocess_input(x, data_format=None):
            return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)

    preprocess_input.__qualname__ = "preprocess_input"
    preprocess_input.__doc__ = doc or docs.preprocess_docstring(family, mode)
    return legacy.injected_keywords(preprocess_input)


def model_function(doc, *, variants=None):
    """Declare a public model function of a family module (a decorator).

    The one way a family module makes a model function public: the function is
    checked to be a row of the registry's model table (`weights.registry.MODELS`,
    in this module) and, with ``variants``, of the family's table; it gets the
    docstring `docs.model_docstring` writes from ``doc``; and it accepts
    the keywords that keras_applications 1.0.8 callers inject
    (`legacy.injected_keywords`; ``inspect.signature`` still shows its own).

    Args:
        doc: the family's `docs.ModelDoc`.
        variants: the family's ``VARIANTS`` table (model function name -> the
            family builder's keyword arguments), or ``None`` for a family of
            one model function. The function's row fills ``{key}`` fields of ``doc``.

    Returns:
        The decorator.

    Raises:
        ValueError: (on decoration) the function is not in the model table, its
            module is not the table's, or it has no row in ``variants``.
    """

    def declare(fn):
        spec = registry.model_spec(fn.__name__)
        module = fn.__module__.rsplit(".", 1)[-1]
        if spec.module != module:
            raise ValueError(
                f"{fn.__name__} is defined in {module!r}, but the registry's model "
                f"table has it in {spec.module!r}."
            )
        if variants is not None and fn.__name__ not in variants:
            raise ValueError(f"{fn.__name__} has no row in its family's VARIANTS.")
        row = variants[fn.__name__] if variants is not None else {}
        fn.__doc__ = docs.model_docstring(fn, doc, **row)
        return legacy.injected_keywords(fn)

    return declare


def weights_model_of(config, variants):
    """The model function whose official files were trained with ``config``
    (a row of the family's ``variants``, keyword arguments of its builder), or
    ``None``: another configuration has no ImageNet weights."""
    for model, row in variants.items():
        if config == row:
            return model
    return None
