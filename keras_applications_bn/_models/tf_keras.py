"""Refuse tf_keras (Keras 2) at once, with an error that says what works.

The package builds Keras 3 models. tf_keras — the Keras 2 that
``TF_USE_LEGACY_KERAS=1`` makes ``tf.keras`` (``import keras`` still gives
Keras 3) — cannot hold them: a Keras 3 model called on a tf_keras tensor is
traced op by op into ``TFOpLambda`` layers, so the outer model builds and fits
but the nested model's weights are not among its weights and never train. Until
tf_keras is supported, everything that can receive a tf_keras object checks for
it here and raises.

Detection reads module names only; tf_keras is never imported.
"""

import os

__all__ = [
    "LEGACY_KERAS_VARIABLE",
    "legacy_keras_requested",
    "check_environment",
    "is_tf_keras",
    "check_not_tf_keras",
]

#: The environment variable with which TensorFlow routes ``tf.keras`` to tf_keras.
LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"

_WHAT_WORKS = (
    "keras_applications_bn builds Keras 3 models and does not support tf_keras "
    "(Keras 2): a model of this package inside a tf_keras model would build and "
    "fit while its layers never train (they become TFOpLambda ops). Use Keras 3 "
    "throughout: `import keras` (not `tf_keras`, and not `tf.keras` while "
    f"{LEGACY_KERAS_VARIABLE} is set) for the models, layers and optimizers you "
    "combine with this package."
)


def legacy_keras_requested(environ=None):
    """Whether ``environ`` (default ``os.environ``) routes ``tf.keras`` to tf_keras,
    by TensorFlow's own rule (``"1"``, ``"true"`` or ``"True"``)."""
    environ = os.environ if environ is None else environ
    return environ.get(LEGACY_KERAS_VARIABLE) in ("1", "true", "True")


def check_environment(environ=None):
    """Raise ImportError when ``TF_USE_LEGACY_KERAS`` selects tf_keras."""
    environ = os.environ if environ is None else environ
    if legacy_keras_requested(environ):
        raise ImportError(
            f"{LEGACY_KERAS_VARIABLE}={environ[LEGACY_KERAS_VARIABLE]} makes `tf.keras` "
            f"tf_keras (Keras 2). {_WHAT_WORKS} Unset {LEGACY_KERAS_VARIABLE} (or set "
            "it to 0) before starting Python."
        )


def _module_of(obj):
    if isinstance(obj, type(os)):  # a module, e.g. an injected `layers=tf_keras.layers`
        return obj.__name__
    cls = obj if isinstance(obj, type) else type(obj)
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] == "tf_keras":
            return klass.__module__
    return cls.__module__


def is_tf_keras(obj):
    """Whether ``obj`` — an object, a class or a module — comes from tf_keras.

    True for tf_keras models, layers, tensors, optimizers and their subclasses,
    for the tf_keras modules themselves (``tf_keras.layers``, or ``tf.keras``
    under ``TF_USE_LEGACY_KERAS=1``), and for classes derived from tf_keras ones.
    """
    return _module_of(obj).split(".")[0] == "tf_keras"


def check_not_tf_keras(obj, argument):
    """Raise TypeError, naming ``argument`` and what works, if ``obj`` is tf_keras's.

    Args:
        obj: what the caller received.
        argument: the argument's name (quoted in the message), or a short
            description such as ``"the input of a model of this package"``.
    """
    if is_tf_keras(obj):
        name = f"`{argument}`" if argument.isidentifier() else argument
        if isinstance(obj, type(os)):
            what = f"the module {obj.__name__}"
        else:
            what = f"{(obj if isinstance(obj, type) else type(obj)).__qualname__}, from {_module_of(obj)}"
        raise TypeError(f"{name} is a tf_keras (Keras 2) object ({what}). {_WHAT_WORKS}")
