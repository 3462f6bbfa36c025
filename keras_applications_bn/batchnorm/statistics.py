"""Statistics of BatchNormalization layers: reset, re-estimate, describe.

:func:`reset_bn_statistics` resets the moving mean and variance,
:func:`adapt_bn_statistics` re-estimates them (AdaBN, precise BN), and
:func:`bn_summary` describes every layer's mode and statistics.
"""

import difflib
import itertools
import math
import sys
import threading
import warnings
import weakref

import keras
import numpy as np
from keras import ops

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.checks import check_model, check_positive_int, check_prior, describe
from keras_applications_bn.batchnorm.pinning import TRACED_STEPS, bn_layers, fit_mode

__all__ = ["adapt_bn_statistics", "bn_summary", "reset_bn_statistics"]


def _selected(model, layers):
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
                    f"{model.name!r} has no BatchNormalization layer named {item!r}.{hint}"
                )
            if len(matches) > 1:
                raise ValueError(
                    f"{len(matches)} BatchNormalization layers of {model.name!r} are named "
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
                raise ValueError(f"{item.name!r} is {what}.")
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

    Follow it with :func:`adapt_bn_statistics` (exact, one pass, no labels), or with
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
    layers = _selected(model, layers)
    for layer in layers:
        if not layer.built:
            continue
        for variable, initializer in (
            (layer.moving_mean, layer.moving_mean_initializer),
            (layer.moving_variance, layer.moving_variance_initializer),
        ):
            variable.assign(initializer(variable.shape, dtype=variable.dtype))
    return len(layers)


# ---------------------------------------------------------------------------
# adapt_bn_statistics: AdaBN / precise BN
# ---------------------------------------------------------------------------

# How the pass works: for its duration, each adapted layer's class is swapped for a
# subclass made for this pass alone, whose ``call`` is `_adapting_call` and whose
# class attribute ``_adaptation`` is the pass's `_Adaptation`. Every piece of state
# of a pass lives in that object, which only the pass holds: nothing is kept at
# module level and nothing is set on the layers, so two passes (of two models, in
# two threads, or one started from another's data generator) never see each
# other's state, and restoring the classes (also after an error) leaves nothing
# behind.


def _adapting_call(self, inputs, training=None, mask=None):
    """Normalise with this batch's moments and record them in the running pass."""
    del training  # the pass always uses batch statistics in the adapted layers
    x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
    axes = [a for a in range(len(x.shape)) if a != self.axis % len(x.shape)]
    if mask is None:
        mean, variance = ops.moments(x, axes=axes)
        count = ops.cast(ops.size(x), "float32") / x.shape[self.axis]
    else:
        weight = ops.cast(ops.broadcast_to(ops.expand_dims(mask, -1), ops.shape(x)), x.dtype)
        count = ops.sum(weight) / x.shape[self.axis]
        safe = ops.maximum(count, 1.0)
        mean = ops.sum(weight * x, axis=axes) / safe
        shape = [1] * len(x.shape)
        shape[self.axis] = x.shape[self.axis]
        variance = ops.sum(weight * ops.square(x - ops.reshape(mean, shape)), axis=axes) / safe
    count, mean, variance = _cross_replica_moments(count, mean, variance)
    self._adaptation.record(self, count, mean, variance)
    outputs = ops.batch_normalization(
        x,
        mean=mean,
        variance=variance,
        axis=self.axis,
        offset=ops.cast(self.beta, x.dtype) if self.center else None,
        scale=ops.cast(self.gamma, x.dtype) if self.scale else None,
        epsilon=self.epsilon,
    )
    return ops.cast(outputs, self.compute_dtype)


class _Adaptation:
    """The state of one adapt_bn_statistics pass; as a context, it swaps the layers' call.

    Entering swaps the class of every adapted layer for a subclass made for this
    pass (``call`` is `_adapting_call`, ``_adaptation`` is this object); leaving
    gives every layer its own class back, also after an error. The subclasses are
    made per pass and dropped with it (none is cached).

    Each forward pass starts with :meth:`start_pass`; the layers then
    :meth:`record` their batch moments, in call order, read back with
    :meth:`calls`. Records are kept per thread, because MirroredStrategy traces
    each replica's pass in its own thread.
    """

    def __init__(self, layers):
        self._layers = list(layers)
        self._classes = [layer.__class__ for layer in self._layers]
        self._records = threading.local()

    @staticmethod
    def running_on(layer):
        """Whether ``layer`` is being adapted by a pass now (one swapped its class)."""
        return isinstance(getattr(type(layer), "_adaptation", None), _Adaptation)

    def __enter__(self):
        subclasses = {}
        for cls in self._classes:
            if cls not in subclasses:
                subclasses[cls] = type(
                    f"_Adapting{cls.__name__}", (cls,), {"call": _adapting_call, "_adaptation": self}
                )
        try:
            for layer, cls in zip(self._layers, self._classes):
                layer.__class__ = subclasses[cls]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info):
        for layer, cls in zip(self._layers, self._classes):
            layer.__class__ = cls
        self._records = threading.local()  # drop the traced tensors

    def start_pass(self):
        self._records.calls = []

    def record(self, layer, count, mean, variance):
        self._records.calls.append((layer, count, mean, variance))

    def calls(self):
        """``(layer, count, mean, variance)`` of every adapted layer's call in this thread's pass."""
        return self._records.calls


