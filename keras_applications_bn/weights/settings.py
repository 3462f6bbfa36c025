"""Every setting the weights package reads from the environment, read here only.

``KERAS_HOME`` (the cache root, as in Keras) and the ``KERAS_APPLICATIONS_BN_*``
variables documented in `keras_applications_bn.weights`. Each is read when
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
#: The longest timeout accepted, in seconds (one day): a server silent for longer
#: is gone, and the socket layer refuses much larger values.
MAX_TIMEOUT = 86400.0

#: What a boolean variable (``$KERAS_APPLICATIONS_BN_OFFLINE``, ``..._QUIET``) may
#: be set to, case-insensitive and without surrounding spaces: these switch it on,
FLAG_ON = ("1", "true", "yes", "on")
#: and these (or an empty or unset variable) leave it off. Anything else is refused.
FLAG_OFF = ("0", "false", "no", "off", "")


def env_flag(name):
    """Read the boolean environment variable ``name``, the one parser for all of them.

    Args:
        name: the variable, e.g. ``"KERAS_APPLICATIONS_BN_OFFLINE"``.

    Returns:
        ``True`` for ``1``/``true``/``yes``/``on``, ``False`` for
        ``0``/``false``/``no``/``off``, an empty value or an unset variable
        (case-insensitive, surrounding spaces ignored).

    Raises:
        ValueError: any other value (``2``, ``enabled``, ...), which would
            otherwise be silently read as one or the other.
    """
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in FLAG_ON:
        return True
    if value in FLAG_OFF:
        return False
    raise ValueError(
        f"${name} must be one of {'/'.join(FLAG_ON)} (on) or {'/'.join(FLAG_OFF[:-1])} "
        f"or empty (off), case-insensitive; got {raw!r}."
    )


def _is_number(value, kind):
    """Whether ``value`` is a number of ``kind`` (``int``: any integer, NumPy's
    included; ``float``: any real number), never a bool."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # NumPy's bool
        return False
    return isinstance(value, numbers.Integral if kind is int else numbers.Real)


def _setting(value, argument, env, default, kind, *, positive, maximum=None):
    """``value`` if given, else ``$env``, else ``default``; checked to be a finite
    ``kind`` > 0 (``positive``) or >= 0, and <= ``maximum`` when given."""
    source = f"`{argument}`"
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return default
        source = f"${env}"
        try:
            value = kind(raw)
        except ValueError:
            value = None
    else:
        raw = value
    bounds = "> 0" if positive else ">= 0"
    if maximum is not None:
        bounds += f" and <= {maximum:g}"
    what = f"{'an int' if kind is int else 'a finite number'} {bounds}"
    if not _is_number(value, kind):
        error = ValueError if source.startswith("$") else TypeError
        raise error(f"{source} must be {what}, got {raw!r}.")
    if (
        not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(f"{source} must be {what}, got {raw!r}.")
    return kind(value)


def offline():
    """Whether ``$KERAS_APPLICATIONS_BN_OFFLINE`` forbids any download.

    Returns:
        The variable read by `env_flag`.

    Raises:
        ValueError: the variable is set to a value `env_flag` refuses.
    """
    return env_flag(OFFLINE_ENV)


def mirror():
    """The mirror base URL from ``$KERAS_APPLICATIONS_BN_MIRROR`` (``""`` when unset)."""
    return os.environ.get(MIRROR_ENV, "").strip()


def timeout(value):
    """The download timeout to use.

    Args:
        value: the timeout passed, in seconds (any real number, NumPy's
            included), or ``None``.

    Returns:
        ``value``, else ``$KERAS_APPLICATIONS_BN_TIMEOUT``, else 60 seconds, as a
        float.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` (or the variable) is not a finite number > 0 and
            <= `MAX_TIMEOUT` (one day): ``nan``, ``inf``, ``1e300``, ``0``.
    """
    return _setting(
        value, "timeout", TIMEOUT_ENV, DEFAULT_TIMEOUT, float, positive=True, maximum=MAX_TIMEOUT
    )


def retries(value):
    """The number of download retries to use.

    Args:
        value: the number passed (any integer, NumPy's included), or ``None``.

    Returns:
        ``value``, else ``$KERAS_APPLICATIONS_BN_RETRIES``, else 4, as an int.

    Raises:
        TypeError: ``value`` is not an int.
        ValueError: ``value`` is negative, or the variable is not an int >= 0.
    """
    return _setting(value, "retries", RETRIES_ENV, DEFAULT_RETRIES, int, positive=False)


def keras_home():
    """The Keras home directory: ``$KERAS_HOME`` when set, else ``~/.keras``.

    Returns:
        ``(path, label)``: the directory, and how to name it in messages.
    """
    raw = os.environ.get("KERAS_HOME")
    if raw:
        return os.path.expanduser(raw), "$KERAS_HOME"
    return os.path.expanduser(os.path.join("~", ".keras")), "The default Keras home"


def progress_enabled(progress):
    """Whether to show the download progress bar.

    Args:
        progress: ``True``/``False``, or ``None`` for automatic: shown when stderr
            is a terminal and ``$KERAS_APPLICATIONS_BN_QUIET`` is not on.

    Returns:
        A bool.

    Raises:
        TypeError: ``progress`` is not a bool or None.
        ValueError: ``$KERAS_APPLICATIONS_BN_QUIET`` holds a value ``env_flag`` refuses.
    """
    if progress is None:
        return not env_flag(QUIET_ENV) and sys.stderr is not None and sys.stderr.isatty()
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be True, False or None (automatic), got {progress!r}.")
    return bool(progress)


def env_help():
    """The sentence every download error ends with: how to get files without the origin.

    Returns:
        A string naming the mirror and offline variables.
    """
    return (
        f"Set {MIRROR_ENV} to a base URL that serves the same relative paths as "
        f"{' and '.join(ORIGINS)}, or copy the file into the cache yourself; "
        f"{OFFLINE_ENV}=1 forbids any download."
    )
