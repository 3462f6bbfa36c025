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


def selected_bn_layers(model, layers):
    """``layers`` (BN layers of ``model`` or their names; all of them when
    ``None``) as a list of layers without repeats, checked."""
    found = bn_layers(model)
    if layers is None:
        return found
    if isinstance(layers, (str, keras.layers.Layer)):
        raise TypeError(
            "`layers` must be a list of BatchNormalization layers of the model (or "
            f"their names), got {describe(layers)}; for one layer pass [{layers!r}]."
            if isinstance(layers, str) else
            "`layers` must be a list of BatchNormalization layers of the model (or "
            f"their names), got the layer {layers.name!r} itself; pass [layer]."
        )
    try:
        layers = list(layers)
    except TypeError:
        raise TypeError(
            "`layers` must be a list of BatchNormalization layers of the model (or "
            f"their names), got {describe(layers)}."
        ) from None
    ids = {id(layer) for layer in found}
    by_name = {}
    for layer in found:
        by_name.setdefault(layer.name, []).append(layer)
    chosen, seen = [], set()
    for item in layers:
        if isinstance(item, str):
            matches = by_name.get(item, [])
            if not matches:
                close = difflib.get_close_matches(item, list(by_name), n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(
                    f"`layers`: {model.name!r} has no BatchNormalization layer named {item!r}.{hint}"
                )
            if len(matches) > 1:
                raise ValueError(
                    f"`layers`: {len(matches)} BatchNormalization layers of {model.name!r} are named "
                    f"{item!r} (in different nested models); pass the layer objects instead."
                )
            layer = matches[0]
        elif isinstance(item, keras.layers.Layer):
            if id(item) not in ids:
                what = (
                    f"a BatchNormalization layer, but not one of {model.name!r}"
                    if isinstance(item, keras.layers.BatchNormalization)
                    else f"a {type(item).__name__}, not a BatchNormalization layer of {model.name!r}"
                )
                raise ValueError(f"`layers`: {item.name!r} is {what}.")
            layer = item
        else:
            raise TypeError(
                "`layers` must hold BatchNormalization layers of the model or their "
                f"names, got an item {describe(item)}."
            )
        if id(layer) not in seen:
            seen.add(id(layer))
            chosen.append(layer)
    return chosen