def _compiled(fn):
    """``fn`` compiled for the current backend (eager where it is not TensorFlow;
    under PyTorch without autograd, which would otherwise record the whole pass
    because gamma/beta and the kernels require gradients)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "torch":
        import torch

        return torch.no_grad()(fn)
    return fn


class _AdaptingStep:
    """One compiled forward pass that returns every adapted layer's batch moments.

    ``order`` names the layer (by id) of each returned ``(count, mean, variance)``;
    it is recorded while the pass is traced. The step holds the model weakly, so
    caching it per model keeps nothing alive; it holds the running
    :class:`_Adaptation` only during a call.
    """

    def __init__(self, model):
        self._model = weakref.ref(model)
        self.order = []
        self._adaptation = None
        self._function = _compiled(self._forward)

    def _forward(self, x):
        adaptation = self._adaptation
        adaptation.start_pass()
        self._model()(x, training=False)
        calls = adaptation.calls()
        self.order = [id(layer) for layer, *_ in calls]
        return [tuple(moments) for _, *moments in calls]

    def __call__(self, adaptation, x):
        """Run the pass on batch ``x``, the layers recording into ``adaptation``."""
        self._adaptation = adaptation
        try:
            return self._function(x)
        finally:
            self._adaptation = None

    def samples(self, x):
        """How many samples batch ``x`` (the last one passed) held."""
        return len(keras.tree.flatten(x)[0])


def _adapting_step(model, layers, strategy=None):
    adapted = {id(layer) for layer in layers}
    signature = (
        strategy,
        tuple(sorted(adapted)),
        tuple(
            (type(layer), getattr(layer, "inference_mode", False), layer.trainable)
            for layer in bn_layers(model)
            if id(layer) not in adapted
        ),
    )
    cached = TRACED_STEPS.get(model)
    if cached is None or cached[0] != signature:
        step = _AdaptingStep(model) if strategy is None else _DistributedAdaptingStep(model, strategy)
        cached = (signature, step)
        TRACED_STEPS[model] = cached
    return cached[1]


def _features(item):
    """The model inputs of one batch: ``x`` of ``(x, y)``/``(x, y, w)``, else the item."""
    if isinstance(item, tuple):
        return keras.utils.unpack_x_y_sample_weight(item)[0]
    return item


def _is_dataset(data):
    tf = sys.modules.get("tensorflow")  # no dataset exists before TensorFlow is imported
    if tf is None:
        return False
    return isinstance(data, (tf.data.Dataset, tf.distribute.DistributedDataset))


def _is_array(data):
    """Whether ``data`` is one array or tensor of samples (batched by ``batch_size``),
    not an iterable of batches: a NumPy array, a backend tensor, or any other
    object with a ``shape``, a ``dtype`` and slicing (a ``tf.constant`` under
    every backend)."""
    if isinstance(data, np.ndarray) or keras.ops.is_tensor(data):
        return True
    return (
        hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "__getitem__")
        and not _is_dataset(data)
    )


def _shape(x):
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    return tuple(None if d is None else int(d) for d in shape)


def _model_input_shape(model):
    """The input shape (batch axis included) of a single-input model, else ``None``."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 1:
        return None
    return tuple(inputs[0].shape)


