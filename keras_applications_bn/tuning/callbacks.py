"""Keras callbacks for fine-tuning workflows.

`AdaptBNStatistics` re-estimates BatchNormalization statistics with
`keras_applications_bn.adapt_bn_statistics` once averaged weights (the
optimizer's EMA, SWA) are in place. `GradualUnfreezing` unfreezes a
backbone stage by stage during one ``fit``, keeping every BN layer's mode.
"""

import fnmatch
import numbers

import keras
import numpy as np

from keras_applications_bn._models import keras_internals as ki
from keras_applications_bn._models.checks import (
    check_choice,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_prior,
    check_verbose,
    describe,
)
from keras_applications_bn.batchnorm import adapt_bn_statistics
from keras_applications_bn.batchnorm.data import check_data_kind, is_one_shot
from keras_applications_bn.tuning.freeze import _freeze_unfreeze, _leaf_layers, _position
from keras_applications_bn.tuning.lr import LayerwiseLR
from keras_applications_bn.tuning.optimizer import extend_model_optimizer, optimizer_chain

__all__ = ["AdaptBNStatistics", "GradualUnfreezing"]


# ---------------------------------------------------------------------------
# AdaptBNStatistics
# ---------------------------------------------------------------------------


class AdaptBNStatistics(keras.callbacks.Callback):
    """Re-estimate BN statistics on ``data`` at the end of training (or of each epoch).

    Weight averaging leaves BatchNormalization statistics behind: the moving
    statistics were accumulated with the weights of each step, not with their
    average. This callback runs `keras_applications_bn.adapt_bn_statistics`
    on ``self.model`` once the averaged weights are in place (as PyTorch's
    ``torch.optim.swa_utils.update_bn`` does).

    Order with Keras' optimizer EMA (``use_ema=True``): ``fit`` copies the EMA
    weights into the model *before* calling ``on_train_end``, so with
    ``when="train_end"`` the statistics are those of the final (averaged)
    weights wherever the callback is listed. With ``when="epoch_end"`` and
    ``keras.callbacks.SwapEMAWeights(swap_on_epoch=True)``, list this callback
    *after* ``SwapEMAWeights`` (which swaps the EMA weights in at the end of
    each epoch) and before callbacks that read the model, such as
    ``ModelCheckpoint``. With weights averaged by another callback (SWA), list
    this callback after it.

    Args:
        data: the inputs to re-estimate on, as for ``adapt_bn_statistics``: a
            NumPy array, a batched ``tf.data.Dataset`` or a list of batches
            (labels are ignored); or a function without arguments that returns
            such data (a new generator, say) each time the statistics are
            re-estimated. A generator or other iterator is read once: it is
            refused with ``when="epoch_end"``, which reads ``data`` once per
            epoch (pass a list, an array, a dataset, or a function that
            returns a new generator).
        steps: use at most this many batches of ``data`` (default: all).
        when: ``"train_end"`` (default) or ``"epoch_end"``.
        batch_size: the batch size for NumPy ``data``.
        prior: partial adaptation, as in ``adapt_bn_statistics`` (0: replace).
        verbose: 1 (or ``True``) prints a line each time the statistics are
            re-estimated; 0 (or ``False``) is silent.

    Raises:
        TypeError: an argument of the wrong kind (``data`` that is not an
            array, a dataset, an iterable of batches or a function; a float
            ``steps``; a string ``verbose``...).
        ValueError: a bad value, an infinite ``tf.data.Dataset`` without
            ``steps``, or a generator with ``when="epoch_end"``. All are
            checked here, before training, not after it.
    """

    def __init__(self, data, steps=None, when="train_end", batch_size=32, prior=0, verbose=0):
        super().__init__()
        # the checks adapt_bn_statistics makes, before training rather than after it
        when = check_choice(when, "when", ("train_end", "epoch_end"))
        steps = check_positive_int(steps, "steps", allow_none=True)
        batch_size = check_positive_int(batch_size, "batch_size")
        prior = check_prior(prior)
        verbose = check_verbose(verbose)
        if not _fresh_data(data):
            check_data_kind(data, steps)
            if when == "epoch_end" and is_one_shot(data):
                raise ValueError(
                    f'AdaptBNStatistics(when="epoch_end") reads `data` at the end of every '
                    f"epoch, but `data` ({type(data).__name__}) is an iterator that can be read "
                    "only once. Pass a list of batches, a NumPy array, a tf.data.Dataset, or a "
                    "function that returns a new generator each time (e.g. `lambda: batches()`)."
                )
        self.data = data
        self.steps = steps
        self.when = when
        self.batch_size = batch_size
        self.prior = prior
        self.verbose = verbose
        self.samples = None  # samples used by the last re-estimation

    def _adapt(self, where):
        data = self.data() if _fresh_data(self.data) else self.data
        self.samples = adapt_bn_statistics(
            self.model,
            data,
            batch_size=self.batch_size,
            steps=self.steps,
            verbose=0,
            prior=self.prior,
        )
        if self.verbose:
            print(
                f"AdaptBNStatistics: BN statistics re-estimated on {self.samples} samples ({where})."
            )

    def on_epoch_end(self, epoch, logs=None):
        if self.when == "epoch_end":
            self._adapt(f"end of epoch {epoch + 1}")

    def on_train_end(self, logs=None):
        if self.when == "train_end":
            self._adapt("end of training")


