"""Argument checks shared by the model functions and the tools.

Each check raises a TypeError (wrong kind of value) or a ValueError (right kind,
wrong value) that names the argument and says what it accepts. Callers run
every check before they change anything, so a refused call leaves its model as
it was.

One module on purpose, over the package's ~400-line guide: the whole argument
vocabulary (integers, numbers, flags, choices, shapes, paths, models) in one
place, so that each rule is written once.
"""

import math
import numbers
import os

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
    return f"{_short(value)} of type {type(value).__name__}"


def _short(value):
    """The repr of ``value``, shortened to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    """A real number (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _integral(value):
    """An integer (Python's or NumPy's, any ``numbers.Integral``), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _finite_float(value):
    """``value`` as a float, or None where it is not finite (inf, NaN, or an int too
    large for a float)."""
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def check_positive(value, argname, maximum=None):
    """Check a finite number > 0 (and <= ``maximum`` where given).

    Python and NumPy numbers pass; bools, strings and None do not.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        maximum: the largest value allowed, or None.

    Returns:
        ``value`` as a float.

    Raises:
        TypeError: ``value`` is not a number (a bool is not one).
        ValueError: ``value`` is not finite, not > 0, or above ``maximum``.
    """
    if not _real(value):
        raise TypeError(f"`{argname}` must be a positive number, got {describe(value)}.")
    number = _finite_float(value)
    if number is None or not number > 0:
        raise ValueError(f"`{argname}` must be a positive number, got {argname}={_short(value)}.")
    if maximum is not None and number > maximum:
        raise ValueError(
            f"`{argname}` must be a positive number of at most {maximum:g}, got {argname}={_short(value)}."
        )
    return number


def check_rate(value, argname):
    """Check a dropout rate: a number in [0, 1).

    1 is refused: every unit would be dropped (TensorFlow refuses it when training,
    other backends divide by 0).

    Args:
        value: the value passed.
        argname: the argument's name, for the message.

    Returns:
        ``value`` as a float.

    Raises:
        TypeError: ``value`` is not a number (a bool is not one).
        ValueError: ``value`` is NaN or outside [0, 1).
    """
    if not _real(value):
        raise TypeError(f"`{argname}` must be a number in [0, 1), got {describe(value)}.")
    number = _finite_float(value)
    if number is None or not 0 <= number < 1:
        raise ValueError(
            f"`{argname}` must be a number in [0, 1) (0: no dropout), got {argname}={_short(value)}."
        )
    return number


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
    number = _finite_float(value)
    if number is None or not number >= 0:
        raise ValueError(
            f"`{argname}`: learning-rate multipliers must be finite and >= 0, "
            f"got {value if number is None else number} for {key!r}."
        )
    return number


def check_int(value, argname, *, minimum=None, maximum=None, allow_none=False):
    """Check an integer, within ``[minimum, maximum]`` where given.

    Any ``numbers.Integral`` passes (Python ints, NumPy integers); bools do not, nor
    do floats, even integral ones such as ``2.0``.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        minimum: the smallest value allowed, or None.
        maximum: the largest value allowed, or None.
        allow_none: whether ``None`` passes.

    Returns:
        ``value`` as a Python int, or ``None``.

    Raises:
        TypeError: ``value`` is not an integer (a bool or a float is not one),
            nor an allowed ``None``.
        ValueError: ``value`` is outside ``[minimum, maximum]``.
    """
    if value is None and allow_none:
        return None
    if minimum == 1 and maximum is None:
        expected = "a positive int"
    elif minimum is not None and maximum is not None:
        expected = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an int >= {minimum}"
    elif maximum is not None:
        expected = f"an int <= {maximum}"
    else:
        expected = "an int"
    if allow_none:
        expected += " or None"
    if not _integral(value):
        raise TypeError(f"`{argname}` must be {expected}, got {describe(value)}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{argname}` must be {expected}, got {argname}={_short(value)}.")
    return int(value)


def check_positive_int(value, argname, allow_none=False):
    """Check an int >= 1 (or ``None`` when ``allow_none``): ``check_int`` with
    ``minimum=1``.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        allow_none: whether ``None`` passes.

    Returns:
        ``value`` as a Python int, or ``None``.

    Raises:
        TypeError: ``value`` is not an integer (bools and floats such as ``2.0``
            included), nor an allowed ``None``.
        ValueError: ``value`` is an integer < 1.
    """
    return check_int(value, argname, minimum=1, allow_none=allow_none)


def check_choice(value, argname, choices):
    """Check that ``value`` is one of ``choices`` (strings, or None).

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        choices: the values allowed.

    Returns:
        ``value``, as the choice it equals (a NumPy string becomes a str).

    Raises:
        TypeError: ``value`` is not a string where every choice is one.
        ValueError: ``value`` is none of ``choices`` (any value where ``None`` is
            a choice, as Keras' ``pooling``).
    """
    for choice in choices:
        if value is choice or (isinstance(value, str) and value == choice):
            return choice
    allowed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
    message = f"`{argname}` must be {allowed}, got {describe(value)}."
    if not isinstance(value, str) and None not in choices:
        raise TypeError(message)
    raise ValueError(message)


def check_shape(value, argname="input_shape", *, length=None):
    """Check a shape: each dimension a positive integer, or None for a free size.

    A tuple, a list or a 1D NumPy array passes; the dimensions may be NumPy
    integers. Floats (``32.5``, ``64.0``, inf), bools and sizes below 1 are
    refused: none of them is a size a model can be built for.

    Args:
        value: the value passed.
        argname: the argument's name, for the message.
        length: the number of dimensions required, or None.

    Returns:
        The shape, a tuple of Python ints and Nones.

    Raises:
        TypeError: ``value`` is not a sequence of dimensions, or a dimension is
            neither an integer nor None.
        ValueError: a dimension is below 1, or the shape has not ``length``
            dimensions.
    """
    expected = "a tuple of positive integers (None for a free size)"
    if isinstance(value, (str, bytes, dict, set, frozenset)) or not hasattr(value, "__len__"):
        raise TypeError(f"`{argname}` must be {expected}, got {describe(value)}.")
    try:
        dims = tuple(value)
    except TypeError:  # a 0D array
        raise TypeError(f"`{argname}` must be {expected}, got {describe(value)}.") from None
    for d in dims:
        if d is not None and not _integral(d):
            raise TypeError(
                f"`{argname}` must be {expected}, got {_shape_text(dims)}: "
                f"{describe(d)} is not an integer."
            )
    if length is not None and len(dims) != length:
        raise ValueError(f"`{argname}` must have {length} dimensions, got {_shape_text(dims)}.")
    for d in dims:
        if d is not None and d < 1:
            raise ValueError(
                f"`{argname}` must be {expected}, got {_shape_text(dims)}: {int(d)} is not a positive size."
            )
    return tuple(None if d is None else int(d) for d in dims)


def _shape_text(dims):
    """A shape in a message, NumPy scalars written as plain numbers."""
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


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
    number = _finite_float(value)
    if number is None or not number >= 0:
        raise ValueError(
            f"`{argname}` must be a finite number of samples >= 0 (0 replaces the statistics), got {value!r}."
        )
    return number


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
    if not _integral(value):
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
        raise TypeError(
            f"`{argname}` must be a path (a str or os.PathLike), got {describe(value)}."
        )
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(
            f"`{argname}` must be a path (a str or os.PathLike), got {describe(value)}."
        )
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
