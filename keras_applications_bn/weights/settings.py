"""Every setting the weights package reads from the environment, read here only.

``KERAS_HOME`` (the cache root, as in Keras) and the ``KERAS_APPLICATIONS_BN_*``
variables documented in :mod:`keras_applications_bn.weights`. Each is read when
it is used (not at import), so a change of the environment takes effect at once.
"""

import math
import numbers
import os
import sys

import numpy as np

from keras_applications_bn.weights.registry import ORIGINS

MIRROR_ENV = "KERAS_APPLICATIONS_BN_MIRROR"
OFFLINE_ENV = "KERAS_APPLICATIONS_BN_OFFLINE"
TIMEOUT_ENV = "KERAS_APPLICATIONS_BN_TIMEOUT"
RETRIES_ENV = "KERAS_APPLICATIONS_BN_RETRIES"
QUIET_ENV = "KERAS_APPLICATIONS_BN_QUIET"

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 4


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _setting(value, argument, env, default, kind):
    """``value`` if given, else ``$env``, else ``default``; checked to be >= 0."""
    source = f"`{argument}`"
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return default
        source = f"${env}"
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{source} must be a {kind.__name__} >= 0, got {raw!r}.") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real if kind is float else numbers.Integral):
        raise TypeError(f"{source} must be a {kind.__name__} >= 0, got {value!r}.")
    if value < 0 or (kind is float and not (math.isfinite(value) and value > 0)):
        raise ValueError(f"{source} must be a positive {kind.__name__}, got {value!r}.")
    return kind(value)


def offline():
    """Whether ``$KERAS_APPLICATIONS_BN_OFFLINE`` forbids any download."""
    return _env_flag(OFFLINE_ENV)


def mirror():
    """The mirror base URL from ``$KERAS_APPLICATIONS_BN_MIRROR`` (``""`` when unset)."""
    return os.environ.get(MIRROR_ENV, "").strip()


def timeout(value):
    """The download timeout to use.

    Args:
        value: the timeout passed, in seconds, or ``None``.

    Returns:
        ``value``, else ``$KERAS_APPLICATIONS_BN_TIMEOUT``, else 60 seconds, as a
        float.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is not > 0, or the variable is not a number > 0.
    """
    return _setting(value, "timeout", TIMEOUT_ENV, DEFAULT_TIMEOUT, float)


def retries(value):
    """The number of download retries to use.

    Args:
        value: the number passed, or ``None``.

    Returns:
        ``value``, else ``$KERAS_APPLICATIONS_BN_RETRIES``, else 4, as an int.

    Raises:
        TypeError: ``value`` is not an int.
        ValueError: ``value`` is negative, or the variable is not an int >= 0.
    """
    return _setting(value, "retries", RETRIES_ENV, DEFAULT_RETRIES, int)


def keras_home():
    """The Keras home directory: ``$KERAS_HOME`` when set, else ``~/.keras``.

    Returns:
        ``(path, label)``: the directory, and how to name it in messages.
    """
    raw = os.environ.get("KERAS_HOME")
    if raw:
        return os.path.expanduser(raw), "$KERAS_HOME"
    return os.path.expanduser(os.path.join("~", ".keras")), "The default Keras home"


def _progress_enabled(progress):
    if progress is None:
        return not _env_flag(QUIET_ENV) and sys.stderr is not None and sys.stderr.isatty()
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be True, False or None (automatic), got {progress!r}.")
    return bool(progress)


def _env_help():
    return (
        f"Set {MIRROR_ENV} to a base URL that serves the same relative paths as "
        f"{' and '.join(ORIGINS)}, or copy the file into the cache yourself; "
        f"{OFFLINE_ENV}=1 forbids any download."
    )
