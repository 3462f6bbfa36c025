"""Freezing and unfreezing ranges of layers: ``freeze`` and ``unfreeze``.

``freeze``/``unfreeze`` never change how a BatchNormalization layer normalises:
a layer that uses its moving statistics (pinned, or ``trainable=False``) keeps
using them, and a layer that normalises with batch statistics keeps doing so —
only which weights train changes. (In Keras 3, ``layer.trainable = False`` on a
BN layer would also switch it to inference mode, and ``trainable = True`` back.)
Both run on one helper, ``_freeze_unfreeze(model, chosen, mode)``, which
``GradualUnfreezing`` uses too.
"""

import numbers

import keras
import numpy as np

from keras_applications_bn._models import keras_internals as ki
from keras_applications_bn._models.checks import check_model, describe
from keras_applications_bn.batchnorm import bn_layers, fit_mode, forget_traced_functions
from keras_applications_bn.layers import BatchNormalization, convert, convertible
from keras_applications_bn.tuning.optimizer import extend_model_optimizer

__all__ = ["freeze", "unfreeze"]


# ---------------------------------------------------------------------------
# freeze / unfreeze
# ---------------------------------------------------------------------------


def _leaf_layers(model):
    """Every layer of ``model`` that is neither a model nor an input, depth-first in model order."""
    check_model(model)
    leaves = []

    def walk(layer):
        for sub in ki.sublayers(layer):
            if isinstance(sub, keras.Model):
                walk(sub)
            elif not isinstance(sub, keras.layers.InputLayer):
                leaves.append(sub)

    walk(model)
    return leaves


def _position(leaves, ref, argname):
    if isinstance(ref, (bool, np.bool_)) or not isinstance(ref, (numbers.Integral, str)):
        raise TypeError(f"`{argname}` must be a layer name or an index, got {describe(ref)}.")
    if isinstance(ref, numbers.Integral):
        ref = int(ref)
        if not -len(leaves) <= ref < len(leaves):
            raise IndexError(f"`{argname}`={ref} is out of range for {len(leaves)} layers.")
        return ref % len(leaves)
    matches = [i for i, layer in enumerate(leaves) if layer.name == ref]
    if not matches:
        raise ValueError(f"No layer named {ref!r} (`{argname}`).")
    return matches[0]


def _uses_moving_statistics(layer):
    return fit_mode(layer) != "batch"


# _freeze_unfreeze validates, then applies: each ``_plan_*`` function checks one
# layer and returns what to do to it, so a refusal comes before any layer has changed.


def _plan_freeze(layer):
    """The change that freezes ``layer`` (checked, not yet applied)."""
    if isinstance(layer, keras.layers.BatchNormalization) and not _uses_moving_statistics(layer):
        # keep normalising with batch statistics: freeze gamma/beta only
        convertible(layer)
        return lambda: setattr(convert(layer), "affine_trainable", False)
    return lambda: setattr(layer, "trainable", False)


def _plan_unfreeze(layer, used_moving_statistics):
    """The change that unfreezes ``layer`` (checked, not yet applied)."""
    if isinstance(layer, keras.layers.BatchNormalization) and used_moving_statistics:
        # trainable=True alone would switch a Keras BN to batch statistics
        convertible(layer)

    def apply():
        if isinstance(layer, keras.layers.BatchNormalization):
            if used_moving_statistics:
                convert(layer).inference_mode = True
            if isinstance(layer, BatchNormalization):
                layer.affine_trainable = True
        layer.trainable = True
        if not isinstance(layer, keras.layers.BatchNormalization):
            for inner in bn_layers(layer):  # BN layers held by a subclassed block
                if isinstance(inner, BatchNormalization):
                    inner.affine_trainable = True

    return apply


def _bn_modes(model):
    """Whether each BN layer of ``model`` (by id) uses its moving statistics in
    ``fit``, checking first that those held inside other layers can be converted."""
    leaves = {id(layer) for layer in _leaf_layers(model)}
    modes = {}
    for layer in bn_layers(model):
        if id(layer) not in leaves:  # inside a subclassed block: may need converting
            convertible(layer)
        modes[id(layer)] = _uses_moving_statistics(layer)
    return modes


def _keep_bn_modes(model, modes):
    """Give every BN layer of ``model`` back the mode ``modes`` recorded.

    A ``trainable`` flag set on a layer that holds BN layers (a subclassed block,
    a nested model) reaches them and, in Keras 3, switches their mode.
    """
    for layer in bn_layers(model):
        uses_moving = modes.get(id(layer))
        if uses_moving is None or uses_moving == _uses_moving_statistics(layer):
            continue
        if uses_moving:  # made trainable by its parent: pin it, gamma/beta train
            convert(layer).inference_mode = True
        else:  # frozen by its parent: keep batch statistics, freeze gamma/beta
            layer = convert(layer)
            layer.affine_trainable = False
            layer.trainable = True


def _containers(model, leaf):
    """The models from ``model`` down to the one that holds ``leaf``."""

    def path(node):
        for sub in ki.sublayers(node):
            if sub is leaf:
                return [node]
            if isinstance(sub, keras.Model):
                found = path(sub)
                if found:
                    return [node] + found
        return None

    return path(model) or [model]


