"""Argument checks shared by the model functions and the tools.

Each check raises a TypeError (wrong kind of value) or a ValueError (right kind,
wrong value) that names the argument and says what it accepts. Callers run
every check before they change anything, so a refused call leaves its model as
it was.
"""

import math
import numbers
import os

import keras
import numpy as np

from keras_applications_bn._tf_keras import check_not_tf_keras


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
        TypeError: ``value`` is not an int (a float such as ``2.0``, a bool, a
            string), nor an allowed ``None``.
        ValueError: ``value`` is an int < 1.
    """
    if value is None and allow_none:
        return None
    expected = "a positive int or None" if allow_none else "a positive int"
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{argname}` must be {expected}, got {describe(value)}.")
    if value < 1:
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


# -- tools


def check_nonnegative_int(value, argname, item=None):
    """Check an int >= 0 (an epoch number, an index from the start).

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        item: what ``value`` is within the argument (``"each epoch (key)"``),
            for the message; ``None`` when it is the argument itself.

    Returns:
        ``value`` as a Python int.

    Raises:
        TypeError: ``value`` is not an int (a float such as ``2.0``, a bool).
        ValueError: ``value`` is negative.
    """
    what = f"`{argname}`" if item is None else f"`{argname}`: {item}"
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an int >= 0, got {describe(value)}.")
    if value < 0:
        raise ValueError(f"{what} must be an int >= 0, got {describe(value)}.")
    return int(value)


def check_verbose(value, argname="verbose", levels=(0, 1), auto=False):
    """Check a verbosity level.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        levels: the int levels accepted. When they are just ``(0, 1)`` (off or
            on), ``True``/``False`` are accepted too; with more levels a bool is
            ambiguous and refused.
        auto: whether the string ``"auto"`` is accepted (returned as it is).

    Returns:
        ``value`` as a Python int, or ``"auto"``.

    Raises:
        TypeError: ``value`` is not an int (nor an accepted bool or ``"auto"``).
        ValueError: ``value`` is an int that is not one of ``levels``.
    """
    choices = (["'auto'"] if auto else []) + [str(level) for level in levels]
    expected = f"`{argname}` must be {', '.join(choices[:-1])} or {choices[-1]}"
    if auto and isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, (bool, np.bool_)):
        if tuple(levels) == (0, 1):
            return int(value)
        raise TypeError(f"{expected} (a level, not a flag), got {describe(value)}.")
    if not isinstance(value, numbers.Integral):
        raise TypeError(f"{expected}, got {describe(value)}.")
    if value not in levels:
        raise ValueError(f"{expected}, got {describe(value)}.")
    return int(value)


def check_choice(value, choices, argname):
    """Check a string that names one of a few options.

    Args:
        value: the value passed.
        choices: the accepted strings.
        argname: the argument's name, for the message.

    Returns:
        ``value``.

    Raises:
        TypeError: ``value`` is not a string.
        ValueError: ``value`` is not one of ``choices``.
    """
    expected = f"`{argname}` must be one of {', '.join(map(repr, choices))}"
    if not isinstance(value, str):
        raise TypeError(f"{expected}, got {describe(value)}.")
    if value not in choices:
        raise ValueError(f"{expected}, got {value!r}.")
    return value


def check_path(value, argname):
    """Check a file system path: a string or an ``os.PathLike``.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.

    Returns:
        ``value`` as a string.

    Raises:
        TypeError: ``value`` is neither (bytes included).
        ValueError: ``value`` is empty.
    """
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{argname}` must be a path (a str or os.PathLike), got {describe(value)}.")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"`{argname}` must be a path (a str or os.PathLike), got {describe(value)}.")
    if not path:
        raise ValueError(f"`{argname}` must be a path, got an empty string.")
    return path


def check_keras_model(model, argname="model"):
    """Check that ``model`` is a Keras 3 model (functional, Sequential or
    subclassed), not a single layer.

    Args:
        model: the value passed.
        argname: the argument's name, for the message.

    Returns:
        ``model``.

    Raises:
        TypeError: ``model`` is not a Keras 3 model (a layer is named as one,
            with the fix: wrap it in a model).
    """
    check_model(model, argname)
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`{argname}` must be a Keras model, got the {type(model).__name__} layer "
            f"{model.name!r}; wrap it in a model (e.g. keras.Sequential([keras.Input(shape), layer]))."
        )
    return model
