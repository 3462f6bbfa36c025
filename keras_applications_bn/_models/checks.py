"""Argument checks shared by the model functions and the tools.

Each check raises a TypeError (wrong kind of value) or a ValueError (right kind,
wrong value) that names the argument and says what it accepts. Callers run
every check before they change anything, so a refused call leaves its model as
it was.
"""

import math
import numbers

import keras
import numpy as np

from keras_applications_bn._models.tf_keras import check_not_tf_keras


def describe(value):
    """Describe a value for an error message.

    Args:
        value: any object.

    Returns:
        Its repr (shortened to 60 characters) and the name of its type.
    """
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} of type {type(value).__name__}"


def check_bool(value, argname):
    """Check a flag: only ``True``/``False`` (or NumPy bools) pass.

    Truthy stand-ins (``"yes"``, ``"no"``, ``1``) are refused: ``"no"`` would
    otherwise switch the option on.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.

    Returns:
        ``value`` as a Python bool.

    Raises:
        TypeError: ``value`` is not a bool.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"`{argname}` must be True or False, got {describe(value)}.")


def check_model(model, argname="model"):
    """Check that ``model`` is a Keras 3 model or layer.

    Args:
        model: the value passed.
        argname: the argument's name, for the message.

    Returns:
        ``model``.

    Raises:
        TypeError: ``model`` is not a Keras 3 model or layer (the message names
            tf_keras for a tf_keras model).
    """
    check_not_tf_keras(model, argname)
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"`{argname}` must be a Keras model or layer, got {describe(model)}.")
    return model


def _real(value):
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_))


def check_positive(value, argname):
    """Check a finite number > 0.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.

    Returns:
        ``value`` as a float.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is not finite, or not > 0.
    """
    if not _real(value):
        raise TypeError(f"`{argname}` must be a positive number, got {describe(value)}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{argname}` must be a positive number, got {argname}={value!r}.")
    return float(value)


def check_factor(value, key, argname):
    """Check a learning-rate factor: a finite number >= 0.

    Args:
        value: the factor.
        key: the layer name or pattern it is for, for the message.
        argname: the argument's name, for the message.

    Returns:
        ``value`` as a float.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is negative or not finite.
    """
    if not _real(value):
        raise TypeError(
            f"`{argname}`: the factor for {key!r} must be a number, got {describe(value)}."
        )
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            f"`{argname}`: learning-rate multipliers must be finite and >= 0, "
            f"got {value} for {key!r}."
        )
    return value


def check_positive_int(value, argname, allow_none=False):
    """Check an int >= 1 (or ``None`` when ``allow_none``).

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        allow_none: whether ``None`` passes.

    Returns:
        ``value`` as a Python int, or ``None``.

    Raises:
        ValueError: ``value`` is not an int >= 1 (nor an allowed ``None``).
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < 1:
        expected = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(f"`{argname}` must be {expected}, got {describe(value)}.")
    return int(value)


def check_prior(value, argname="prior"):
    """Check a partial adaptation's prior: a finite number of samples >= 0.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.

    Returns:
        ``value`` as a float.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is not finite, or negative.
    """
    if not _real(value):
        raise TypeError(f"`{argname}` must be a number of samples (>= 0), got {value!r}.")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            f"`{argname}` must be a finite number of samples >= 0 (0 replaces the statistics), got {value!r}."
        )
    return float(value)
