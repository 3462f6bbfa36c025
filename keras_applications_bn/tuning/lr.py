"""Layer-wise learning rates: ``LayerwiseLR`` and ``lr_multipliers``.

``LayerwiseLR`` wraps any Keras optimizer and multiplies the learning rate
of chosen layers' weights by a factor ("discriminative" learning rates): a small
factor for early layers instead of freezing them. It is a registered Keras
object, so the multipliers are saved with a compiled model and apply again after
``keras.saving.load_model`` (after ``import keras_applications_bn``, which
imports this module).
"""

import collections.abc
import fnmatch
import warnings

import keras
from keras import ops

from keras_applications_bn._models import keras_internals as ki
from keras_applications_bn._models.checks import check_factor, check_model, describe
from keras_applications_bn._models.registration import register
from keras_applications_bn._models.tf_keras import check_not_tf_keras
from keras_applications_bn.tuning.freeze import _leaf_layers, _position

__all__ = ["LayerwiseLR", "lr_multipliers"]


def lr_multipliers(model, starts):
    """Learning-rate multipliers for consecutive groups of layers, by layer name.

    For example, ``lr_multipliers(model, {0: 0.01, "conv4_block1_1_conv": 0.1,
    "head": 1.0})`` puts the stem to conv3 at 1% of the learning rate, conv4 and
    conv5 at 10%, the head at the full rate.

    Args:
        model: a Keras model (nested models are walked in order).
        starts: ``{first_layer: multiplier, ...}``; each group runs from its first
            layer (a name or index, as in `freeze`) to the next group's.
            Layers before the first group get no entry (multiplier 1).

    Returns:
        ``{layer_name: multiplier}`` for every layer with weights, ready for
        `LayerwiseLR`.
    """
    check_model(model)
    if not isinstance(starts, collections.abc.Mapping):
        raise TypeError(
            "`starts` must be a dict {first_layer: multiplier} (first layers by name or "
            f"index), got {describe(starts)}."
        )
    leaves = _leaf_layers(model)
    bounds, firsts = [], {}
    for ref, factor in starts.items():
        position = _position(leaves, ref, "starts")
        if position in firsts:
            raise ValueError(
                f"`starts`: {firsts[position]!r} and {ref!r} name the same layer "
                f"({leaves[position].name!r}); give each group one first layer."
            )
        firsts[position] = ref
        bounds.append((position, check_factor(factor, ref, "starts")))
    bounds.sort()
    result = {}
    for (begin, factor), (end, _) in zip(bounds, bounds[1:] + [(len(leaves), None)]):
        for layer in leaves[begin:end]:
            if layer.weights:
                result[layer.name] = factor
    return result


def _normalise_multipliers(multipliers):
    """``multipliers`` as a list of ``(pattern, factor)``, every entry checked."""
    expected = (
        "`multipliers` must be a dict {layer_name_or_pattern: factor} or a list of "
        "(pattern, factor) pairs"
    )
    if isinstance(multipliers, collections.abc.Mapping):
        items = list(multipliers.items())
    elif isinstance(multipliers, (str, bytes)) or not isinstance(
        multipliers, collections.abc.Iterable
    ):
        raise TypeError(f"{expected}, got {describe(multipliers)}.")
    else:
        items = list(multipliers)
        for item in items:
            if (
                isinstance(item, (str, bytes))
                or not isinstance(item, collections.abc.Sequence)
                or len(item) != 2
            ):
                raise TypeError(f"{expected}; got the item {describe(item)}.")
    result = []
    for pattern, factor in items:
        if not isinstance(pattern, str):
            raise TypeError(
                f"`multipliers`: keys must be layer names or patterns (str), got {describe(pattern)}."
            )
        result.append((pattern, check_factor(factor, pattern, "multipliers")))
    return result


def _assign_in_each_replica(targets):
    """Under a tf.distribute strategy, in a replica context: set each variable's
    copy on every replica to that replica's ``target`` and return ``True``.

    ``False`` elsewhere (no strategy, cross-replica context, other backends):
    plain assignment is then right. The update goes through the strategy as
    Keras' own optimizer step does (``extended.update`` in a merge call), so it
    does not depend on the variables' aggregation mode.
    """
    if not targets or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return False

    def update(strategy, values):
        for (variable, _), value in zip(targets, values):
            strategy.extended.update(
                getattr(variable, "value", variable),
                lambda v, t: v.assign(t),
                args=(value,),
                group=False,
            )

    tf.__internal__.distribute.interim.maybe_merge_call(
        update, tf.distribute.get_strategy(), [target for _, target in targets]
    )
    return True


# -- LayerwiseLR's pieces: its arguments, which factor a variable gets, one
# -- step, its config. The class below puts them together.


