"""The compiled forward pass of adapt_bn_statistics.

``AdaptingStep`` runs the model on one batch, compiled for the backend, and
returns the batch moments every adapted layer recorded into the running pass,
stacked into one vector (one transfer to the host per batch); the pass under a
tf.distribute strategy subclasses it (``distribute.py``). ``fused_moments``
normalises a batch with its own moments in one kernel where the backend has one;
``bias_absorbing_convs`` names the convolutions whose bias a JAX pass leaves to
the BN layer after them.
"""

import weakref

import keras
from keras import ops

from keras_applications_bn._models import keras_internals

__all__ = ["AdaptingStep", "bias_absorbing_convs", "compiled", "fused_moments"]


def compiled(fn):
    """``fn`` compiled for the current backend, for TensorFlow and PyTorch
    (``AdaptingStep`` compiles for JAX itself, the variables passed as arguments).

    A ``tf.function`` on TensorFlow (not XLA: on CPU, where ``predict`` does not
    use XLA either, it made the pass 1.7x slower); under PyTorch the eager call
    without autograd, which would otherwise record the whole pass because
    gamma/beta and the kernels require gradients; ``fn`` itself elsewhere.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "torch":
        import torch

        return torch.no_grad()(fn)
    return fn


def fused_moments(x, layer):
    """Normalise ``x`` with its own batch moments in one fused kernel, where the
    backend has one for this input; ``None`` where it does not.

    The fused kernels (TensorFlow's ``FusedBatchNormV3`` for 4-D inputs,
    PyTorch's ``batch_norm`` in training mode for any rank) read each activation
    once or twice for the moments and once to normalise, where ``ops.moments`` +
    ``ops.batch_normalization`` make several passes and, on PyTorch, write the
    squares out first. Used for float32 inputs with the channels last; the moments
    they give are those ``ops.moments`` gives within float32 rounding. PyTorch's
    kernel normalises as ``x * a + b`` (``a``, ``b`` per channel), whose rounding
    differs from the unfused ``(x - mean) * a + beta``: measured against a float64
    forward pass, the deepest BN of InceptionV3 gets its mean within 1.3e-4 of the
    layer's scale (TensorFlow's kernel 7.8e-5, the unfused pass 5.4e-5). JAX has
    no such kernel: XLA fuses the unfused pass itself.

    Returns:
        ``(outputs, count, mean, variance)`` (the biased variance, as
        ``ops.moments`` gives), or ``None``.
    """
    backend = keras.backend.backend()
    rank = len(x.shape)
    channels = x.shape[-1]
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype != "float32" or layer.axis % rank != rank - 1 or channels is None:
        return None
    if backend == "tensorflow":
        return _tf_fused_moments(x, layer, channels)
    if backend == "torch":
        return _torch_fused_moments(x, layer, channels)
    return None


_CONVOLUTIONS = ("Conv1D", "Conv2D", "Conv3D")


def bias_absorbing_convs(model):
    """The convolutions of ``model`` whose bias the pass may leave to the BN layer
    they feed: on JAX, every ``Conv1D``/``Conv2D``/``Conv3D`` (Keras' own class, not a
    subclass) with a bias, no activation, float32 compute, no LoRA and no
    quantization; none on the other backends.

    Why: a batch's moments read the BN layer's whole input before it can be
    normalised. When that input is a convolution plus its bias, XLA on CPU writes
    the sum out and reads it back three times (two reductions and the
    normalisation), where ``predict`` applies the bias and the pinned BN in one
    pass over the convolution's output. A BN layer normalising with its batch's
    own moments gives the same output for ``y`` and ``y + bias``, whose mean is
    ``y``'s plus the bias: so during the pass each such convolution also hands
    ``y`` and its bias to the BN layer that receives its output (``adapt.py``),
    which normalises ``y``, records its mean plus the bias, and leaves ``y +
    bias`` unused, for XLA to drop (ResNet50 against ``predict`` on 2 CPU cores,
    ``benchmarks/bench_adapt.py``: 1.11-1.14x before, 1.00-1.10x in two runs
    after). Anything else that reads the convolution's output still gets ``y +
    bias``. TensorFlow's and PyTorch's
    convolutions add their bias in the convolution's own kernel, and PyTorch runs
    eagerly (nothing unused is dropped), so there the pass leaves them as they are.
    """
    if keras.backend.backend() != "jax":
        return []
    types = tuple(getattr(keras.layers, name) for name in _CONVOLUTIONS)
    found, seen = [], set()
    for layer in keras_internals.sublayers(model, include_self=True, recursive=True):
        if (
            type(layer) in types
            and id(layer) not in seen
            and layer.use_bias
            and getattr(layer.activation, "__name__", None) == "linear"
            and layer.compute_dtype == "float32"
            and not getattr(layer, "lora_enabled", False)
            and not getattr(layer, "quantization_mode", None)
        ):
            seen.add(id(layer))
            found.append(layer)
    return found


def _scale_and_offset(layer, channels):
    scale = ops.cast(layer.gamma, "float32") if layer.scale else ops.ones((channels,))
    offset = ops.cast(layer.beta, "float32") if layer.center else ops.zeros((channels,))
    return scale, offset


def _tf_fused_moments(x, layer, channels):
    import tensorflow as tf

    # FusedBatchNormV3 takes 4-D inputs and an epsilon of at least 1.001e-5
    if len(x.shape) != 4 or layer.epsilon < 1.001e-5:
        return None
    scale, offset = _scale_and_offset(layer, channels)
    outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        x, scale, offset, epsilon=layer.epsilon, data_format="NHWC", is_training=True
    )
    count = tf.cast(tf.size(x, out_type=tf.int64) // channels, tf.float32)
    # the kernel returns the unbiased variance (Bessel's n / (n - 1), 1 for n = 1)
    variance = variance * (tf.maximum(count, 2.0) - 1.0) / tf.maximum(count, 1.0)
    return outputs, count, mean, variance


def _torch_fused_moments(x, layer, channels):
    import torch

    count = x.numel() // channels
    if count < 2:  # a single value per channel: the kernel's unbiased variance is 0 / 0
        return None
    # the kernel takes the channels on axis 1 (a view: no copy) and, in training
    # mode with a momentum of 1, writes the batch's mean and unbiased variance into
    # the running buffers it is given (computed from the sums, where the variance it
    # normalises with would come back only as 1 / sqrt(variance + epsilon))
    mean = torch.zeros(channels, dtype=x.dtype, device=x.device)
    variance = torch.zeros(channels, dtype=x.dtype, device=x.device)
    scale = ops.cast(layer.gamma, "float32") if layer.scale else None
    offset = ops.cast(layer.beta, "float32") if layer.center else None
    outputs = torch.batch_norm(
        torch.movedim(x, -1, 1),
        scale,
        offset,
        mean,
        variance,
        True,
        1.0,
        layer.epsilon,
        torch.backends.cudnn.enabled,
    )
    variance = variance * ((count - 1) / count)  # the biased variance, as ops.moments gives
    count = torch.tensor(float(count), dtype=torch.float32, device=x.device)
    return torch.movedim(outputs, 1, -1), count, mean, variance


def stacked(calls):
    """``calls``' ``(layer, count, mean, variance)`` as one vector: each call's
    count, means and variances in turn (float64 if any is, else float32), and the
    layout ``[(layer id, channels), ...]`` that reads it."""
    dtypes = {keras.backend.standardize_dtype(t.dtype) for _, *moments in calls for t in moments}
    dtype = "float64" if "float64" in dtypes else "float32"
    parts, layout = [], []
    for layer, count, mean, variance in calls:
        parts += [ops.reshape(ops.cast(count, dtype), (1,)), ops.cast(mean, dtype)]
        parts.append(ops.cast(variance, dtype))
        layout.append((id(layer), int(mean.shape[0])))
    vector = ops.concatenate(parts, axis=0) if parts else ops.zeros((0,), dtype)
    return vector, layout


class AdaptingStep:
    """One compiled forward pass that returns every adapted layer's batch moments.

    A call returns one vector (``stacked``); ``layout`` names the layer (by id)
    and the number of channels of each call's count, means and variances in it.
    It is recorded while the pass is traced (on every call when ``compile`` is
    false). Compiled: a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX (the
    model's variables are passed as arguments, so a step cached across passes
    always sees the current weights), the eager call without autograd on PyTorch.
    The step holds the model weakly, so caching it per model keeps nothing
    alive; it holds the running pass's ``_Adaptation`` (``adapt.py``) only
    during a call.
    """

    def __init__(self, model, compile=True):
        self._model = weakref.ref(model)
        self.layout = []
        self._adaptation = None
        if not compile:
            self._function = self._forward
        elif keras.backend.backend() == "jax":
            self._function = self._jitted()
        else:
            self._function = compiled(self._forward)

    def _forward(self, x):
        adaptation = self._adaptation
        adaptation.start_pass()
        try:
            self._model()(x, training=False)
            calls = adaptation.calls()
        finally:
            adaptation.end_pass()
        vector, self.layout = stacked(calls)
        return vector

    def _jitted(self):
        import jax

        def run(trainable, non_trainable, x):
            model = self._model()
            mapping = list(zip(model.trainable_variables, trainable))
            mapping += zip(model.non_trainable_variables, non_trainable)
            with keras.StatelessScope(state_mapping=mapping):
                return self._forward(x)

        function = jax.jit(run)

        def call(x):
            model = self._model()
            trainable = [v.value for v in model.trainable_variables]
            return function(trainable, [v.value for v in model.non_trainable_variables], x)

        return call

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
