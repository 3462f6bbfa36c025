"""Extending a built Keras optimizer to more variables, keeping its state.

Keras 3 builds an optimizer once, for the variables it will update; a variable
it was not built for stops ``apply``. ``unfreeze`` (when the model's optimizer is
already built) and ``GradualUnfreezing`` (for every variable its stages will let
train) both extend the optimizer here. The optimizer's private state is read and
written only through ``keras_applications_bn._models.keras_internals``.
"""

import contextlib

import keras

from keras_applications_bn._models import keras_internals as ki

__all__ = ["extend_model_optimizer", "extend_optimizer", "optimizer_chain"]


def optimizer_chain(optimizer):
    """``optimizer`` and the optimizers it wraps (LossScaleOptimizer, LayerwiseLR)."""
    chain = [optimizer]
    while getattr(chain[-1], "inner_optimizer", None) is not None:
        chain.append(chain[-1].inner_optimizer)
    return chain


def extend_model_optimizer(model, variables):
    """Let ``model``'s optimizer update ``variables`` too, under the model's
    distribution strategy (TensorFlow), as ``extend_optimizer`` does."""
    scope = contextlib.nullcontext()
    if keras.backend.backend() == "tensorflow":
        scope = model.distribute_strategy.scope()
    with scope:
        extend_optimizer(model.optimizer, variables)


def extend_optimizer(optimizer, variables):
    """Make ``optimizer`` able to update ``variables`` too (the Keras analogue of
    PyTorch's ``add_param_group``).

    Unbuilt: it is built now for its future variables. Built: it is built again for
    its old variables followed by the new ones, and its state (slots, step count,
    loss scale, EMA) is carried over by variable name; a new variable starts
    with empty slots and, under EMA, with its current value as its average.
    """
    if not optimizer.built:
        optimizer.build(list(variables))
        return
    new = [v for v in variables if not _known(optimizer, v)]
    if not new:
        return
    chain = optimizer_chain(optimizer)
    before = {id(v): v for opt in chain for v in ki.optimizer_variables(opt)}
    old = list(ki.optimizer_trainable_variables(optimizer))
    for opt in chain:
        opt.built = False
        ki.set_optimizer_trainable_indices(opt, {})
    optimizer.build(old + new)
    for opt in chain:
        _carry_state_over(opt, before)
        if getattr(opt, "use_ema", False):
            _start_averages(opt, new)


def _known(optimizer, variable):
    return ki.optimizer_var_key(optimizer, variable) in ki.optimizer_trainable_indices(optimizer)


def _carry_state_over(optimizer, before):
    """Give each variable ``optimizer``'s new build created the value of the one it
    replaces (same path and shape; ``before`` maps ids to the variables before the
    build), and forget the replaced ones."""
    variables = ki.optimizer_variables(optimizer)
    created = [v for v in variables if id(v) not in before]
    by_name = {}
    for v in variables:
        if id(v) in before:
            by_name.setdefault(v.path, []).append(v)
    for v in created:
        previous = by_name.get(v.path)
        if previous and tuple(previous[0].shape) == tuple(v.shape):
            v.assign(previous.pop(0))
    # forget the variables the new build replaced
    replaced = {id(v) for v in variables if id(v) in before} - {
        id(v) for vs in by_name.values() for v in vs
    }
    for index in reversed(range(len(variables))):  # in place: the tracker holds the list
        if id(variables[index]) in replaced:
            del variables[index]


def _start_averages(optimizer, new):
    """Under EMA: the average of each variable in ``new`` starts at its value."""
    averages = ki.optimizer_moving_averages(optimizer)
    for var, average in zip(ki.optimizer_trainable_variables(optimizer), averages):
        if any(var is n for n in new):
            average.assign(var)
