"""Re-estimating BatchNormalization statistics on data: adapt_bn_statistics (AdaBN, precise BN).

The pass itself lives here; what ``data`` may be is in ``data.py``, the
compiled forward pass in ``step.py``, and everything tf.distribute in
``distribute.py``. A little over 400 lines: a fifth of them is the public
docstring of adapt_bn_statistics.
"""

import itertools
import threading
import warnings

import keras
import numpy as np
from keras import ops

from keras_applications_bn._models.checks import (
    check_keras_model,
    check_positive_int,
    check_prior,
    check_verbose,
)
from keras_applications_bn.batchnorm.data import check_data, iter_batches, model_input_shape
from keras_applications_bn.batchnorm.distribute import (
    DistributedAdaptingStep,
    cross_replica_moments,
    distributed_batches,
    distribution_strategy,
)
from keras_applications_bn.batchnorm.pinning import TRACED_STEPS, bn_layers
from keras_applications_bn.batchnorm.selection import selected_bn_layers
from keras_applications_bn.batchnorm.step import AdaptingStep

__all__ = ["adapt_bn_statistics"]


# How the pass works: for its duration, each adapted layer's class is swapped for a
# subclass made for this pass alone, whose ``call`` is `_adapting_call` and whose
# class attribute ``_adaptation`` is the pass's `_Adaptation`. Every piece of state
# of a pass lives in that object, which only the pass holds: nothing is kept at
# module level and nothing is set on the layers, so two passes (of two models, in
# two threads, or one started from another's data generator) never see each
# other's state, and restoring the classes (also after an error) leaves nothing
# behind.


def _adapting_call(self, inputs, training=None, mask=None):
    """Normalise with this batch's moments and record them in the running pass.

    A call that is not part of the pass's forward pass (``predict`` in another
    thread, or from the pass's ``data`` between two batches) gets the layer's own
    behaviour: the class is swapped for the whole pass, but only the pass records.
    """
    if not self._adaptation.recording():
        return super(type(self), self).call(inputs, training=training, mask=mask)
    # the pass always uses batch statistics in the adapted layers
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
    count, mean, variance = cross_replica_moments(count, mean, variance)
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

    Each forward pass starts with `start_pass`; the layers then
    `record` their batch moments, in call order, read back with
    `calls`; `end_pass` closes it. Records are kept per thread,
    because MirroredStrategy traces each replica's pass in its own thread; an
    adapted layer called in a thread with no open pass (a ``predict`` from
    another thread) runs its own class's ``call`` and records nothing.
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
                    f"_Adapting{cls.__name__}",
                    (cls,),
                    {"call": _adapting_call, "_adaptation": self},
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

    def end_pass(self):
        self._records.calls = None

    def recording(self):
        """Whether this thread is in one of this pass's forward passes."""
        return getattr(self._records, "calls", None) is not None

    def record(self, layer, count, mean, variance):
        self._records.calls.append((layer, count, mean, variance))

    def calls(self):
        """``(layer, count, mean, variance)`` of every adapted layer's call in this thread's pass."""
        return self._records.calls


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
        step = AdaptingStep(model) if strategy is None else DistributedAdaptingStep(model, strategy)
        cached = (signature, step)
        TRACED_STEPS[model] = cached
    return cached[1]


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


