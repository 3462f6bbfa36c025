"""Re-estimating BatchNormalization statistics on data: adapt_bn_statistics (AdaBN, precise BN).

The pass itself lives here; the float64 combination of the batches' moments,
all channels at once, is in ``moments.py``, what ``data`` may be in ``data.py``,
the compiled forward pass and the fused kernels in ``step.py``, everything
tf.distribute in ``distribute.py``, and the pass across processes (JAX,
PyTorch) in ``processes.py``.
"""

import contextlib
import itertools
import threading
import warnings

import keras
import numpy as np
from keras import ops

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.checks import (
    check_keras_model,
    check_positive_int,
    check_prior,
    check_verbose,
)
from keras_applications_bn.batchnorm.data import (
    check_data,
    is_array,
    iter_batches,
    model_input_shape,
)
from keras_applications_bn.batchnorm.distribute import (
    DistributedAdaptingStep,
    cross_replica_moments,
    distributed_batches,
    distribution_strategy,
    in_replicas,
)
from keras_applications_bn.batchnorm.moments import Moments
from keras_applications_bn.batchnorm.pinning import TRACED_STEPS, bn_layers
from keras_applications_bn.batchnorm.processes import (
    ProcessesAdaptingStep,
    agreed_batches,
    process_group,
)
from keras_applications_bn.batchnorm.selection import selected_bn_layers
from keras_applications_bn.batchnorm.step import (
    AdaptingStep,
    bias_absorbing_convs,
    fused_moments,
)

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
    handed = self._adaptation.handed_over(inputs, self.axis % len(inputs.shape))
    if handed is not None:  # normalise the (float32) convolution's output before its bias
        x, bias = handed
    else:
        # the pass always uses batch statistics in the adapted layers; at least float32,
        # and float64 stays float64 (keras.backend.result_type would give float32 for
        # float64 on JAX and PyTorch, as JAX does without x64)
        wide = keras.backend.standardize_dtype(inputs.dtype) == "float64"
        x, bias = ops.cast(inputs, "float64" if wide else "float32"), None
    if mask is None and _normalises_alone(self._adaptation):
        fused = fused_moments(x, self)  # one kernel where the backend has one
        if fused is not None:
            outputs, count, mean, variance = fused
            self._adaptation.record(self, count, _plus(mean, bias), variance)
            return ops.cast(outputs, self.compute_dtype)
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
    if self._adaptation.processes is not None:  # across processes: gathered on the host
        count, mean, variance = self._adaptation.processes.moments(count, mean, variance)
    self._adaptation.record(self, count, _plus(mean, bias), variance)
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


def _plus(mean, bias):
    """The mean of the BN layer's input: ``mean`` (of the convolution's output
    before its bias) plus ``bias``, or ``mean`` where no bias was handed over."""
    return mean if bias is None else mean + ops.cast(bias, mean.dtype)


def _bias_handing_call(self, inputs):
    """A convolution's call during a pass (``step.bias_absorbing_convs``): its own
    output, ``y + bias`` as Keras computes it, with ``y`` and the bias handed to
    the pass for the BN layer that receives that output."""
    adaptation = self._adaptation
    if not adaptation.recording():
        return super(type(self), self).call(inputs)
    y = self.convolution_op(inputs, self.kernel)
    axis = -1 if self.data_format == "channels_last" else 1
    shape = [1] * len(y.shape)
    shape[axis] = self.filters
    outputs = ops.add(y, ops.reshape(self.bias, shape))
    adaptation.hand_over(outputs, y, self.bias, axis % len(y.shape))
    return outputs