def _checked_optimizer(optimizer, name, kwargs):
    """The optimizer ``LayerwiseLR`` wraps (deserialized when given as a config),
    after checking every argument of ``LayerwiseLR``."""
    if "learning_rate" in kwargs:
        raise ValueError(
            "LayerwiseLR takes its learning rate from `optimizer`: set it there "
            "(e.g. `keras.optimizers.Adam(learning_rate=1e-3)`), not as "
            f"learning_rate={kwargs['learning_rate']!r}."
        )
    if kwargs:
        raise ValueError(f"LayerwiseLR does not take {sorted(kwargs)}; set them on `optimizer`.")
    if isinstance(optimizer, dict) and "class_name" in optimizer:  # a serialized optimizer
        optimizer = keras.optimizers.deserialize(optimizer)
    check_not_tf_keras(optimizer, "optimizer")
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "LayerwiseLR(optimizer, multipliers) takes a Keras optimizer first and the "
            f"multipliers second; `optimizer` got {describe(optimizer)}. For example: "
            "LayerwiseLR(keras.optimizers.Adam(1e-3), {'conv1_*': 0.1})."
        )
    if name is not None and not isinstance(name, str):
        raise TypeError(f"`name` must be a string or None, got {describe(name)}.")
    return optimizer


def _layer_names(variable):
    """The layer names in a variable's path, outermost first."""
    return variable.path.split("/")[:-1]


def _factor(multipliers, variable):
    """The factor of the first pattern that matches the innermost layer name it
    can in ``variable``'s path; 1.0 when none matches."""
    for name in reversed(_layer_names(variable)):
        for pattern, factor in multipliers:
            if fnmatch.fnmatchcase(name, pattern):
                return factor
    return 1.0


def _unmatched(multipliers, variables):
    """The patterns of ``multipliers`` that match no layer name of ``variables``."""
    names = {name for v in variables for name in _layer_names(v)}
    return [
        pattern
        for pattern, _ in multipliers
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names)
    ]


def _warn_unmatched(unmatched, count):
    """Warn that the patterns ``unmatched`` match none of the ``count`` trainable
    variables ``LayerwiseLR`` is built on (shown where ``build`` was called)."""
    verb = "matches" if len(unmatched) == 1 else "match"
    shown = ", ".join(map(repr, unmatched[:5]))
    if len(unmatched) > 5:
        shown += f" and {len(unmatched) - 5} more"
    warnings.warn(
        f"LayerwiseLR: {shown} {verb} no layer of the "
        f"{count} trainable variables it was built on, so no factor applies "
        "there. Patterns are case-sensitive shell patterns of layer names (see "
        "`[v.path for v in model.trainable_variables]`); a layer with only frozen "
        "weights is not among them.",
        stacklevel=3,
    )


def _apply_scaled(optimizer, grads, variables, factor_of):
    """One step: ``optimizer`` updates every variable whose factor is not 0, then
    each variable with a factor ``f`` other than 1 is set to
    ``old + f * (new - old)`` (on every replica under ``tf.distribute``)."""
    pairs = [(g, v, factor_of(v)) for g, v in zip(grads, variables)]
    pairs = [(g, v, f) for g, v, f in pairs if f != 0.0]
    # copies (a plain read may alias the buffer that the update changes in place)
    scaled = [(v, f, ops.copy(v)) for _, v, f in pairs if f != 1.0]
    optimizer.apply([g for g, _, _ in pairs], [v for _, v, _ in pairs])
    targets = [(variable, old + factor * (variable - old)) for variable, factor, old in scaled]
    if not _assign_in_each_replica(targets):
        for variable, target in targets:
            variable.assign(target)


def _config(layerwise):
    """``LayerwiseLR.get_config``: its name, the wrapped optimizer's config and
    the multipliers as ``[pattern, factor]`` lists."""
    return {
        "name": layerwise.name,
        "optimizer": keras.optimizers.serialize(layerwise.inner_optimizer),
        "multipliers": [list(item) for item in layerwise.multipliers],
    }


def _arguments(config, custom_objects=None):
    """The inverse of ``_config``: the wrapped optimizer, rebuilt, and the other
    keyword arguments of ``LayerwiseLR``."""
    config = dict(config)
    optimizer = keras.optimizers.deserialize(config.pop("optimizer"), custom_objects=custom_objects)
    return optimizer, config


