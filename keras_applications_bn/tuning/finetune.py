"""Fine-tuning helpers: freeze/unfreeze ranges of layers, layer-wise learning rates.

``freeze``/``unfreeze`` never change how a BatchNormalization layer normalises:
a layer that uses its moving statistics (pinned, or ``trainable=False``) keeps
using them, and a layer that normalises with batch statistics keeps doing so —
only which weights train changes. (In Keras 3, ``layer.trainable = False`` on a
BN layer would also switch it to inference mode, and ``trainable = True`` back.)

:class:`LayerwiseLR` wraps any Keras optimizer and multiplies the learning rate
of chosen layers' weights by a factor ("discriminative" learning rates): a small
factor for early layers instead of freezing them. It is a registered Keras
object, so the multipliers are saved with a compiled model and apply again after
``keras.saving.load_model`` (after ``import keras_applications_bn``).
"""

import collections.abc
import fnmatch
import warnings

import keras
from keras import ops

from keras_applications_bn._models.checks import check_factor, check_model, describe
from keras_applications_bn._models.tf_keras import check_not_tf_keras
from keras_applications_bn.batchnorm import bn_layers, fit_mode, forget_traced_functions
from keras_applications_bn.layers import BatchNormalization, convert, convertible

__all__ = ["LayerwiseLR", "freeze", "lr_multipliers", "unfreeze"]


# ---------------------------------------------------------------------------
# freeze / unfreeze
# ---------------------------------------------------------------------------


def _leaf_layers(model):
    """Every layer of ``model`` that is neither a model nor an input, depth-first in model order."""
    check_model(model)
    leaves = []

    def walk(layer):
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            if isinstance(sub, keras.Model):
                walk(sub)
            elif not isinstance(sub, keras.layers.InputLayer):
                leaves.append(sub)

    walk(model)
    return leaves


def _position(leaves, ref, argname):
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise TypeError(f"`{argname}` must be a layer name or an index, got {ref!r}.")
    if isinstance(ref, int):
        if not -len(leaves) <= ref < len(leaves):
            raise IndexError(f"`{argname}`={ref} is out of range for {len(leaves)} layers.")
        return ref % len(leaves)
    matches = [i for i, layer in enumerate(leaves) if layer.name == ref]
    if not matches:
        raise ValueError(f"No layer named {ref!r} (`{argname}`).")
    return matches[0]


def _uses_moving_statistics(layer):
    return fit_mode(layer) != "batch"


# freeze/unfreeze validate, then apply: each ``_plan_*`` function checks one layer
# and returns what to do to it, so a refusal comes before any layer has changed.


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
        for sub in node._flatten_layers(include_self=False, recursive=False):
            if sub is leaf:
                return [node]
            if isinstance(sub, keras.Model):
                found = path(sub)
                if found:
                    return [node] + found
        return None

    return path(model) or [model]


def freeze(model, until=None):
    """Stop the first layers of ``model`` (through ``until``) from training.

    Other layers keep their state. BatchNormalization layers keep their mode: one
    that uses its moving statistics is set ``trainable=False``; one that normalises
    with batch statistics keeps doing so and keeps updating its moving statistics,
    and only its gamma and beta stop training (Keras BN layers become
    :class:`keras_applications_bn.layers.BatchNormalization` with
    ``affine_trainable=False``, which is saved with the model). To freeze *and*
    pin them, call :func:`keras_applications_bn.set_inference_bn` as well.

    Compile the model after freezing (as after any change of ``trainable``).
    Every argument and layer is checked first: a refused call (e.g. a
    BatchNormalization subclass that cannot be converted) changes nothing.

    Args:
        model: a Keras model; nested models are walked in order, so ``until`` may
            name a layer inside a nested backbone.
        until: the last layer to freeze, by name or by index into the list of
            layers (nested models expanded in place, input layers left out);
            ``None`` freezes all.

    Returns:
        The layers frozen.
    """
    check_model(model)
    leaves = _leaf_layers(model)
    stop = len(leaves) - 1 if until is None else _position(leaves, until, "until")
    chosen = leaves[: stop + 1]
    changes = [_plan_freeze(layer) for layer in chosen]  # may raise: nothing changed yet
    modes = _bn_modes(model)  # BN layers inside other layers too
    for change in changes:
        change()
    _keep_bn_modes(model, modes)
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

    Compile the model after unfreezing. As with :func:`freeze`, a refused call
    changes nothing.

    Args:
        model: a Keras model; nested models are walked in order.
        start: the first layer to unfreeze, by name or index (as in
            :func:`freeze`); ``None`` unfreezes all.

    Returns:
        The layers unfrozen.
    """
    check_model(model)
    leaves = _leaf_layers(model)
    first = 0 if start is None else _position(leaves, start, "start")
    chosen = leaves[first:]
    # A model with trainable=False hides its layers' weights; making it trainable
    # (which Keras propagates to all its layers) must not unfreeze the others.
    states = {id(layer): layer.trainable for layer in leaves[:first]}
    bn_pins = {
        id(layer): _uses_moving_statistics(layer)
        for layer in leaves
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    changes = [_plan_unfreeze(layer, bn_pins.get(id(layer), False)) for layer in chosen]
    modes = _bn_modes(model)  # BN layers inside other layers too
    # nothing has changed before this point
    for leaf in chosen:
        for container in _containers(model, leaf):
            if not container.trainable:
                container.trainable = True
    for layer in leaves[:first]:
        if layer.trainable != states[id(layer)]:
            layer.trainable = states[id(layer)]
    for change in changes:
        change()
    _keep_bn_modes(model, modes)
    forget_traced_functions(model)
    return chosen


# ---------------------------------------------------------------------------
# layer-wise learning rates
# ---------------------------------------------------------------------------


def lr_multipliers(model, starts):
    """Learning-rate multipliers for consecutive groups of layers, by layer name.

    For example, ``lr_multipliers(model, {0: 0.01, "conv4_block1_1_conv": 0.1,
    "head": 1.0})`` puts the stem to conv3 at 1% of the learning rate, conv4 and
    conv5 at 10%, the head at the full rate.

    Args:
        model: a Keras model (nested models are walked in order).
        starts: ``{first_layer: multiplier, ...}``; each group runs from its first
            layer (a name or index, as in :func:`freeze`) to the next group's.
            Layers before the first group get no entry (multiplier 1).

    Returns:
        ``{layer_name: multiplier}`` for every layer with weights, ready for
        :class:`LayerwiseLR`.
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
    elif isinstance(multipliers, (str, bytes)) or not isinstance(multipliers, collections.abc.Iterable):
        raise TypeError(f"{expected}, got {describe(multipliers)}.")
    else:
        items = list(multipliers)
        for item in items:
            if isinstance(item, (str, bytes)) or not isinstance(item, collections.abc.Sequence) or len(item) != 2:
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
                getattr(variable, "value", variable), lambda v, t: v.assign(t), args=(value,), group=False
            )

    tf.__internal__.distribute.interim.maybe_merge_call(
        update, tf.distribute.get_strategy(), [target for _, target in targets]
    )
    return True


