"""Model-level tools for BatchNormalization layers: find, pin, reset, re-estimate, inspect."""

import threading
import warnings
import weakref

import keras
import numpy as np
from keras import ops

from keras_applications_bn._tf_keras import check_not_tf_keras
from keras_applications_bn.layers import BatchNormalization, convert, convertible

__all__ = [
    "adapt_bn_statistics",
    "bn_layers",
    "bn_summary",
    "forget_traced_functions",
    "reset_bn_statistics",
    "set_inference_bn",
]


def bn_layers(model):
    """Every BatchNormalization layer of ``model``, nested models and layers included.

    Each layer is listed once, in the order Keras tracks them.
    """
    check_model(model)
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
    return found


def check_model(model, argument="model"):
    """Raise TypeError unless ``model`` is a Keras 3 model or layer (tf_keras's named)."""
    check_not_tf_keras(model, argument)
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"`{argument}` must be a Keras model or layer, got {type(model).__name__}.")


def _models(model):
    return [m for m in model._flatten_layers(include_self=True, recursive=True) if isinstance(m, keras.Model)]


def forget_traced_functions(model):
    """Drop the traced train/test/predict functions of ``model`` and its sub-models.

    Keras reads Python attributes of layers (such as the BN mode) when it traces
    ``fit``/``evaluate``/``predict``; the next call after this retraces.
    """
    check_model(model)
    for m in _models(model):
        for attr in ("train_function", "test_function", "predict_function"):
            if getattr(m, attr, None) is not None:
                setattr(m, attr, None)
        _STEPS.pop(m, None)


def set_inference_bn(model, enabled=True):
    """Pin (or release) every BatchNormalization layer of an existing model.

    Args:
        model: a Keras model or layer; nested models are included.
        enabled: ``True`` to run every BN layer in inference mode (moving
            statistics used and never updated; gamma/beta stay trainable),
            ``False`` to restore Keras' default behaviour.

    To pin them, plain `keras.layers.BatchNormalization` layers (those of an
    unpinned model of this package or of `keras.applications`) are converted in
    place to :class:`keras_applications_bn.layers.BatchNormalization`, so the mode
    is saved with the model; their weights are untouched. Releasing leaves plain
    layers as they are (they are not pinned). Other subclasses of Keras' layer are
    refused with a TypeError before anything changes. To ship a model that needs
    Keras alone, see :func:`keras_applications_bn.to_keras`.

    Takes effect on the next ``fit``/``evaluate``/``predict`` of ``model`` without
    recompiling: the traced functions of ``model`` and of every model nested in it
    are dropped. If ``model`` is itself nested in a larger model that has already
    been fitted, call this on the outer model (or recompile the outer model).

    Returns:
        The number of BatchNormalization layers set.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"`enabled` must be True or False, got {enabled!r}.")
    layers = bn_layers(model)
    for layer in layers:  # check them all before changing any
        convertible(layer)
    for layer in layers:
        if enabled or isinstance(layer, BatchNormalization):
            convert(layer).inference_mode = enabled
    forget_traced_functions(model)
    return len(layers)


def _selected(model, layers):
    """``layers`` (BN layers of ``model``, or all of them when ``None``), checked."""
    found = bn_layers(model)
    if layers is None:
        return found
    ids = {id(layer) for layer in found}
    layers = list(layers)
    for layer in layers:
        if id(layer) not in ids:
            name = getattr(layer, "name", repr(layer))
            raise ValueError(f"{name!r} is not a BatchNormalization layer of {model.name!r}.")
    return layers


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

    Returns:
        The number of layers reset.
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

# id(layer) -> list collecting (layer, count, mean, variance) while a pass is traced
_SINKS = {}
_ADAPTING_CLASSES = {}


def _adapting_call(self, inputs, training=None, mask=None):
    """Normalise with this batch's moments and hand them to the running pass."""
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
    _SINKS[id(self)].append((self, count, mean, variance))
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