@register
class LayerwiseLR(keras.optimizers.Optimizer):
    """Any Keras optimizer, with a learning-rate multiplier per group of layers.

    How: each step the wrapped optimizer updates every variable as usual; then a
    variable with factor ``f`` is set to ``old + f * (new - old)``. For an
    optimizer whose update is proportional to its learning rate (SGD with or
    without momentum, Adam/AdamW/Adamax/Nadam/Lion/RMSprop/Adagrad/Adadelta...),
    that is exactly the update with learning rate ``f * lr``: their internal state
    (moments) does not depend on the learning rate, or (SGD's velocity) scales
    with it. This is not the same as scaling gradients, which Adam normalises
    away. Variables with factor 0 are left out of the update entirely (no
    gradient step, no weight decay, unchanged optimizer slots). Not exact for Ftrl
    or Adafactor's relative step.

    Saved with a compiled model (``model.save("m.keras")``): after
    ``import keras_applications_bn``, ``keras.saving.load_model`` rebuilds it with
    its multipliers.

    Under ``tf.distribute`` (MirroredStrategy, MultiWorkerMirroredStrategy):
    create it, like any optimizer, inside ``strategy.scope()``. The wrapped
    optimizer all-reduces the gradients and updates every replica's copy as
    usual; each copy is then rescaled from its own old value, so all replicas
    stay identical and a multi-replica step equals a one-device step on the
    same global batch.

    On JAX, which trains statelessly (``fit`` calls ``stateless_apply``), Keras'
    base implementation runs `apply` on the given values in a
    ``StatelessScope``, so the wrapped optimizer's update and the rescaling above
    apply as in stateful training, just as exactly (a step with factor ``f``
    equals the step with learning rate ``f * lr`` for the optimizers above; not a
    rescaled gradient). PyTorch trains statefully, as TensorFlow does.

    Args:
        optimizer: the Keras optimizer that computes the updates (its learning
            rate, schedule, weight decay, clipping etc. apply as usual).
        multipliers: ``{layer_name_or_pattern: factor}`` (or a list of pairs).
            Keys are layer names or shell-style patterns (``"conv1_*"``); a
            variable belongs to the layer named in its path (``variable.path``,
            e.g. ``"conv1_conv/kernel"``). When several keys match, the one that
            matches the innermost path component wins, then the one listed first.
            Unmatched variables use factor 1. Factors must be finite numbers
            >= 0. A key that matches no layer of the variables the optimizer is
            built on gets a warning that names it. `lr_multipliers` builds
            a dict from layer ranges.
        name: the optimizer's name.

    Raises:
        TypeError: ``optimizer`` is not a Keras 3 optimizer (the message says
            that it comes first and ``multipliers`` second: a dict passed first
            is refused), ``multipliers`` is not a dict or list of ``(name,
            factor)`` pairs, or ``name`` is not a string.
        ValueError: a keyword argument such as ``learning_rate`` is given (set it
            on ``optimizer``), or a factor is negative or not finite.
    """

    def __init__(self, optimizer, multipliers=None, name=None, **kwargs):
        optimizer = _checked_optimizer(optimizer, name, kwargs)
        super().__init__(learning_rate=0.0, name=name or f"layerwise_{optimizer.name}")
        self.inner_optimizer = optimizer
        self.multipliers = _normalise_multipliers(multipliers)

    # -- which factor a variable gets ------------------------------------------

    def multiplier(self, variable):
        """The learning-rate factor for one variable.

        Args:
            variable: a Keras variable; the layer names in its ``path`` choose
                the factor.

        Returns:
            The factor, a float (1.0 when no key matches).
        """
        return _factor(self.multipliers, variable)

    def unmatched_patterns(self, variables):
        """The keys of ``multipliers`` that match no layer of some variables.

        Args:
            variables: Keras variables; the layer names in their paths count.

        Returns:
            The list of those keys, in the order of ``multipliers``.
        """
        return _unmatched(self.multipliers, variables)

    # -- delegation -------------------------------------------------------------

    @property
    def variables(self):
        return ki.optimizer_variables(self) + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, counter):
        # Keras before 3.5 stores the optimizer's own step counter as `self.iterations`
        # in `Optimizer.__init__`; the wrapper counts steps with the inner optimizer's.
        self._own_iterations = counter

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    # -- building and stepping ----------------------------------------------------

    def build(self, var_list):
        unmatched = self.unmatched_patterns(var_list)
        if unmatched:
            _warn_unmatched(unmatched, len(var_list))
        self.inner_optimizer.build([v for v in var_list if self.multiplier(v) != 0.0])
        super().build(var_list)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            trainable_variables = ki.optimizer_trainable_variables(self)
        grads, trainable_variables = list(grads), list(trainable_variables)
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        _apply_scaled(self.inner_optimizer, grads, trainable_variables, self.multiplier)

    # -- saving -------------------------------------------------------------------

    def get_config(self):
        return _config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        optimizer, kwargs = _arguments(config, custom_objects)
        return cls(optimizer, **kwargs)