def _normalises_alone(adaptation):
    """Whether a layer normalises with its own batch's moments, not with moments
    combined with other replicas' or processes' (which a fused kernel cannot use)."""
    return not in_replicas() and adaptation.processes is None


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
    ``processes`` (a ``processes.Processes``, or ``None``) combines each layer's
    moments across processes.
    """

    def __init__(self, layers, processes=None, convs=()):
        self.processes = processes
        self._layers = list(layers) + list(convs)
        self._calls = [_adapting_call] * (len(self._layers) - len(convs))
        self._calls += [_bias_handing_call] * len(convs)
        self._classes = [layer.__class__ for layer in self._layers]
        self._records = threading.local()

    @staticmethod
    def running_on(layer):
        """Whether ``layer`` is being adapted by a pass now (one swapped its class)."""
        return isinstance(getattr(type(layer), "_adaptation", None), _Adaptation)

    def __enter__(self):
        subclasses = {}
        for cls, call in zip(self._classes, self._calls):
            if cls not in subclasses:
                subclasses[cls] = type(
                    f"_Adapting{cls.__name__}",
                    (cls,),
                    {"call": call, "_adaptation": self},
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
        self._records.handed = {}

    def end_pass(self):
        self._records.calls = None
        self._records.handed = {}

    def hand_over(self, outputs, y, bias, axis):
        """A convolution's ``outputs`` are ``y + bias`` along ``axis``."""
        self._records.handed[id(outputs)] = (outputs, y, bias, axis)

    def handed_over(self, inputs, axis):
        """``(y, bias)`` where ``inputs`` is the very tensor a convolution returned
        (`hand_over`) with its channels on ``axis``; ``None`` otherwise."""
        handed = self._records.handed.get(id(inputs))
        if handed is None or handed[0] is not inputs or handed[3] != axis:
            return None
        return handed[1], handed[2]

    def recording(self):
        """Whether this thread is in one of this pass's forward passes."""
        return getattr(self._records, "calls", None) is not None

    def record(self, layer, count, mean, variance):
        self._records.calls.append((layer, count, mean, variance))

    def calls(self):
        """``(layer, count, mean, variance)`` of every adapted layer's call in this thread's pass."""
        return self._records.calls


