"""The one place the package reaches into Keras' internals.

Every ``keras.src`` import and every read of a private Keras attribute goes
through a function here, so that a Keras upgrade that moves or renames one breaks
in this module, with a `KerasInternalsError` that names what is missing, the
Keras version found and the package feature that needs it, instead of an
``AttributeError`` deep inside a tool. ``tests/test_keras_internals.py`` checks
each accessor against the installed Keras, and that a missing one gives that
error.
"""

import importlib

import keras

__all__ = [
    "KerasInternalsError",
    "functional_class",
    "is_functional",
    "nodes_by_depth",
    "producer",
    "convnext_layers",
    "sublayers",
    "layer_trainable_variables",
    "optimizer_var_key",
    "optimizer_trainable_indices",
    "set_optimizer_trainable_indices",
    "optimizer_variables",
    "optimizer_trainable_variables",
    "optimizer_moving_averages",
    "is_orbax_checkpoint",
    "has_been_called",
    "producer_inputs",
    "add_and_multiply_ops",
    "uses_renorm",
]


class KerasInternalsError(RuntimeError):
    """A Keras internal the package relies on is missing from the installed Keras."""


def _missing(what, needed_by, cause=None):
    error = KerasInternalsError(
        f"keras_applications_bn needs Keras' internal {what} for {needed_by}, and the "
        f"installed Keras {keras.__version__} does not have it. Install a Keras version "
        "this package supports (see the README's install line), or report this Keras "
        "version to keras-applications-bn."
    )
    if cause is not None:
        error.__cause__ = cause
    return error


def _attribute(obj, name, what, needed_by):
    try:
        return getattr(obj, name)
    except AttributeError as cause:
        raise _missing(what, needed_by, cause) from cause


def _import(module, name, needed_by):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as cause:
        raise _missing(f"{module}.{name}", needed_by, cause) from cause


# ---------------------------------------------------------------------------
# Functional graphs (to_keras, fold_batch_norm)
# ---------------------------------------------------------------------------


def functional_class():
    """Keras' ``Functional`` model class (``keras.src.models.functional``)."""
    return _import("keras.src.models.functional", "Functional", "rewriting functional graphs")


def is_functional(model):
    """Whether ``model`` is a functional model (a ``keras.Model`` built from a graph
    of layers; not a ``Sequential``)."""
    return isinstance(model, functional_class())


def nodes_by_depth(model):
    """A functional model's nodes, grouped by depth (``Functional._nodes_by_depth``):
    a dict from depth to the nodes at that depth, the outputs at depth 0."""
    return _attribute(
        model, "_nodes_by_depth", "Functional._nodes_by_depth", "folding BatchNormalization"
    )


def producer(tensor):
    """The operation (layer or Keras op) that produced symbolic ``tensor``
    (``KerasTensor._keras_history.operation``)."""
    history = _attribute(
        tensor, "_keras_history", "KerasTensor._keras_history", "folding BatchNormalization"
    )
    return _attribute(
        history, "operation", "KerasTensor._keras_history.operation", "folding BatchNormalization"
    )


def producer_inputs(tensor):
    """The input tensors of the call that produced symbolic ``tensor``
    (``operation._inbound_nodes[node_index].input_tensors``)."""
    use = "converting a model (to_keras)"
    history = _attribute(tensor, "_keras_history", "KerasTensor._keras_history", use)
    operation, node_index = history[0], history[1]
    nodes = _attribute(operation, "_inbound_nodes", "Operation._inbound_nodes", use)
    return list(nodes[node_index].input_tensors)


def add_and_multiply_ops():
    """Keras' add and multiply graph operation classes (``x + y``, ``x * 2.0`` in a
    functional graph; ``keras.src.ops.numpy.Add``/``Multiply``), as a pair."""
    use = "converting a model (to_keras)"
    return (
        _import("keras.src.ops.numpy", "Add", use),
        _import("keras.src.ops.numpy", "Multiply", use),
    )


# ---------------------------------------------------------------------------
# ConvNeXt's layers: Keras' own classes, so saved models match Keras'
# ---------------------------------------------------------------------------


def convnext_layers():
    """Keras' ConvNeXt ``LayerScale`` and ``StochasticDepth`` layer classes
    (``keras.src.applications.convnext``), as a pair."""
    module = "keras.src.applications.convnext"
    return (
        _import(module, "LayerScale", "ConvNeXt"),
        _import(module, "StochasticDepth", "ConvNeXt"),
    )


