"""Choosing BatchNormalization layers: the ``layers`` argument of the statistics tools.

``selected_bn_layers`` turns the ``layers`` argument of reset_bn_statistics and
adapt_bn_statistics (BN layers of the model, or their names; ``None`` for all)
into a checked list of layers.
"""

import difflib

import keras

from keras_applications_bn._models.checks import describe
from keras_applications_bn.batchnorm.pinning import bn_layers

__all__ = ["selected_bn_layers"]


_EXPECTED = "`layers` must be a list of BatchNormalization layers of the model (or their names)"


def selected_bn_layers(model, layers):
    """``layers`` (BN layers of ``model`` or their names; all of them when
    ``None``) as a list of layers without repeats, checked."""
    found = bn_layers(model)
    if layers is None:
        return found
    items = _as_list(layers)
    ids = {id(layer) for layer in found}
    by_name = {}
    for layer in found:
        by_name.setdefault(layer.name, []).append(layer)
    chosen = {}  # by id, in the order given: each layer once
    for item in items:
        if isinstance(item, str):
            layer = _named(model, by_name, item)
        elif isinstance(item, keras.layers.Layer):
            layer = _own(model, ids, item)
        else:
            raise TypeError(
                "`layers` must hold BatchNormalization layers of the model or their "
                f"names, got an item {describe(item)}."
            )
        chosen.setdefault(id(layer), layer)
    return list(chosen.values())


def _as_list(layers):
    """``layers`` as a list; one name or one layer is refused (it is not a list of them)."""
    if isinstance(layers, str):
        raise TypeError(f"{_EXPECTED}, got {describe(layers)}; for one layer pass [{layers!r}].")
    if isinstance(layers, keras.layers.Layer):
        raise TypeError(f"{_EXPECTED}, got the layer {layers.name!r} itself; pass [layer].")
    try:
        return list(layers)
    except TypeError:
        raise TypeError(f"{_EXPECTED}, got {describe(layers)}.") from None


def _named(model, by_name, name):
    """The one BN layer of ``model`` called ``name`` (``by_name``: name -> layers)."""
    matches = by_name.get(name, [])
    if not matches:
        close = difflib.get_close_matches(name, list(by_name), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"`layers`: {model.name!r} has no BatchNormalization layer named {name!r}.{hint}"
        )
    if len(matches) > 1:
        raise ValueError(
            f"`layers`: {len(matches)} BatchNormalization layers of {model.name!r} are named "
            f"{name!r} (in different nested models); pass the layer objects instead."
        )
    return matches[0]


def _own(model, ids, layer):
    """``layer`` itself if it is a BN layer of ``model`` (``ids``: their ids)."""
    if id(layer) not in ids:
        what = (
            f"a BatchNormalization layer, but not one of {model.name!r}"
            if isinstance(layer, keras.layers.BatchNormalization)
            else f"a {type(layer).__name__}, not a BatchNormalization layer of {model.name!r}"
        )
        raise ValueError(f"`layers`: {layer.name!r} is {what}.")
    return layer
