"""Resetting BatchNormalization statistics to those of a new layer."""

from keras_applications_bn.batchnorm.selection import selected_bn_layers

__all__ = ["reset_bn_statistics"]


def reset_bn_statistics(model, layers=None):
    """Put BN moving statistics back to their freshly initialised values.

    Every BatchNormalization layer of ``model`` (nested ones included), or only
    ``layers``, gets the moving mean and moving variance its initializers give a
    new layer: mean 0 and variance 1 by default. Nothing else changes — not gamma
    or beta, not the layer's mode.

    Why variance 1, not 0 as some recipes write: a layer in inference mode computes
    ``gamma * (x - mean) / sqrt(variance + epsilon) + beta``; with variance 0 that
    divides by ``sqrt(epsilon)`` (about 0.03 for Keras' default ``epsilon=1e-3``,
    0.003 for ResNet's 1e-5), multiplying activations by 30-300 at every BN layer.
    A pinned (or frozen) layer never replaces those statistics, so the model is
    broken until the statistics are re-estimated. Mean 0 / variance 1 is the
    identity (up to gamma and beta) and is what a new layer starts from.

    Follow it with `adapt_bn_statistics` (exact, one pass, no labels), or with
    ``fit`` while the layers normalise with batch statistics (not pinned,
    ``trainable``) so that the moving averages re-learn the statistics; lower their
    ``momentum`` (e.g. 0.9) if the fit is short.

    Args:
        model: a Keras model or layer; nested models are included.
        layers: reset only these BN layers of ``model`` (layer objects or their
            names); ``None`` resets all.

    Returns:
        The number of layers reset.

    Raises:
        TypeError: ``model`` is not a Keras model or layer, or ``layers`` is not
            a list of layers or names.
        ValueError: an item of ``layers`` is not a BN layer of ``model``.
    """
    layers = selected_bn_layers(model, layers)
    for layer in layers:
        if not layer.built:
            continue
        for variable, initializer in (
            (layer.moving_mean, layer.moving_mean_initializer),
            (layer.moving_variance, layer.moving_variance_initializer),
        ):
            variable.assign(initializer(variable.shape, dtype=variable.dtype))
    return len(layers)