def _fresh_data(data):
    """Whether ``data`` is a function that returns the data (not the data itself)."""
    if isinstance(data, keras.layers.Layer) or hasattr(data, "__iter__") or hasattr(data, "shape"):
        return False  # data itself (a model passed by mistake is refused as data)
    return callable(data)


# ---------------------------------------------------------------------------
# GradualUnfreezing
# ---------------------------------------------------------------------------


def _layer_ref(value):
    """Whether ``value`` names a layer: a name, or an index (NumPy ints too)."""
    return isinstance(value, (str, numbers.Integral)) and not isinstance(value, (bool, np.bool_))


def _pattern_list(value):
    return isinstance(value, (list, tuple)) and value and all(isinstance(p, str) for p in value)


class GradualUnfreezing(keras.callbacks.Callback):
    """Unfreeze a frozen backbone stage by stage during one ``fit``.

    Freeze the backbone first (`keras_applications_bn.freeze`, or
    ``trainable=False``), compile once, and give ``fit`` this callback: at the
    start of each scheduled epoch it unfreezes the next stage, as
    `keras_applications_bn.unfreeze` does — every BatchNormalization layer
    keeps its mode (one that used its moving statistics is pinned and its
    gamma/beta train) — and the newly unfrozen weights train from that epoch on.
    Compare PyTorch Lightning's ``BackboneFinetuning``.

    No recompiling: Keras 3 collects the trainable variables when it traces the
    train step, and an optimizer can only update the variables it was built
    for. At the start of training the callback builds (or extends, keeping its
    state) the optimizer for every variable it will unfreeze; at each stage it
    retraces the train step. Tested on TensorFlow; PyTorch's ``fit`` collects the
    trainable weights at every step, so it applies there too. Not on JAX, whose
    ``fit`` fixes its trainable state for the whole call: there, call ``fit``
    once per stage with ``unfreeze`` in between.

    Args:
        schedule: ``{epoch: stage}`` (epochs counted from 0, as in ``fit``). A
            stage is either the first layer to unfreeze, by name or index as in
            ``unfreeze(model, start=...)`` (that layer and every later one), or
            a list of layer names or shell-style patterns (``["conv5_*"]``;
            layers of nested models included).
        lr_factor: optional learning-rate factor for the layers each stage
            unfreezes (e.g. 0.1). Needs the model compiled with a
            `keras_applications_bn.LayerwiseLR` optimizer (``LayerwiseLR(opt,
            {})`` for none at first); the newly unfrozen layers' names are added
            to its multipliers, ahead of the others.
        verbose: 1 (or ``True``) prints a line at each stage; 0 (or ``False``)
            is silent.

    Raises:
        TypeError: ``schedule`` is not a dict, an epoch is not an int (NumPy
            ints are; ``1.0`` is not), a stage is neither a layer name, an index
            nor a list of patterns, ``lr_factor`` is not a number, or
            ``verbose`` is not 0, 1 or a bool.
        ValueError: an empty ``schedule``, a negative epoch, an ``lr_factor``
            that is not a finite number > 0, or a ``verbose`` int other than
            0 and 1.
    """

    def __init__(self, schedule, lr_factor=None, verbose=0):
        super().__init__()
        if not isinstance(schedule, dict):
            raise TypeError(
                f"`schedule` must be a non-empty dict {{epoch: stage}}, got {describe(schedule)}."
            )
        if not schedule:
            raise ValueError("`schedule` must be a non-empty dict {epoch: stage}, got {}.")
        checked = {}
        for epoch, stage in schedule.items():
            epoch = check_nonnegative_int(epoch, "schedule", item="epochs (its keys)")
            if not (_pattern_list(stage) or _layer_ref(stage)):
                raise TypeError(
                    f"`schedule[{epoch}]` must be a layer name or index (unfreeze from there on) "
                    f"or a list of layer names/patterns, got {describe(stage)}."
                )
            checked[epoch] = int(stage) if isinstance(stage, numbers.Integral) else stage
        if lr_factor is not None:
            lr_factor = check_positive(lr_factor, "lr_factor")
        verbose = check_verbose(verbose)
        self.schedule = checked
        self.lr_factor = lr_factor
        self.verbose = verbose
        self.unfrozen = {}  # epoch -> names of the layers (with weights) that stage unfroze

    def _stage_layers(self, stage):
        leaves = _leaf_layers(self.model)
        if _pattern_list(stage):
            chosen = []
            for pattern in stage:
                matches = [layer for layer in leaves if fnmatch.fnmatchcase(layer.name, pattern)]
                if not matches:
                    raise ValueError(
                        f"GradualUnfreezing: no layer of {self.model.name!r} matches {pattern!r}."
                    )
                chosen += [layer for layer in matches if all(layer is not c for c in chosen)]
            return chosen
        return leaves[_position(leaves, stage, "schedule") :]

    def on_train_begin(self, logs=None):
        if keras.backend.backend() == "jax":
            raise RuntimeError(
                "GradualUnfreezing needs the TensorFlow or PyTorch backend: JAX's fit fixes the "
                "trainable variables for the whole call. Call fit once per stage, with "
                "keras_applications_bn.unfreeze in between, and compile after each."
            )
        if self.model.optimizer is None:
            raise ValueError("GradualUnfreezing: compile the model before fit.")
        if self.lr_factor is not None and not any(
            isinstance(opt, LayerwiseLR) for opt in optimizer_chain(self.model.optimizer)
        ):
            raise ValueError(
                "GradualUnfreezing(lr_factor=...) needs the model compiled with "
                "keras_applications_bn.LayerwiseLR(optimizer, {}) as its optimizer."
            )
        # every weight a stage will let train, so the optimizer is built for it (a
        # frozen layer's variables read trainable=False: take what each layer registered)
        future = list(self.model.trainable_variables)
        known = {id(v) for v in future}
        for stage in self.schedule.values():
            for layer in self._stage_layers(stage):
                for sub in ki.sublayers(layer, include_self=True, recursive=True):
                    for variable in ki.layer_trainable_variables(sub):
                        if id(variable) not in known:
                            known.add(id(variable))
                            future.append(variable)
        extend_model_optimizer(self.model, future)
        # a train step traced by an earlier fit holds the optimizer's replaced slots
        self.model.make_train_function(force=True)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch not in self.schedule:
            return
        chosen = self._stage_layers(self.schedule[epoch])
        newly = [layer for layer in chosen if layer.weights and not _trains(layer)]
        _freeze_unfreeze(self.model, chosen, mode="unfreeze")
        if self.lr_factor is not None and newly:
            wrapper = next(
                opt for opt in optimizer_chain(self.model.optimizer) if isinstance(opt, LayerwiseLR)
            )
            wrapper.multipliers[:0] = [(layer.name, float(self.lr_factor)) for layer in newly]
        self.unfrozen[epoch] = [layer.name for layer in newly]
        self.model.make_train_function(force=True)
        if self.verbose:
            print(f"GradualUnfreezing: epoch {epoch + 1}: unfroze {len(newly)} layer(s).")


def _trains(layer):
    """Whether ``layer`` already trains all its trainable weights."""
    if not layer.trainable:
        return False
    return getattr(layer, "affine_trainable", True)