def _check_batch(expected, x, what):
    """Raise a ValueError unless batch ``x`` fits a model input of shape ``expected``.

    ``what`` says where the batch came from, for the message."""
    if expected is None:
        return
    flat = keras.tree.flatten(x)
    if len(flat) != 1:
        return
    shape = _shape(flat[0])
    fits = len(shape) == len(expected) and all(
        e is None or s is None or e == s for e, s in zip(expected[1:], shape[1:])
    )
    if fits:
        return
    wanted = "(batch, " + ", ".join("?" if e is None else str(e) for e in expected[1:]) + ")"
    hint = ""
    if len(shape) == len(expected) - 1:
        hint = (
            " It looks like one sample without a batch axis: pass a batch (`x[None]` for one "
            "image), stack a list of images into one array (`np.stack`), and batch a "
            "tf.data.Dataset (`dataset.batch(32)`)."
        )
    raise ValueError(
        f"adapt_bn_statistics: {what} must be shaped {wanted} like the model's input, "
        f"got shape {shape}.{hint}"
    )


def _check_data(model, data, batch_size, steps):
    """Check ``data`` before the pass: its kind, and the shape of arrays and of
    datasets' elements. Returns the number of batches when it is known, else ``None``."""
    if data is None or isinstance(data, (str, bytes, dict)):
        raise TypeError(
            "`data` must be a NumPy array or tensor of samples, a batched tf.data.Dataset, "
            f"or an iterable of batches, got {describe(data)}."
        )
    expected = _model_input_shape(model)
    if _is_array(data):
        check_positive_int(batch_size, "batch_size")
        _check_batch(expected, data, "an array `data`")
        batches = math.ceil(_shape(data)[0] / batch_size)
    elif _is_dataset(data):
        import tensorflow as tf

        batches = None
        if isinstance(data, tf.data.Dataset):
            _check_batch(expected, _features(data.element_spec), "each element of the dataset `data`")
            cardinality = int(data.cardinality())
            if cardinality == tf.data.INFINITE_CARDINALITY and steps is None:
                raise ValueError(
                    "`data` is an infinite tf.data.Dataset (e.g. `.repeat()`): pass `steps`, "
                    "the number of batches to use."
                )
            batches = cardinality if cardinality >= 0 else None
    else:
        try:
            iter(data)
        except TypeError:
            raise TypeError(
                "`data` must be a NumPy array or tensor of samples, a batched "
                f"tf.data.Dataset, or an iterable of batches, got {describe(data)}."
            ) from None
        batches = len(data) if hasattr(data, "__len__") else None
    if steps is not None:
        batches = steps if batches is None else min(batches, steps)
    return batches


def _batches(data, batch_size, expected):
    if _is_array(data):
        for start in range(0, _shape(data)[0], batch_size):
            yield data[start : start + batch_size]
    else:
        for item in data:
            x = _features(item)
            _check_batch(expected, x, "each batch from `data`")
            yield x


class _Moments:
    """Exact running count, mean and sum of squared deviations per channel (float64).

    Batches are combined with Chan et al.'s parallel formula, so the result is the
    mean and (biased) variance over every value seen, whatever the batch sizes.
    """

    def __init__(self):
        self.count = 0.0
        self.mean = None
        self.m2 = None

    def add(self, count, mean, variance):
        count = float(count)
        if count <= 0:
            return
        mean = np.asarray(mean, np.float64)
        m2 = np.asarray(variance, np.float64) * count
        if self.mean is None:
            self.count, self.mean, self.m2 = count, mean, m2
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * count / total)
        self.count = total

    @property
    def variance(self):
        return self.m2 / self.count