def _freeze_unfreeze(model, chosen, mode):
    """Freeze or unfreeze the ``chosen`` leaf layers of ``model``, every BN layer
    keeping its mode; the one place freezing and unfreezing are done.

    ``mode="unfreeze"`` also makes the models that hold a chosen layer
    trainable, and gives the other leaf layers back the ``trainable`` flag that
    this reaches them with. Every layer is checked before any changes.

    Args:
        model: a Keras model or layer.
        chosen: leaf layers of ``model`` (from ``_leaf_layers``).
        mode: ``"freeze"`` or ``"unfreeze"``.

    Returns:
        ``chosen``.
    """
    if mode not in ("freeze", "unfreeze"):
        raise ValueError(f'`mode` must be "freeze" or "unfreeze", got {mode!r}.')
    leaves = _leaf_layers(model)
    if mode == "freeze":
        changes = [_plan_freeze(layer) for layer in chosen]  # may raise: nothing changed yet
    else:
        used_moving = {
            id(layer): _uses_moving_statistics(layer)
            for layer in leaves
            if isinstance(layer, keras.layers.BatchNormalization)
        }
        changes = [_plan_unfreeze(layer, used_moving.get(id(layer), False)) for layer in chosen]
    modes = _bn_modes(model)  # BN layers inside other layers too
    # nothing has changed before this point
    if mode == "unfreeze":
        _open_containers(model, chosen, leaves)
    for change in changes:
        change()
    _keep_bn_modes(model, modes)
    return chosen


def _open_containers(model, chosen, leaves):
    """Make every model that holds a ``chosen`` layer trainable, the other
    ``leaves`` keeping their ``trainable`` flag.

    A model with trainable=False hides its layers' weights; making it trainable
    (which Keras propagates to all its layers) must not unfreeze the others.
    """
    chosen_ids = {id(layer) for layer in chosen}
    others = [layer for layer in leaves if id(layer) not in chosen_ids]
    states = {id(layer): layer.trainable for layer in others}
    for leaf in chosen:
        for container in _containers(model, leaf):
            if not container.trainable:
                container.trainable = True
    for layer in others:
        if layer.trainable != states[id(layer)]:
            layer.trainable = states[id(layer)]


def freeze(model, until=None):
    """Stop the first layers of ``model`` (through ``until``) from training.

    Other layers keep their state. BatchNormalization layers keep their mode: one
    that uses its moving statistics is set ``trainable=False``; one that normalises
    with batch statistics keeps doing so and keeps updating its moving statistics,
    and only its gamma and beta stop training (Keras BN layers become
    `keras_applications_bn.layers.BatchNormalization` with
    ``affine_trainable=False``, which is saved with the model). To freeze *and*
    pin them, call `keras_applications_bn.set_inference_bn` as well.

    No recompiling needed: the model's traced functions are made again, so the
    change applies from the next step, also when ``freeze`` is called from a
    callback while ``fit`` runs (TensorFlow, PyTorch; not inside a JAX ``fit``,
    whose trainable state is fixed for the call). Compiling again, with a new
    optimizer, works as well. Every argument and layer is checked first: a
    refused call (e.g. a BatchNormalization subclass that cannot be converted)
    changes nothing.

    Args:
        model: a Keras model; nested models are walked in order, so ``until`` may
            name a layer inside a nested backbone.
        until: the last layer to freeze, by name or by index into the list of
            layers (nested models expanded in place, input layers left out; a
            Python or NumPy int); ``None`` freezes all.

    Returns:
        The layers frozen.

    Raises:
        TypeError: ``model`` is not a Keras model or layer, ``until`` is neither
            a name nor an int (``2.0``, ``True``), or a BN layer cannot be
            converted.
        ValueError: no layer is named ``until``.
        IndexError: the index ``until`` is out of range.
    """
    check_model(model)
    leaves = _leaf_layers(model)
    stop = len(leaves) - 1 if until is None else _position(leaves, until, "until")
    chosen = _freeze_unfreeze(model, leaves[: stop + 1], mode="freeze")
    forget_traced_functions(model)
    return chosen


def unfreeze(model, start=None):
    """Let the layers of ``model`` from ``start`` on train again.

    BatchNormalization layers keep their mode: one that uses its moving
    statistics (pinned, or ``trainable=False``) is pinned and made trainable, so
    its gamma/beta train while it still normalises with its moving statistics —
    the usual advice when unfreezing a pretrained network; a layer in batch
    statistics mode stays in it. Models that contain an unfrozen layer are made
    trainable without unfreezing their other layers.

    No recompiling needed, as for ``freeze``: when the model's optimizer is
    already built, it is extended (keeping its state: slots, step count, EMA)
    to the weights that now train, as ``GradualUnfreezing`` does, so a
    ``fit`` in progress (``unfreeze`` from a callback) or the next ``fit``
    updates them. As with `freeze`, a refused call changes nothing.

    Args:
        model: a Keras model; nested models are walked in order.
        start: the first layer to unfreeze, by name or index (as in
            `freeze`); ``None`` unfreezes all.

    Returns:
        The layers unfrozen.

    Raises:
        TypeError: ``model`` is not a Keras model or layer, ``start`` is neither
            a name nor an int, or a BN layer cannot be converted.
        ValueError: no layer is named ``start``.
        IndexError: the index ``start`` is out of range.
    """
    check_model(model)
    leaves = _leaf_layers(model)
    first = 0 if start is None else _position(leaves, start, "start")
    chosen = _freeze_unfreeze(model, leaves[first:], mode="unfreeze")
    _extend_compiled_optimizer(model)
    forget_traced_functions(model)
    return chosen


def _extend_compiled_optimizer(model):
    """Let ``model``'s optimizer, when it is already built, update the variables
    that now train too (keeping its state), as GradualUnfreezing does: a fit in
    progress (``unfreeze`` from a callback) or a fit after compiling with the
    same optimizer would otherwise stop on a variable it was not built for."""
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, keras.optimizers.Optimizer) and optimizer.built:
        extend_model_optimizer(model, model.trainable_variables)