def _adapting_step(model, layers, strategy=None, processes=None, compile=True, convs=()):
    """The model's step for a pass over ``layers`` (cached per model while what it
    traced stays the same, ``convs`` handing their bias over included);
    ``compile=False`` gives an eager one."""
    if processes is not None:
        # eager, so nothing to cache: each layer gathers on the host inside its call
        return ProcessesAdaptingStep(model, processes)
    adapted = {id(layer) for layer in layers}
    signature = (
        strategy,
        compile,
        tuple(sorted(adapted)),
        tuple(id(conv) for conv in convs),
        tuple(
            (type(layer), getattr(layer, "inference_mode", False), layer.trainable)
            for layer in bn_layers(model)
            if id(layer) not in adapted
        ),
    )
    cached = TRACED_STEPS.get(model)
    if cached is None or cached[0] != signature:
        if strategy is None:
            step = AdaptingStep(model, compile=compile)
        else:
            step = DistributedAdaptingStep(model, strategy)
        cached = (signature, step)
        TRACED_STEPS[model] = cached
    return cached[1]


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

    Across processes on JAX (2 or more processes, ``keras.distribution.initialize``,
    with a ``keras.distribution`` set or in scope) and on PyTorch (an initialised
    ``torch.distributed`` process group, as DDP uses), every process calls this
    with its own share of the data, as it trains: its i-th batch is its part of
    the i-th global batch (a ``DistributedSampler``'s loader, or an array whose
    ``batch_size`` is then the global batch, split evenly across the processes).
    Every adapted layer gathers the moments of all processes' parts before
    normalising and combines them exactly, in float64, so every process gets the
    statistics one device gets from the global batches, and the return value is
    the global number of samples. Every process must give the same number of
    batches: if one runs out early, or fails, every process raises instead of
    waiting for it. On the devices of one process (JAX's DataParallel or
    ModelParallel) nothing is needed: each batch is one global batch.

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
            otherwise, but checked: a positive int, NumPy ints included); the
            global batch under a distribution or across processes.
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
            is not finite; across processes also a ``batch_size`` the processes
            cannot split evenly, processes that give different numbers of batches
            or adapt different layers, and (JAX) weights split across processes.
        RuntimeError: another adapt_bn_statistics pass is running on ``model``
            (for example, one started from inside this pass's ``data``), or
            another process of the pass failed.
    """
    processes = process_group(model)  # None within one process
    try:
        # every argument, on every path (whatever kind `data` is), before the pass
        layers, batch_size, steps, verbose, prior = _checked_arguments(
            model, layers, batch_size, steps, verbose, prior
        )
        if processes is not None and is_array(data):
            batch_size = processes.local_batch(batch_size)  # this process's share
        total = check_data(model, data, batch_size, steps)  # the number of batches, if known
        _refuse_a_second_pass(model)
    except Exception as error:
        if processes is not None:
            processes.start(failure=error)  # every process raises, not only this one
        raise
    if processes is not None:
        processes.start(layers=layers)
    moments, samples = _run_pass(model, layers, data, batch_size, steps, verbose, total, processes)
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
        if keras_internals.uses_renorm(layer):
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


def _run_pass(model, layers, data, batch_size, steps, verbose, total, processes=None):
    """Run ``model`` once over ``data``, every layer of ``layers`` recording its batch moments.

    Across ``processes`` (``None`` within one process) every batch is this
    process's share of a global batch, once all processes agreed they have one.

    Returns:
        ``(moments, samples)``: the ``Moments`` of every layer over every
        batch, and the number of samples the batches held.
    """
    moments = Moments(layers)
    names = {id(layer): layer.name for layer in layers}
    progress = keras.utils.Progbar(total, verbose=verbose, unit_name="step") if verbose else None
    samples = done = 0
    strategy = distribution_strategy(model)
    batches = _pass_batches(model, strategy, data, batch_size, steps)
    local = contextlib.nullcontext()
    if processes is not None:
        batches = agreed_batches(processes, batches)
        local = processes.local_weights(model)
    # a convolution another model's pass is running keeps that pass's class
    convs = [c for c in bias_absorbing_convs(model) if not _Adaptation.running_on(c)]
    with _Adaptation(layers, processes, convs) as adaptation, local:
        step = _adapting_step(model, layers, strategy, processes, convs=convs)
        # one batch in flight, as `predict` keeps its batches: batch i + 1 is
        # dispatched before batch i's moments are read back (which waits for them),
        # so where the backend runs asynchronously (JAX, a GPU) the device is not
        # idle while the host fetches the next batch and adds the last one
        pending = None
        for index, x in enumerate(batches):
            vector = step(adaptation, x)  # (re)tracing sets step.layout
            samples += step.samples(x)
            if pending is not None:
                done = _added(moments, pending, names, progress)
            pending = (vector, list(step.layout), index)
        if pending is not None:
            done = _added(moments, pending, names, progress)
    if progress is not None and done:
        progress.update(done, finalize=True)
    return moments, samples


def _added(moments, pending, names, progress):
    """Add the batch ``pending`` (its vector, layout and index) to ``moments``
    (`_add_batch`) and show it; returns how many batches are done."""
    vector, layout, index = pending
    _add_batch(moments, vector, layout, index, names)
    if progress is not None:
        progress.update(index + 1, finalize=False)
    return index + 1


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


def _add_batch(moments, vector, layout, index, names):
    """Add batch ``index``'s moments to ``moments``: ``vector`` holds every call's
    count, means and variances, ``layout`` its ``(layer id, channels)``.

    Raises:
        ValueError: a mean or variance is not finite (``names`` names the layers).
    """
    vector = np.asarray(ops.convert_to_numpy(vector), np.float64)
    if not np.all(np.isfinite(vector)):
        ends = np.cumsum([1 + 2 * channels for _, channels in layout])
        first = np.flatnonzero(~np.isfinite(vector))[0]
        key = layout[int(np.searchsorted(ends, first, side="right"))][0]
        raise ValueError(
            f"adapt_bn_statistics: batch {index} gave a non-finite (NaN or inf) "
            f"mean or variance at BN layer {names[key]!r}. Does `data` contain "
            "NaN or inf, or values too large for the model's dtype? No "
            "statistics were changed."
        )
    moments.add(vector, layout)


def _assign(layers, moments, prior, samples):
    """Set each layer's moving statistics to its ``moments``, mixed with its current
    ones by ``prior`` (see ``_with_prior``).

    Returns:
        The names of the layers no batch reached (left unchanged).
    """
    unreached = []
    for layer in layers:
        stats = moments.get(layer)
        if stats is None:
            unreached.append(layer.name)
            continue
        mean, variance = _with_prior(layer, *stats, float(prior), samples)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    return unreached