def _with_prior(layer, mean, variance, prior, samples):
    """Partial adaptation: mix the layer's current statistics, weighted by ``prior``
    samples, with those measured on ``samples`` samples (float64)."""
    if prior == 0:
        return mean, variance
    source = prior / (prior + samples)
    old_mean = np.asarray(ops.convert_to_numpy(layer.moving_mean), np.float64)
    old_variance = np.asarray(ops.convert_to_numpy(layer.moving_variance), np.float64)
    return (
        source * old_mean + (1.0 - source) * mean,
        source * old_variance + (1.0 - source) * variance,
    )


# -- under a tf.distribute strategy (TensorFlow backend only) -----------------
#
# Each replica runs the pass on its share of every global batch, split as the
# strategy splits it; each adapted layer all-reduces its moments across replicas
# and workers before normalising (as SyncBN does), so every replica normalises
# with, and reports, the moments of the whole global batch.


def _distribution_strategy(model):
    """The tf.distribute strategy to run the pass under, or ``None``.

    The strategy in scope, else the one that holds ``model``'s variables (a model
    built under ``strategy.scope()`` and adapted outside it). ``None`` on other
    backends, and inside ``strategy.run`` (the pass then runs as it is called).
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return tf.distribute.get_strategy() if tf.distribute.in_cross_replica_context() else None
    for variable in model.weights:
        value = getattr(variable, "value", variable)
        if isinstance(value, tf.distribute.DistributedValues):
            return value.distribute_strategy
    return None


def _cross_replica_moments(count, mean, variance):
    """``(count, mean, variance)`` of one replica's batch -> those of the global batch.

    Exact (Chan's parallel formula, in float64): the global mean is the
    count-weighted mean of the replicas' means, and the sum of squared deviations
    adds each replica's own to ``count * (mean - global mean)**2``. A no-op
    outside a TensorFlow replica context with several replicas.
    """
    if keras.backend.backend() != "tensorflow":
        return count, mean, variance
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return count, mean, variance
    total_sum = tf.distribute.ReduceOp.SUM
    n = tf.cast(count, tf.float64)
    # a replica with no samples (a short last batch) adds nothing
    local_mean = tf.where(n > 0, tf.cast(mean, tf.float64), 0.0)
    local_m2 = tf.where(n > 0, tf.cast(variance, tf.float64) * n, 0.0)
    total, weighted = context.all_reduce(total_sum, [n, n * local_mean])
    global_mean = tf.math.divide_no_nan(weighted, total)
    m2 = context.all_reduce(total_sum, local_m2 + n * tf.square(local_mean - global_mean))
    global_variance = tf.math.divide_no_nan(m2, total)
    return total, tf.cast(global_mean, mean.dtype), tf.cast(global_variance, variance.dtype)


class _DistributedAdaptingStep(_AdaptingStep):
    """The compiled pass under ``strategy``: every replica runs its share of the
    global batch; all report the global moments, and the first one's are kept."""

    def __init__(self, model, strategy):
        import tensorflow as tf

        super().__init__(model)
        self._strategy = strategy
        self._function = tf.function(self._distributed, reduce_retracing=True)
        self._samples = 0

    def _replica(self, item):
        import tensorflow as tf

        x = _features(item)
        size = tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], tf.float64)
        context = tf.distribute.get_replica_context()
        return context.all_reduce(tf.distribute.ReduceOp.SUM, size), self._forward(x)

    def _distributed(self, item):
        outputs = self._strategy.run(self._replica, args=(item,))
        return self._strategy.experimental_local_results(outputs)[0]

    def __call__(self, adaptation, x):
        samples, results = super().__call__(adaptation, x)
        self._samples = int(samples)
        return results

    def samples(self, x):
        return self._samples