@keras.saving.register_keras_serializable(package="keras_applications_bn")
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
    base implementation runs :meth:`apply` on the given values in a
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
            built on gets a warning that names it. :func:`lr_multipliers` builds
            a dict from layer ranges.
        name: the optimizer's name.

    Raises:
        TypeError: ``optimizer`` is not a Keras 3 optimizer, or ``multipliers``
            is not a dict or list of ``(name, factor)`` pairs.
        ValueError: a keyword argument such as ``learning_rate`` is given (set it
            on ``optimizer``), or a factor is negative or not finite.
    """

    def __init__(self, optimizer, multipliers, name=None, **kwargs):
        if "learning_rate" in kwargs:
            raise ValueError(
                "LayerwiseLR takes its learning rate from `optimizer`: set it there "
                "(e.g. `keras.optimizers.Adam(learning_rate=1e-3)`), not as "
                f"learning_rate={kwargs['learning_rate']!r}."
            )
        if kwargs:
            raise ValueError(
                f"LayerwiseLR does not take {sorted(kwargs)}; set them on `optimizer`."
            )
        if isinstance(optimizer, dict):
            optimizer = keras.optimizers.deserialize(optimizer)
        check_not_tf_keras(optimizer, "optimizer")
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"`optimizer` must be a Keras optimizer, got {type(optimizer).__name__}.")
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
        names = variable.path.split("/")[:-1]
        for name in reversed(names):
            for pattern, factor in self.multipliers:
                if fnmatch.fnmatchcase(name, pattern):
                    return factor
        return 1.0

    # -- delegation -------------------------------------------------------------

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

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

    def unmatched_patterns(self, variables):
        """The keys of ``multipliers`` that match no layer of some variables.

        Args:
            variables: Keras variables; the layer names in their paths count.

        Returns:
            The list of those keys, in the order of ``multipliers``.
        """
        names = {name for v in variables for name in v.path.split("/")[:-1]}
        return [
            pattern for pattern, _ in self.multipliers
            if not any(fnmatch.fnmatchcase(name, pattern) for name in names)
        ]

    def build(self, var_list):
        unmatched = self.unmatched_patterns(var_list)
        if unmatched:
            verb = "matches" if len(unmatched) == 1 else "match"
            shown = ", ".join(map(repr, unmatched[:5]))
            if len(unmatched) > 5:
                shown += f" and {len(unmatched) - 5} more"
            warnings.warn(
                f"LayerwiseLR: {shown} {verb} no layer of the "
                f"{len(var_list)} trainable variables it was built on, so no factor applies "
                "there. Patterns are case-sensitive shell patterns of layer names (see "
                "`[v.path for v in model.trainable_variables]`); a layer with only frozen "
                "weights is not among them.",
                stacklevel=2,
            )
        self.inner_optimizer.build(
            [v for v in var_list if self.multiplier(v) != 0.0]
        )
        super().build(var_list)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            trainable_variables = self._trainable_variables
        grads, trainable_variables = list(grads), list(trainable_variables)
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        pairs = [
            (g, v, self.multiplier(v))
            for g, v in zip(grads, trainable_variables)
        ]
        pairs = [(g, v, f) for g, v, f in pairs if f != 0.0]
        # copies (a plain read may alias the buffer that the update changes in place)
        scaled = [(v, f, ops.copy(v)) for _, v, f in pairs if f != 1.0]
        self.inner_optimizer.apply([g for g, _, _ in pairs], [v for _, v, _ in pairs])
        targets = [(variable, old + factor * (variable - old)) for variable, factor, old in scaled]
        if not _assign_in_each_replica(targets):
            for variable, target in targets:
                variable.assign(target)

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": keras.optimizers.serialize(self.inner_optimizer),
            "multipliers": [list(item) for item in self.multipliers],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        optimizer = keras.optimizers.deserialize(config.pop("optimizer"), custom_objects=custom_objects)
        return cls(optimizer, **config)