def adapt_bn_statistics(
    model, data, batch_size=32, steps=None, layers=None, verbose="auto", prior=0
):
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
    one from inside another's ``data``), one pass per model at a time. While a
    pass runs, a ``predict`` of the same model (from another thread, or from
    ``data``) sees the model's own behaviour: only the pass's forward passes
    normalise with batch statistics and record them.

    Every argument is checked before the pass, whatever kind ``data`` is (a
    ``batch_size`` of ``"4"`` is refused for a list of batches too).

    Args:
        model: a Keras model (functional, Sequential or subclassed; nested
            models included; any BatchNormalization layer, this package's or
            Keras' own). A single layer is refused: wrap it in a model. Layers
            with ``renorm=True`` are not supported.
        data: unlabeled inputs: a NumPy array or a tensor of samples (batched
            by ``batch_size``), a batched ``tf.data.Dataset`` (or one distributed
            by the strategy), or any iterable of batches — arrays, or ``(x, y)``
            / ``(x, y, sample_weight)`` tuples whose labels are ignored. Each
            item of an iterable is one batch, not one sample. A generator that
            never ends needs ``steps``: without it the pass runs until the
            generator stops (the progress bar shows how far it got); an infinite
            ``tf.data.Dataset`` without ``steps`` is refused.
        batch_size: batch size for array or tensor ``data`` (not used
            otherwise, but checked: a positive int, NumPy ints included).
        steps: stop after this many batches (default: all of ``data``); a
            positive int (``2.0`` and ``True`` are refused with a TypeError).
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
        TypeError: an argument, or ``data``, has the wrong type (``model`` a
            layer rather than a model, a float or bool ``steps``, a string
            ``verbose``...).
        ValueError: a bad argument value, a batch that does not match the model's
            input, ``data`` that gives no batch, or a batch whose mean or variance
            is not finite.
        RuntimeError: another adapt_bn_statistics pass is running on ``model``
            (for example, one started from inside this pass's ``data``).
    """
    # every argument, on every path (whatever kind `data` is), before the pass
    layers, batch_size, steps, verbose, prior = _checked_arguments(
        model, layers, batch_size, steps, verbose, prior
    )
    total = check_data(model, data, batch_size, steps)  # the number of batches, if known
    _refuse_a_second_pass(model)
    moments, samples = _run_pass(model, layers, data, batch_size, steps, verbose, total)
    if samples == 0:
        raise ValueError("`data` gave no batches.")
    # statistics are written only now, after the whole pass succeeded
    unreached = _assign(layers, moments, prior, samples)
    if unreached:
        warnings.warn(
            f"adapt_bn_statistics: no data reached {len(unreached)} BN layer(s) "
            f"({', '.join(unreached[:5])}); their statistics are unchanged.",
            stacklevel=2,
        )
    return samples


def _checked_arguments(model, layers, batch_size, steps, verbose, prior):
    """Check the arguments of adapt_bn_statistics but ``data``.

    Returns:
        ``(layers, batch_size, steps, verbose, prior)`` as the pass uses them:
        the BN layers to adapt, and ``verbose`` 0, 1 or 2.
    """
    check_keras_model(model)
    layers = selected_bn_layers(model, layers)
    for layer in layers:
        if layer.renorm:
            raise ValueError(
                f"{layer.name!r} uses renorm, which adapt_bn_statistics does not support."
            )
    batch_size = check_positive_int(batch_size, "batch_size")
    steps = check_positive_int(steps, "steps", allow_none=True)
    prior = check_prior(prior)
    verbose = check_verbose(verbose, levels=(0, 1, 2), auto=True)
    if verbose == "auto":
        verbose = 1
    return layers, batch_size, steps, verbose, prior


def _refuse_a_second_pass(model):
    """Raise a RuntimeError if a pass is adapting a BN layer of ``model`` now."""
    busy = [layer.name for layer in bn_layers(model) if _Adaptation.running_on(layer)]
    if busy:
        raise RuntimeError(
            f"adapt_bn_statistics is already running on {model.name!r} (BN layer {busy[0]!r}); "
            "adapt one model with one pass at a time (not from inside another pass's `data`)."
        )


def _run_pass(model, layers, data, batch_size, steps, verbose, total):
    """Run ``model`` once over ``data``, every layer of ``layers`` recording its batch moments.

    Returns:
        ``(moments, samples)``: a ``_Moments`` per layer (by id) over every
        batch, and the number of samples the batches held.
    """
    moments = {id(layer): _Moments() for layer in layers}
    names = {id(layer): layer.name for layer in layers}
    progress = keras.utils.Progbar(total, verbose=verbose, unit_name="step") if verbose else None
    samples = done = 0
    strategy = distribution_strategy(model)
    with _Adaptation(layers) as adaptation:
        step = _adapting_step(model, layers, strategy)
        for index, x in enumerate(_pass_batches(model, strategy, data, batch_size, steps)):
            results = step(adaptation, x)  # (re)tracing sets step.order
            _add_batch(moments, zip(step.order, results), index, names)
            samples += step.samples(x)
            done = index + 1
            if progress is not None:
                progress.update(done, finalize=False)
    if progress is not None and done:
        progress.update(done, finalize=True)
    return moments, samples


def _pass_batches(model, strategy, data, batch_size, steps):
    """The batches of ``data`` the pass runs on (at most ``steps``), split across
    replicas and workers when ``strategy`` is not ``None``."""
    expected = model_input_shape(model)
    if strategy is None:
        batches = iter_batches(data, batch_size, expected)
    else:
        batches = distributed_batches(strategy, data, batch_size, expected)
    if steps is not None:
        batches = itertools.islice(batches, steps)
    return batches


def _add_batch(moments, results, index, names):
    """Add batch ``index``'s ``(layer id, (count, mean, variance))`` results to ``moments``.

    Raises:
        ValueError: a mean or variance is not finite (``names`` names the layers).
    """
    for key, moment in results:
        count, mean, variance = (ops.convert_to_numpy(t) for t in moment)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance))):
            raise ValueError(
                f"adapt_bn_statistics: batch {index} gave a non-finite (NaN or inf) "
                f"mean or variance at BN layer {names[key]!r}. Does `data` contain "
                "NaN or inf, or values too large for the model's dtype? No "
                "statistics were changed."
            )
        moments[key].add(count, mean, variance)


def _assign(layers, moments, prior, samples):
    """Set each layer's moving statistics to its ``moments``, mixed with its current
    ones by ``prior`` (see ``_with_prior``).

    Returns:
        The names of the layers no batch reached (left unchanged).
    """
    unreached = []
    for layer in layers:
        stats = moments[id(layer)]
        if stats.mean is None:
            unreached.append(layer.name)
            continue
        mean, variance = _with_prior(layer, stats.mean, stats.variance, float(prior), samples)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    return unreached