def _distributed_batches(strategy, data, batch_size, expected):
    """``data`` as the strategy splits it: each global batch across replicas and workers.

    A NumPy array is batched by ``batch_size`` (the global batch); a
    ``tf.data.Dataset`` is distributed with its own options; an already
    distributed dataset is used as it is; other iterables become a dataset.
    """
    import tensorflow as tf

    if isinstance(data, tf.distribute.DistributedDataset):
        return iter(data)
    if isinstance(data, tf.data.Dataset):
        return iter(strategy.experimental_distribute_dataset(data))
    if _is_array(data):
        dataset = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    else:
        dataset = _iterable_dataset(data, expected)
        if dataset is None:
            return iter(())
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))


def _iterable_dataset(data, expected=None):
    """A ``tf.data.Dataset`` of the model inputs of an iterable of batches (``None`` if empty)."""
    import tensorflow as tf

    iterator = (_features(item) for item in data)
    first = next(iterator, None)
    if first is None:
        return None
    _check_batch(expected, first, "each batch from `data`")
    signature = keras.tree.map_structure(
        lambda a: tf.TensorSpec((None,) + tuple(np.shape(a))[1:], tf.as_dtype(np.asarray(a).dtype)), first
    )

    def generate():
        yield first
        yield from iterator

    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def adapt_bn_statistics(model, data, batch_size=32, steps=None, layers=None, verbose="auto", prior=0):
    """Re-estimate BN moving statistics on ``data`` (AdaBN, "precise BN").

    Runs ``model`` once over ``data`` and sets each BatchNormalization layer's
    ``moving_mean`` and ``moving_variance`` to the exact mean and (biased)
    variance, per channel, of all the values that reached the layer — not an
    exponential moving average, and not an average of per-batch variances. Batch
    moments are combined in float64 with Chan's parallel formula. No other weight
    changes; each layer keeps its mode (a pinned model is still pinned afterwards)
    and the model's weights list is unchanged (nothing is added to the layers).

    Which inputs: during the pass every adapted layer normalises with the
    statistics of the current batch, as in training mode, and other layers
    (dropout, ...) run in inference mode. So the first BN layer sees exactly the
    inputs it sees at inference and gets the exact population statistics; a later
    layer sees inputs computed with batch-normalised upstream layers, which match
    inference once upstream statistics are re-estimated up to batch-to-batch noise
    (smaller with larger batches). This is the usual one-pass precise-BN
    definition; the exactly sequential alternative needs one pass per BN layer.

    Under a ``tf.distribute`` strategy (TensorFlow backend; the strategy in
    scope, or the one the model was built under) each global batch is split
    across replicas and workers as the strategy splits it, and every adapted
    layer combines its moments across all of them before normalising (an exact
    all-reduce, as SyncBN does): the statistics are those of one device running
    the same global batches. ``batch_size`` is the global batch size. With
    MultiWorkerMirroredStrategy every worker calls this with the same ``data``
    (each takes its shard), and every worker gets the same statistics.

    Arguments and ``data``'s shape (for a single-input model: each batch must
    match the model's input) are checked before the pass. If any batch gives a
    non-finite mean or variance (NaN or inf in ``data``, or values that overflow)
    the pass stops with a ValueError and every statistic keeps its old value;
    statistics are written only after the whole pass succeeded. Each pass keeps
    its state to itself: several models can be adapted at once (in threads, or
    one from inside another's ``data``), one pass per model at a time.

    Args:
        model: a Keras model (nested models included; any BatchNormalization
            layer, this package's or Keras' own). Layers with ``renorm=True`` are
            not supported.
        data: unlabeled inputs: a NumPy array or a tensor of samples (batched
            by ``batch_size``), a batched ``tf.data.Dataset`` (or one distributed
            by the strategy), or any iterable of batches — arrays, or ``(x, y)``
            / ``(x, y, sample_weight)`` tuples whose labels are ignored. Each
            item of an iterable is one batch, not one sample. A generator that
            never ends needs ``steps``: without it the pass runs until the
            generator stops (the progress bar shows how far it got); an infinite
            ``tf.data.Dataset`` without ``steps`` is refused.
        batch_size: batch size for array or tensor ``data`` (ignored otherwise).
        steps: stop after this many batches (default: all of ``data``).
        layers: adapt only these BN layers of ``model`` (layer objects or their
            names; default: all); the others keep their statistics and run in
            inference mode during the pass.
        verbose: ``"auto"``, 0, 1 or 2, as in ``model.predict``: 0 is silent, 1
            (and ``"auto"``) shows a progress bar with the running count of
            batches, 2 one line at the end.
        prior: ``N``, the weight of the current (source) statistics counted in
            samples, for partial adaptation (Schneider et al., NeurIPS 2020):
            with ``n`` samples of ``data`` each adapted layer gets
            ``mean = N/(N+n) * mean_source + n/(N+n) * mean_data`` and likewise
            ``variance``. ``0`` (the default) replaces the statistics. Under a
            mild shift, with very few target samples (1-8), a prior of about 16
            helps where replacing hurts (``examples/test_time_adaptation.py``).

    Returns:
        The number of samples the statistics were computed on.

    Raises:
        TypeError: an argument, or ``data``, has the wrong type.
        ValueError: a bad argument value, a batch that does not match the model's
            input, ``data`` that gives no batch, or a batch whose mean or variance
            is not finite.
        RuntimeError: another adapt_bn_statistics pass is running on ``model``
            (for example, one started from inside this pass's ``data``).
    """
    check_model(model)
    layers = _selected(model, layers)
    for layer in layers:
        if keras_internals.uses_renorm(layer):
            raise ValueError(f"{layer.name!r} uses renorm, which adapt_bn_statistics does not support.")
    steps = check_positive_int(steps, "steps", allow_none=True)
    check_prior(prior)
    if verbose == "auto":
        verbose = 1
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2, got {describe(verbose)}.")
    total = _check_data(model, data, batch_size, steps)
    expected = _model_input_shape(model)

    busy = [layer.name for layer in bn_layers(model) if _Adaptation.running_on(layer)]
    if busy:
        raise RuntimeError(
            f"adapt_bn_statistics is already running on {model.name!r} (BN layer {busy[0]!r}); "
            "adapt one model with one pass at a time (not from inside another pass's `data`)."
        )

    moments = {id(layer): _Moments() for layer in layers}
    names = {id(layer): layer.name for layer in layers}
    progress = keras.utils.Progbar(total, verbose=verbose, unit_name="step") if verbose else None
    samples = done = 0
    strategy = _distribution_strategy(model)
    with _Adaptation(layers) as adaptation:
        step = _adapting_step(model, layers, strategy)
        if strategy is None:
            batches = _batches(data, batch_size, expected)
        else:
            batches = _distributed_batches(strategy, data, batch_size, expected)
        if steps is not None:
            batches = itertools.islice(batches, steps)
        for index, x in enumerate(batches):
            results = step(adaptation, x)  # (re)tracing sets step.order
            for key, moment in zip(step.order, results):
                count, mean, variance = (ops.convert_to_numpy(t) for t in moment)
                if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance))):
                    raise ValueError(
                        f"adapt_bn_statistics: batch {index} gave a non-finite (NaN or inf) "
                        f"mean or variance at BN layer {names[key]!r}. Does `data` contain "
                        "NaN or inf, or values too large for the model's dtype? No "
                        "statistics were changed."
                    )
                moments[key].add(count, mean, variance)
            samples += step.samples(x)
            done = index + 1
            if progress is not None:
                progress.update(done, finalize=False)
    if progress is not None and done:
        progress.update(done, finalize=True)

    if samples == 0:
        raise ValueError("`data` gave no batches.")
    unreached = []
    for layer in layers:
        stats = moments[id(layer)]
        if stats.mean is None:
            unreached.append(layer.name)
            continue
        mean, variance = _with_prior(layer, stats.mean, stats.variance, float(prior), samples)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    if unreached:
        warnings.warn(
            f"adapt_bn_statistics: no data reached {len(unreached)} BN layer(s) "
            f"({', '.join(unreached[:5])}); their statistics are unchanged.",
            stacklevel=2,
        )
    return samples


