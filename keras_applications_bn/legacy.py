"""The API of the standalone ``keras_applications`` 1.0.8 package, for code written
against it (segmentation_models, classification_models, efficientnet).

Such code injects Keras' modules into every call —
``ResNet50(..., backend=keras.backend, layers=keras.layers, models=keras.models,
utils=keras.utils)`` — and uses two helpers from the package's top level:
`get_submodules_from_kwargs` and `correct_pad`. This package builds
every model with Keras 3, so the injected modules select nothing: Keras 3's own
modules are accepted (and ignored), anything else is refused with an error that
says what was passed and what works. Model functions, each module's
``preprocess_input`` and ``decode_predictions`` all accept the four keywords;
``imagenet_utils._obtain_input_shape`` keeps 1.0.8's positional signature.

`injected_keywords` is the wrapper; a model module gets it for each model
function from ``_models.builder.model_function`` (the decorator that declares
it) and for ``preprocess_input`` from ``_models.builder.module_preprocessor``;
``imagenet_utils`` applies it to ``decode_predictions``.
"""

import functools
import inspect
import sys
import types

import keras

from keras_applications_bn._models.tf_keras import is_tf_keras

__all__ = [
    "INJECTED_KEYWORDS",
    "get_submodules_from_kwargs",
    "correct_pad",
    "check_injected_module",
    "injected_keywords",
]

#: The keywords through which keras_applications 1.0.8 received Keras' modules.
INJECTED_KEYWORDS = ("backend", "layers", "models", "utils")


def _default(keyword):
    return getattr(keras, keyword)


def _is_tf_keras(module):
    """Whether ``module`` belongs to tf_keras (`_tf_keras.is_tf_keras`) or
    to a Keras 2 installed as ``keras``."""
    if is_tf_keras(module):
        return True
    name = getattr(module, "__name__", None)
    if isinstance(name, str) and name.split(".", 1)[0] == "keras":
        version = getattr(sys.modules.get("keras"), "__version__", "")
        return str(version).startswith("2.")
    return False


def _is_keras3_module(keyword, module):
    """``keras.<keyword>`` itself, or the same module under another Keras 3 path:
    ``keras.src.<keyword>``, or ``tf.keras.<keyword>`` (TensorFlow >= 2.16 serves
    Keras 3 there, as ``keras._tf_keras.keras.<keyword>``)."""
    if not isinstance(module, types.ModuleType):
        return False
    parts = module.__name__.split(".")
    return parts[0] == "keras" and parts[-1] == keyword and not _is_tf_keras(module)


def _describe(value):
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__!r}"
    return f"{type(value).__name__} {value!r}"[:200]


def check_injected_module(keyword, value):
    """Check one injected module; return Keras 3's module for ``keyword``.

    Args:
        keyword: one of ``"backend"``, ``"layers"``, ``"models"``, ``"utils"``.
        value: what the caller passed: ``None`` or Keras 3's own module.

    Returns:
        ``keras.<keyword>``.

    Raises:
        TypeError: for a tf_keras (Keras 2) module, or anything but Keras 3's
            ``keras.<keyword>`` module.
    """
    if value is None or _is_keras3_module(keyword, value):
        return _default(keyword)
    if _is_tf_keras(value):
        raise TypeError(
            f"`{keyword}` is {_describe(value)}, a tf_keras (Keras 2) module. "
            "keras_applications_bn builds Keras 3 models only, and Keras 2 layers "
            f"cannot be mixed with them: pass `{keyword}=keras.{keyword}` of Keras 3, "
            "or leave the keyword out."
        )
    raise TypeError(
        f"`{keyword}` must be Keras 3's `keras.{keyword}` module (or omitted): the "
        "models of keras_applications_bn are always built with Keras 3, and the "
        "injected modules of keras_applications 1.0.8 are accepted only for "
        f"compatibility. Got {_describe(value)}."
    )