# ---------------------------------------------------------------------------
# Layer tracking (freeze/unfreeze, lr_multipliers, GradualUnfreezing)
# ---------------------------------------------------------------------------

_LAYER_USE = "walking a model's layers (BN pinning, freeze, bn_summary, folding)"


def sublayers(layer, include_self=False, recursive=False):
    """The layers ``layer`` tracks, in tracking order (``Layer._flatten_layers``):
    its direct sublayers, or with ``recursive`` all of them depth-first, with
    ``layer`` first when ``include_self``. Unlike ``Model.layers``, the same
    for every kind of model and for a plain layer."""
    flatten = _attribute(layer, "_flatten_layers", "Layer._flatten_layers", _LAYER_USE)
    return list(flatten(include_self=include_self, recursive=recursive))


def layer_trainable_variables(layer):
    """The variables ``layer`` itself created as trainable, whether or not it
    trains now (``Layer._trainable_variables``; ``trainable_variables`` is empty
    while ``layer.trainable`` is False)."""
    return _attribute(layer, "_trainable_variables", "Layer._trainable_variables", _LAYER_USE)


# ---------------------------------------------------------------------------
# Optimizer internals (GradualUnfreezing, LayerwiseLR)
# ---------------------------------------------------------------------------

_OPTIMIZER_USE = "adding variables to a built optimizer (GradualUnfreezing, LayerwiseLR)"


def optimizer_var_key(optimizer, variable):
    """The key a Keras optimizer files ``variable`` under (``Optimizer._var_key``)."""
    return _attribute(optimizer, "_var_key", "Optimizer._var_key", _OPTIMIZER_USE)(variable)


def optimizer_trainable_indices(optimizer):
    """The optimizer's map from variable key to index
    (``Optimizer._trainable_variables_indices``)."""
    return _attribute(
        optimizer,
        "_trainable_variables_indices",
        "Optimizer._trainable_variables_indices",
        _OPTIMIZER_USE,
    )


def set_optimizer_trainable_indices(optimizer, indices):
    """Replace the optimizer's map from variable key to index."""
    optimizer_trainable_indices(optimizer)  # it must exist: the error names it otherwise
    optimizer._trainable_variables_indices = indices


def optimizer_variables(optimizer):
    """The optimizer's own list of variables (``Optimizer._variables``), the list
    its tracker holds: change it in place."""
    return _attribute(optimizer, "_variables", "Optimizer._variables", _OPTIMIZER_USE)


def optimizer_trainable_variables(optimizer):
    """The model variables the optimizer was built for
    (``Optimizer._trainable_variables``)."""
    return _attribute(
        optimizer, "_trainable_variables", "Optimizer._trainable_variables", _OPTIMIZER_USE
    )


def optimizer_moving_averages(optimizer):
    """The optimizer's EMA copies of the model variables
    (``Optimizer._model_variables_moving_average``; empty without ``use_ema``)."""
    return _attribute(
        optimizer,
        "_model_variables_moving_average",
        "Optimizer._model_variables_moving_average",
        _OPTIMIZER_USE,
    )


# ---------------------------------------------------------------------------
# Saving (the weights argument of the model functions)
# ---------------------------------------------------------------------------


def is_orbax_checkpoint(path):
    """Whether Keras loads the directory ``path`` as an Orbax checkpoint
    (``keras.src.saving.orbax_util.is_orbax_checkpoint``). Keras versions without
    Orbax support load no directory: False there, and for an unreadable one."""
    try:
        from keras.src.saving.orbax_util import is_orbax_checkpoint as check
    except ImportError:
        return False
    try:
        return bool(check(path))
    except Exception:  # an unreadable directory is no checkpoint
        return False


def has_been_called(model):
    """Whether ``model`` has run once (``Layer._called``); Keras' ONNX export
    needs a model that did."""
    return bool(_attribute(model, "_called", "Layer._called", "exporting to ONNX"))


# ---------------------------------------------------------------------------
# BatchNormalization options that only some supported Keras versions have
# ---------------------------------------------------------------------------


def uses_renorm(layer):
    """Whether BatchNormalization ``layer`` uses batch renormalization
    (``renorm=True``). Keras' layer has the option since Keras 3.14; a layer of an
    earlier Keras has no ``renorm`` attribute, and never renormalizes."""
    return bool(getattr(layer, "renorm", False))