# ---------------------------------------------------------------------------
# bn_summary
# ---------------------------------------------------------------------------


def _bn_paths(model):
    """``(path, layer)`` for every BN layer, the path naming the enclosing models."""
    found, seen = [], set()

    def walk(layer, prefix):
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            path = f"{prefix}{sub.name}"
            if isinstance(sub, keras.layers.BatchNormalization):
                found.append((path, sub))
            walk(sub, path + "/")

    walk(model, "")
    return found


_MODE_TEXT = {
    "pinned": "moving stats (pinned)",
    "frozen": "moving stats (trainable=False)",
    "batch": "batch stats, updates moving",
}


def bn_summary(model, print_fn=print):
    """Describe every BatchNormalization layer of ``model`` and what ``fit`` does with it.

    For each BN layer (nested ones included, named by their path): the mode it
    will run in during ``fit`` — ``"pinned"`` (this package's inference mode),
    ``"frozen"`` (``trainable=False``: Keras 3 then also runs it in inference mode),
    or ``"batch"`` (normalises with batch statistics and updates its moving
    statistics) — whether gamma/beta train, the momentum, and the range of its
    moving statistics. A note flags statistics that are still at their initial
    values (mean 0, variance 1) and variances near 0, which blow up activations in
    inference mode.

    Args:
        model: a Keras model or layer.
        print_fn: called with the table as one string; ``None`` prints nothing.

    Returns:
        A list with one dict per layer, keys ``path``, ``name``, ``class``, ``mode``,
        ``pinned``, ``trainable``, ``affine_trainable``, ``momentum``, ``epsilon``,
        ``channels``, ``mean_min``, ``mean_max``, ``var_min``, ``var_max``, ``note``.

    Raises:
        TypeError: ``model`` is not a Keras model or layer, or ``print_fn`` is
            neither callable nor ``None``.
    """
    check_model(model)
    if print_fn is not None and not callable(print_fn):
        raise TypeError(f"`print_fn` must be a function or None, got {describe(print_fn)}.")
    rows = []
    for path, layer in _bn_paths(model):
        row = {
            "path": path,
            "name": layer.name,
            "class": type(layer).__name__,
            "mode": fit_mode(layer),
            "pinned": bool(getattr(layer, "inference_mode", False)),
            "trainable": bool(layer.trainable),
            "affine_trainable": bool(layer.trainable and getattr(layer, "affine_trainable", True)),
            "momentum": float(layer.momentum),
            "epsilon": float(layer.epsilon),
            "channels": None,
            "mean_min": None,
            "mean_max": None,
            "var_min": None,
            "var_max": None,
            "note": "not built",
        }
        if layer.built:
            mean = np.asarray(ops.convert_to_numpy(layer.moving_mean), np.float64)
            var = np.asarray(ops.convert_to_numpy(layer.moving_variance), np.float64)
            row.update(
                channels=int(mean.size),
                mean_min=float(mean.min()),
                mean_max=float(mean.max()),
                var_min=float(var.min()),
                var_max=float(var.max()),
                note="",
            )
            if var.min() < layer.epsilon:
                row["note"] = "variance ~0!"
            elif not mean.any() and np.all(var == 1.0):
                row["note"] = "initial stats (0/1)"
        rows.append(row)
    if print_fn is not None:
        print_fn(_format_summary(model, rows))
    return rows


def _format_summary(model, rows):
    def num(value):
        return "-" if value is None else f"{value:.3g}"

    header = ("layer", "in fit", "gamma/beta", "momentum", "moving mean", "moving variance", "note")
    table = [header] + [
        (
            row["path"],
            _MODE_TEXT[row["mode"]],
            "train" if row["affine_trainable"] else "frozen",
            f"{row['momentum']:g}",
            f"[{num(row['mean_min'])}, {num(row['mean_max'])}]",
            f"[{num(row['var_min'])}, {num(row['var_max'])}]",
            row["note"],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    counts = {mode: sum(row["mode"] == mode for row in rows) for mode in _MODE_TEXT}
    lines.insert(
        0,
        f"{model.name}: {len(rows)} BatchNormalization layers — {counts['pinned']} pinned, "
        f"{counts['frozen']} trainable=False, {counts['batch']} in batch-statistics mode during fit",
    )
    return "\n".join(lines)
