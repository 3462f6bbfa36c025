"""Model-level tools for BatchNormalization layers."""

import keras

from keras_applications_bn.layers import BatchNormalization

__all__ = ["bn_layers", "set_inference_bn"]


def bn_layers(model):
    """Every BatchNormalization layer of ``model``, nested models and layers included.

    Each layer is listed once, in the order Keras tracks them.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"`model` must be a Keras model or layer, got {type(model).__name__}.")
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
    return found


def _models(model):
    return [m for m in model._flatten_layers(include_self=True, recursive=True) if isinstance(m, keras.Model)]


def forget_traced_functions(model):
    """Drop the traced train/test/predict functions of ``model`` and its sub-models.

    Keras reads Python attributes of layers (such as the BN mode) when it traces
    ``fit``/``evaluate``/``predict``; the next call after this retraces.
    """
    for m in _models(model):
        for attr in ("train_function", "test_function", "predict_function"):
            if getattr(m, attr, None) is not None:
                setattr(m, attr, None)


def set_inference_bn(model, enabled=True):
    """Pin (or release) every BatchNormalization layer of an existing model.

    Args:
        model: a Keras model or layer; nested models are included.
        enabled: ``True`` to run every BN layer in inference mode (moving
            statistics used and never updated; gamma/beta stay trainable),
            ``False`` to restore Keras' default behaviour.

    Plain `keras.layers.BatchNormalization` layers (e.g. of a
    `keras.applications` model) are converted in place to
    :class:`keras_applications_bn.layers.BatchNormalization`, so the mode is
    saved with the model; their weights are untouched.

    Takes effect on the next ``fit``/``evaluate``/``predict`` of ``model`` without
    recompiling: the traced functions of ``model`` and of every model nested in it
    are dropped. If ``model`` is itself nested in a larger model that has already
    been fitted, call this on the outer model (or recompile the outer model).

    Returns:
        The number of BatchNormalization layers set.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"`enabled` must be True or False, got {enabled!r}.")
    layers = bn_layers(model)
    for layer in layers:
        if not isinstance(layer, BatchNormalization):
            layer.__class__ = BatchNormalization
        layer.inference_mode = enabled
    forget_traced_functions(model)
    return len(layers)