def get_submodules_from_kwargs(kwargs):
    """The modules injected into a call, as keras_applications 1.0.8 returns them.

    Works as ``keras_applications.get_submodules_from_kwargs`` 1.0.8 does, with
    Keras 3's modules.

    Args:
        kwargs: the keyword arguments of a call, a dict; it is not modified.

    Returns:
        A tuple of Keras 3's ``keras.backend``, ``keras.layers``, ``keras.models``
        and ``keras.utils``: the modules passed, or Keras 3's where a key is absent.

    Raises:
        TypeError: for a key other than the four, or a module that is not Keras 3's
            (see `check_injected_module`).
    """
    if not isinstance(kwargs, dict):
        raise TypeError(
            f"`kwargs` must be a dict of keyword arguments, got {type(kwargs).__name__}."
        )
    unknown = sorted(str(k) for k in kwargs if k not in INJECTED_KEYWORDS)
    if unknown:
        raise TypeError(
            f"Invalid keyword argument(s): {', '.join(unknown)}. Only "
            f"{', '.join(INJECTED_KEYWORDS)} can be injected."
        )
    return tuple(check_injected_module(k, kwargs.get(k)) for k in INJECTED_KEYWORDS)


def correct_pad(backend, inputs, kernel_size):
    """The zero padding before a strided convolution, as keras_applications 1.0.8 has it.

    As ``keras_applications.correct_pad`` 1.0.8 computes it: half the kernel on
    each side, one less before when a spatial size is even (or unknown).

    Args:
        backend: Keras 3's ``keras.backend`` (for the image data format), or None.
        inputs: a 4D tensor, KerasTensor or array (batch first).
        kernel_size: an integer or a tuple of 2 integers.

    Returns:
        ``((top, bottom), (left, right))``, a tuple of 2 tuples of 2 integers,
        for `keras.layers.ZeroPadding2D`.

    Raises:
        TypeError: ``backend`` is not Keras 3's ``keras.backend`` (or None).
        ValueError: ``inputs`` is not 4D, or ``kernel_size`` is not a positive
            integer or 2 of them.
    """
    backend = check_injected_module("backend", backend)
    shape = getattr(inputs, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(
            "`inputs` must be a 4D tensor (batch, height, width, channels) or "
            f"(batch, channels, height, width), got {_describe(inputs)}."
        )
    first = 2 if backend.image_data_format() == "channels_first" else 1
    size = [None if d is None else int(d) for d in tuple(shape)[first : first + 2]]
    if isinstance(kernel_size, int) and not isinstance(kernel_size, bool):
        kernel_size = (kernel_size, kernel_size)
    if (
        not isinstance(kernel_size, (tuple, list))
        or len(kernel_size) != 2
        or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in kernel_size)
    ):
        raise ValueError(
            f"`kernel_size` must be a positive integer or 2 of them, got {kernel_size!r}."
        )
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((half[0] - adjust[0], half[0]), (half[1] - adjust[1], half[1]))


def injected_keywords(fn):
    """Make ``fn`` accept the modules that keras_applications 1.0.8 callers inject.

    The keywords ``backend``, ``layers``, ``models`` and ``utils`` are checked with
    `check_injected_module`, then dropped. Any other unknown keyword is still
    refused by ``fn`` itself (a `TypeError`). ``inspect.signature`` still shows
    ``fn``'s own (Keras') signature.

    Args:
        fn: a function without parameters of those names.

    Returns:
        A wrapper of ``fn`` (``fn`` itself when it already accepts them).

    Raises:
        TypeError: ``fn`` has a parameter named like an injected keyword.
    """
    if getattr(fn, "_accepts_injected_modules", False):
        return fn
    clash = set(INJECTED_KEYWORDS) & set(inspect.signature(fn).parameters)
    if clash:
        raise TypeError(f"{fn.__qualname__} already has parameter(s) {sorted(clash)}.")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for keyword in INJECTED_KEYWORDS:
            if keyword in kwargs:
                check_injected_module(keyword, kwargs.pop(keyword))
        return fn(*args, **kwargs)

    wrapper._accepts_injected_modules = True
    return wrapper
