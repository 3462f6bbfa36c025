"""Pinning: find BatchNormalization layers and set the mode they run in.

`bn_layers` finds a model's BatchNormalization layers,
`set_inference_bn` sets the mode they run in, and
`forget_traced_functions` drops the traced functions that read it.
"""

import weakref

import keras

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.checks import check_bool, check_model
from keras_applications_bn.layers import BatchNormalization, convert, convertible

__all__ = ["bn_layers", "fit_mode", "forget_traced_functions", "set_inference_bn"]

#: model -> the traced step of `adapt.adapt_bn_statistics`, kept so a
#: warm second call does not trace again; forgotten with the model's other traced
#: functions (`forget_traced_functions`).
TRACED_STEPS = weakref.WeakKeyDictionary()


def bn_layers(model):
    """Every BatchNormalization layer of ``model``, nested models and layers included.

    Args:
        model: a Keras model or layer.

    Returns:
        A list of the BatchNormalization layers (Keras' own and this package's),
        each once, in the order Keras tracks them.
    """
    check_model(model)
    found, seen = [], set()
    for layer in keras_internals.sublayers(model, include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
    return found


def _models(model):
    return [
        m
        for m in keras_internals.sublayers(model, include_self=True, recursive=True)
        if isinstance(m, keras.Model)
    ]


def forget_traced_functions(model):
    """Make the traced train/test/predict functions of ``model`` and its sub-models anew.

    Keras reads Python attributes of layers (such as the BN mode, or which
    weights train) when it traces ``fit``/``evaluate``/``predict``; after this the
    next step traces again. Each function a model already had is replaced by a
    new, untraced one (not dropped), so a ``fit`` in progress — a callback that
    pins or freezes layers in ``on_epoch_end`` — runs its next step with the
    change. The traced pass of `adapt_bn_statistics` is dropped too.

    Args:
        model: a Keras model or layer; nested models are included.
    """
    check_model(model)
    for m in _models(model):
        for kind in ("train", "test", "predict"):
            if getattr(m, f"{kind}_function", None) is not None:
                # made again rather than dropped: a fit in progress (a callback that
                # pins or freezes layers) calls the model's train function at its next step
                getattr(m, f"make_{kind}_function")(force=True)
        TRACED_STEPS.pop(m, None)


def set_inference_bn(model, enabled=True):
    """Pin (or release) every BatchNormalization layer of an existing model.

    To pin them, plain `keras.layers.BatchNormalization` layers (those of an
    unpinned model of this package or of `keras.applications`) are converted in
    place to `keras_applications_bn.layers.BatchNormalization`, so the mode
    is saved with the model; their weights are untouched. Releasing leaves plain
    layers as they are (they are not pinned). Other subclasses of Keras' layer are
    refused with a TypeError before anything changes. To ship a model that needs
    Keras alone, see `keras_applications_bn.to_keras`.

    Takes effect on the next ``fit``/``evaluate``/``predict`` step of ``model``
    without recompiling, also when called from a callback while ``fit`` runs:
    the traced functions of ``model`` and of every model nested in it are made
    again (``forget_traced_functions``). If ``model`` is itself nested in a
    larger model that has already been fitted, call this on the outer model (or
    recompile the outer model).

    Args:
        model: a Keras model or layer; nested models are included.
        enabled: ``True`` to run every BN layer in inference mode (moving
            statistics used and never updated; gamma/beta stay trainable),
            ``False`` to restore Keras' default behaviour. A bool (NumPy's
            too); ``"no"``, ``1`` or ``None`` are refused.

    Returns:
        The number of BatchNormalization layers set.

    Raises:
        TypeError: ``enabled`` is not a bool, ``model`` is not a Keras model or
            layer, or a BN layer is a subclass that cannot be converted.
    """
    enabled = check_bool(enabled, "enabled")
    layers = bn_layers(model)
    for layer in layers:  # check them all before changing any
        convertible(layer)
    for layer in layers:
        if enabled or isinstance(layer, BatchNormalization):
            convert(layer).inference_mode = enabled
    forget_traced_functions(model)
    return len(layers)


def fit_mode(layer):
    """How a BN layer normalises during ``fit``.

    Args:
        layer: a BatchNormalization layer.

    Returns:
        ``"pinned"`` (this package's inference mode) or ``"frozen"``
        (``trainable=False``): moving statistics, never updated; ``"batch"``:
        batch statistics, moving ones updated.
    """
    if getattr(layer, "inference_mode", False):
        return "pinned"
    if not layer.trainable:
        return "frozen"
    return "batch"