def _adapting_class(cls):
    if cls not in _ADAPTING_CLASSES:
        _ADAPTING_CLASSES[cls] = type(f"_Adapting{cls.__name__}", (cls,), {"call": _adapting_call})
    return _ADAPTING_CLASSES[cls]


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
    caching it per model keeps nothing alive.
    """

    def __init__(self, model):
        self._model = weakref.ref(model)
        self.order = []
        self._function = _compiled(self._forward)

    def _forward(self, x):
        for sink in _SINKS.values():
            sink.clear()
        self._model()(x, training=False)
        calls = [entry for sink in _SINKS.values() for entry in sink]
        self.order = [id(layer) for layer, *_ in calls]
        return [tuple(moments) for _, *moments in calls]

    def __call__(self, x):
        return self._function(x)

    def samples(self, x):
        """How many samples batch ``x`` (the last one passed) held."""
        return len(keras.tree.flatten(x)[0])


# model -> (signature, step): a warm second call does not trace again
_STEPS = weakref.WeakKeyDictionary()


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
    cached = _STEPS.get(model)
    if cached is None or cached[0] != signature:
        step = _AdaptingStep(model) if strategy is None else _DistributedAdaptingStep(model, strategy)
        cached = (signature, step)
        _STEPS[model] = cached
    return cached[1]


def _features(item):
    """The model inputs of one batch: ``x`` of ``(x, y)``/``(x, y, w)``, else the item."""
    if isinstance(item, tuple):
        return keras.utils.unpack_x_y_sample_weight(item)[0]
    return item


def _batches(data, batch_size):
    if isinstance(data, np.ndarray):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
        for start in range(0, len(data), batch_size):
            yield data[start : start + batch_size]
    else:
        for item in data:
            yield _features(item)


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


class _ReplicaSink(threading.local):
    """A layer's sink with one list per thread: MirroredStrategy traces each
    replica's pass in its own thread."""

    def __init__(self):
        self.entries = []

    def append(self, entry):
        self.entries.append(entry)

    def clear(self):
        self.entries.clear()

    def __iter__(self):
        return iter(self.entries)


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

    def __call__(self, x):
        samples, results = self._function(x)
        self._samples = int(samples)
        return results

    def samples(self, x):
        return self._samples


def _distributed_batches(strategy, data, batch_size):
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
    if isinstance(data, np.ndarray):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
        dataset = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
    else:
        dataset = _iterable_dataset(data)
        if dataset is None:
            return iter(())
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))


def _iterable_dataset(data):
    """A ``tf.data.Dataset`` of the model inputs of an iterable of batches (``None`` if empty)."""
    import tensorflow as tf

    iterator = (_features(item) for item in data)
    first = next(iterator, None)
    if first is None:
        return None
    signature = keras.tree.map_structure(
        lambda a: tf.TensorSpec((None,) + tuple(np.shape(a))[1:], tf.as_dtype(np.asarray(a).dtype)), first
    )

    def generate():
        yield first
        yield from iterator

    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def adapt_bn_statistics(model, data, batch_size=32, steps=None, layers=None):
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

    Args:
        model: a Keras model (nested models included; any BatchNormalization
            layer, this package's or Keras' own). Layers with ``renorm=True`` are
            not supported.
        data: unlabeled inputs: a NumPy array (batched by ``batch_size``), a batched
            ``tf.data.Dataset`` (or one distributed by the strategy), or any iterable of batches — arrays, or ``(x, y)``
            / ``(x, y, sample_weight)`` tuples whose labels are ignored.
        batch_size: batch size for NumPy ``data`` (ignored otherwise).
        steps: stop after this many batches (default: all of ``data``).
        layers: adapt only these BN layers of ``model`` (default: all); the others
            keep their statistics and run in inference mode during the pass.

    Returns:
        The number of samples the statistics were computed on.
    """
    layers = _selected(model, layers)
    for layer in layers:
        if layer.renorm:
            raise ValueError(f"{layer.name!r} uses renorm, which adapt_bn_statistics does not support.")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"`steps` must be a positive int or None, got {steps!r}.")

    moments = {id(layer): _Moments() for layer in layers}
    originals = {id(layer): layer.__class__ for layer in layers}
    samples = 0
    strategy = _distribution_strategy(model)
    try:
        for layer in layers:
            _SINKS[id(layer)] = [] if strategy is None else _ReplicaSink()
            layer.__class__ = _adapting_class(originals[id(layer)])
        step = _adapting_step(model, layers, strategy)
        if strategy is None:
            batches = _batches(data, batch_size)
        else:
            batches = _distributed_batches(strategy, data, batch_size)
        for index, x in enumerate(batches):
            if steps is not None and index >= steps:
                break
            results = step(x)  # (re)tracing sets step.order
            for key, (count, mean, variance) in zip(step.order, results):
                moments[key].add(*(ops.convert_to_numpy(t) for t in (count, mean, variance)))
            samples += step.samples(x)
    finally:
        for layer in layers:
            layer.__class__ = originals[id(layer)]
            _SINKS.pop(id(layer), None)

    if samples == 0:
        raise ValueError("`data` gave no batches.")
    unreached = []
    for layer in layers:
        stats = moments[id(layer)]
        if stats.mean is None:
            unreached.append(layer.name)
            continue
        layer.moving_mean.assign(stats.mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(stats.variance.astype(layer.moving_variance.dtype))
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


def fit_mode(layer):
    """How a BN layer normalises during ``fit``: ``"pinned"`` or ``"frozen"`` (moving
    statistics, never updated) or ``"batch"`` (batch statistics, moving ones updated)."""
    if getattr(layer, "inference_mode", False):
        return "pinned"
    if not layer.trainable:
        return "frozen"
    return "batch"


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
    """
    check_model(model)
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
