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
    "optimizer_var_key",
    "optimizer_trainable_indices",
    "set_optimizer_trainable_indices",
    "optimizer_variables",
    "optimizer_trainable_variables",
    "optimizer_moving_averages",
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
# BatchNormalization options that only some supported Keras versions have
# ---------------------------------------------------------------------------


def uses_renorm(layer):
    """Whether BatchNormalization ``layer`` uses batch renormalization
    (``renorm=True``). Keras' layer has the option since Keras 3.14; a layer of an
    earlier Keras has no ``renorm`` attribute, and never renormalizes."""
    return bool(getattr(layer, "renorm", False))
