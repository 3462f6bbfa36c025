"""Fold pinned BatchNormalization into the layers before it.

A BN layer in inference mode is a fixed per-channel affine map,
``y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``. When
``x`` is the output of a convolution or a ``Dense`` layer with no activation,
that map can be folded into the layer's kernel and bias: with
``s = gamma / sqrt(moving_variance + epsilon)`` per output channel,
``kernel' = kernel * s`` and ``bias' = (bias - moving_mean) * s + beta``.
`fold_batch_norm` does so and returns a plain Keras model, which
``export.formats.export_model`` (SavedModel, TFLite, ONNX) and the command line
(``python -m keras_applications_bn export``) ship.
"""

import dataclasses

import keras
import numpy as np

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.checks import check_bool, describe
from keras_applications_bn.batchnorm.pinning import fit_mode
from keras_applications_bn.export.convert import to_keras

__all__ = ["fold_batch_norm", "FoldReport"]

# The layer classes a following BN folds into: exact classes (a subclass may
# compute something else in its `call`).
_FOLD_TARGETS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Dense,
)


@dataclasses.dataclass
class FoldReport:
    """What `fold_batch_norm` did.

    Attributes:
        folded: ``(bn_name, layer_name)`` of every BN layer folded into the layer
            before it.
        kept: ``(bn_name, reason)`` of every BN layer that stays (in inference
            mode) because it cannot be folded.
    """

    folded: list = dataclasses.field(default_factory=list)
    kept: list = dataclasses.field(default_factory=list)

    def __str__(self):
        total = len(self.folded) + len(self.kept)
        lines = [f"BatchNormalization layers folded: {len(self.folded)} of {total}."]
        if self.kept:
            lines.append(f"Kept in inference mode ({len(self.kept)}):")
            lines += [f"  {name}: {reason}" for name, reason in self.kept]
        return "\n".join(lines)


def _is_bn(layer):
    return isinstance(layer, keras.layers.BatchNormalization)


def _functional(model):
    """The functional graph of ``model`` (a Sequential model's inner one)."""
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ValueError(
                f"The Sequential model {model.name!r} has no input shape yet, so it "
                "has no graph to fold. Build it with an `keras.Input` first (or call "
                "it once on data)."
            )
        return graph
    if keras_internals.is_functional(model):
        return model
    raise TypeError(
        f"fold_batch_norm needs a functional or Sequential Keras model; "
        f"{model.name!r} is a subclassed {type(model).__name__}, whose graph cannot "
        "be rebuilt layer by layer."
    )


def _channel_axis(layer, rank):
    """The output channel axis (non-negative) of a fold target of output ``rank``."""
    if isinstance(layer, keras.layers.Dense):
        return rank - 1
    return 1 if layer.data_format == "channels_first" else rank - 1


def _fold_plan(graph):
    """Which BN nodes of ``graph`` fold into which layer, and why the others don't.

    Returns ``({id(bn): target}, [(bn_name, reason)], [(bn_name, target_name)])``.
    """
    # from the inputs to the outputs, so the report reads in the model's order
    depths = keras_internals.nodes_by_depth(graph)
    nodes = [n for d in sorted(depths, reverse=True) for n in depths[d]]
    consumers = {}
    calls = {}
    for node in nodes:
        if node.operation is None or node.is_input:
            continue
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1
        for t in node.input_tensors:
            consumers.setdefault(id(t), []).append(node.operation)
    outputs = {id(t) for t in graph.outputs}
    plan, kept, folded = {}, [], []
    for node in nodes:
        bn = node.operation
        if not _is_bn(bn) or node.is_input:
            continue

        def keep(reason, name=bn.name):
            kept.append((name, reason))

        if calls[id(bn)] != 1:
            keep(f"the layer is called {calls[id(bn)]} times (shared)")
            continue
        if len(node.input_tensors) != 1:
            keep("it has more than one input")
            continue
        x = node.input_tensors[0]
        producer = keras_internals.producer(x)
        if (
            producer is None
            or getattr(producer, "_inbound_nodes", None) is None
            or isinstance(producer, keras.layers.InputLayer)
        ):
            keep("its input is a model input")
            continue
        if type(producer) not in _FOLD_TARGETS:
            keep(
                f"its input comes from {producer.name!r} ({type(producer).__name__}), "
                "not from a Conv/DepthwiseConv2D/SeparableConv2D/Dense layer"
            )
            continue
        activation = getattr(producer.activation, "__name__", str(producer.activation))
        if activation != "linear":
            keep(f"{producer.name!r} applies the activation {activation!r} before it")
            continue
        if calls.get(id(producer), 0) != 1:
            keep(f"{producer.name!r} is called more than once (shared)")
            continue
        others = [op.name for op in consumers.get(id(x), []) if op is not bn]
        if others or id(x) in outputs:
            what = (
                f"also feeds {', '.join(repr(o) for o in others)}"
                if others
                else "is also a model output"
            )
            keep(f"the output of {producer.name!r} {what}")
            continue
        if getattr(producer, "quantization_mode", None) or getattr(producer, "lora_enabled", False):
            keep(f"{producer.name!r} is quantized or has LoRA weights")
            continue
        rank = len(x.shape)
        axis = bn.axis if isinstance(bn.axis, int) else None
        if axis is None or axis % rank != _channel_axis(producer, rank):
            keep(f"its axis {bn.axis} is not the channel axis of {producer.name!r}")
            continue
        plan[id(bn)] = producer
        folded.append((bn.name, producer.name))
    return plan, kept, folded


def _bn_affine(bn):
    """``(scale, shift)`` of an inference-mode BN layer, in float64."""
    mean = np.asarray(keras.ops.convert_to_numpy(bn.moving_mean), dtype=np.float64)
    variance = np.asarray(keras.ops.convert_to_numpy(bn.moving_variance), dtype=np.float64)
    gamma = (
        np.asarray(keras.ops.convert_to_numpy(bn.gamma), dtype=np.float64)
        if bn.scale
        else np.ones_like(mean)
    )
    beta = (
        np.asarray(keras.ops.convert_to_numpy(bn.beta), dtype=np.float64)
        if bn.center
        else np.zeros_like(mean)
    )
    scale = gamma / np.sqrt(variance + bn.epsilon)
    return scale, beta - mean * scale


def _folded_weights(layer, bn):
    """The weights of ``layer`` (with a bias) that compute ``bn(layer(x))``."""
    scale, shift = _bn_affine(bn)
    weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
    if isinstance(layer, keras.layers.SeparableConv2D):
        kernels, bias = weights[:2], weights[2] if layer.use_bias else 0.0
        depthwise, pointwise = kernels
        new = [depthwise, pointwise * scale]
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel, bias = weights[0], weights[1] if layer.use_bias else 0.0
        # output channel c * depth_multiplier + m is kernel[..., c, m]
        new = [kernel * scale.reshape(kernel.shape[-2:])]
    else:  # Conv1D/2D/3D, Dense: output channels on the kernel's last axis
        kernel, bias = weights[0], weights[1] if layer.use_bias else 0.0
        new = [kernel * scale]
    new.append(bias * scale + shift)
    dtypes = [w.dtype for w in layer.get_weights()]
    dtypes += [dtypes[-1]] * (len(new) - len(dtypes))
    return [w.astype(d) for w, d in zip(new, dtypes)]


class _Folded:
    """Stands for a folded BN layer in the rebuilt graph (its call is dropped)."""


def _constant_rescaling(layer, rank):
    """A ``Rescaling`` layer equal to the inference ``Normalization`` ``layer``
    (``(x - mean) / max(sqrt(variance), epsilon)`` on the last axis), or None.

    Keras' ``Normalization`` keeps its mean and variance as tensors that the
    ONNX converter turns into extra graph inputs; ``Rescaling``'s per-channel
    factors are constants of the graph."""
    axis = tuple(a % rank for a in layer.axis)
    if layer.invert or axis != (rank - 1,) or layer.mean is None:
        return None
    mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), np.float64).reshape(-1)
    variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), np.float64).reshape(-1)
    scale = 1.0 / np.maximum(np.sqrt(variance), keras.config.epsilon())
    return keras.layers.Rescaling(
        scale=[float(v) for v in scale],
        offset=[float(v) for v in -mean * scale],
        name=layer.name,
        dtype=layer.dtype_policy,
    )


def _rebuild(model, report, fold=True, constant_normalization=False):
    """A copy of ``model``'s graph with the planned folds applied (and, with
    ``constant_normalization``, Normalization layers as Rescaling)."""
    graph = _functional(model)
    plan, kept, folded = _fold_plan(graph) if fold else ({}, [], [])
    report.kept += kept
    report.folded += folded
    ranks = {
        id(node.operation): len(node.input_tensors[0].shape)
        for depth in keras_internals.nodes_by_depth(graph).values()
        for node in depth
        if isinstance(node.operation, keras.layers.Normalization) and node.input_tensors
    }
    targets = {id(layer): layer for layer in plan.values()}
    pairs = []  # (old, new) layers whose weights are copied
    fold_pairs = []  # (target, bn, new target)

    bn_of = {id(layer): bn_id for bn_id, layer in plan.items()}
    bns = {
        id(node.operation): node.operation
        for depth in keras_internals.nodes_by_depth(graph).values()
        for node in depth
        if _is_bn(node.operation)
    }

    def clone(op):
        if isinstance(op, keras.Sequential) or keras_internals.is_functional(op):
            return _rebuild(op, report, fold, constant_normalization)
        if constant_normalization and id(op) in ranks:
            rescaling = _constant_rescaling(op, ranks[id(op)])
            if rescaling is not None:
                return rescaling
        if not isinstance(op, keras.layers.Layer):
            return op  # stateless graph operations (keras.ops, Affine) are reused
        if id(op) in plan:
            return _Folded()
        config = op.get_config()
        if _is_bn(op) and fold:
            if hasattr(op, "keras_config"):  # this package's layer: drop its own keys
                config = op.keras_config()
            config["trainable"] = False  # a kept BN runs in inference mode
            new = keras.layers.BatchNormalization.from_config(config)
            pairs.append((op, new))
            return new
        if id(op) in targets:
            config["use_bias"] = True
            new = type(op).from_config(config)
            fold_pairs.append((op, bns[bn_of[id(op)]], new))
            return new
        new = type(op).from_config(config)
        pairs.append((op, new))
        return new

    def call(op, *args, **kwargs):
        if isinstance(op, _Folded):
            return args[0]
        return op(*args, **kwargs)

    new = keras.models.clone_model(graph, clone_function=clone, call_function=call)
    for old, layer in pairs:
        layer.set_weights(old.get_weights())
    for old, bn, layer in fold_pairs:
        layer.set_weights(_folded_weights(old, bn))
        layer.trainable = old.trainable
    if new.name != model.name:
        new.name = model.name
    return new


def fold_batch_norm(model, *, moving_statistics=False, verbose=False):
    """A copy of ``model`` in which BatchNormalization is folded into the layer before it.

    Every BN layer whose input is the output of a ``Conv1D``/``Conv2D``/``Conv3D``,
    ``DepthwiseConv2D``, ``SeparableConv2D`` (into its pointwise kernel) or
    ``Dense`` layer without activation, and which is that output's only consumer,
    is removed; the layer before it gets the kernel and bias that compute both:
    with ``s = gamma / sqrt(moving_variance + epsilon)`` per channel,
    ``kernel * s`` and ``(bias - moving_mean) * s + beta``. The other BN layers
    (one after a concatenation or an addition, the pre-activation BN of
    ResNetV2/DenseNet blocks, ...) stay, as ``keras.layers.BatchNormalization``
    with ``trainable=False``: in inference mode in every call. Nested models are
    folded too. The copy is made of Keras' own classes (see
    `keras_applications_bn.export.convert.to_keras`), so its saved files,
    ``.keras`` and ``.h5``, reload with only ``keras``; ``predict`` gives the
    outputs of ``model``'s ``predict`` within float32 rounding. ``model`` is not
    changed.

    The report of what was folded, and why the rest was not, is the returned
    model's ``bn_folding`` attribute (a `FoldReport`; ``str()`` of it is a
    short summary).

    Args:
        model: a functional or Sequential Keras model.
        moving_statistics: BN layers that are not in inference mode (trainable
            and not pinned) normalise with batch statistics in training; folding
            them fixes them to their moving statistics, which is what ``predict``
            uses. ``False`` (the default) refuses such a model with a
            ``ValueError``; ``True`` folds their moving statistics.
        verbose: print the summary.

    Returns:
        A new, uncompiled Keras model with the same inputs and outputs.

    Raises:
        TypeError: ``model`` is not a functional or Sequential Keras model, or
            ``moving_statistics`` or ``verbose`` is not a bool (NumPy bools
            are; ``"no"`` and ``1`` are not).
        ValueError: a Sequential model without an input shape, or BN layers that
            are not in inference mode while ``moving_statistics`` is ``False``.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"fold_batch_norm needs a Keras model: `model` got {describe(model)}. "
            "Load a saved model with keras.saving.load_model first."
        )
    moving_statistics = check_bool(moving_statistics, "moving_statistics")
    verbose = check_bool(verbose, "verbose")
    _functional(model)  # a subclassed or unbuilt model: refuse before any work
    training = [
        layer.name
        for layer in keras_internals.sublayers(model, include_self=False, recursive=True)
        if _is_bn(layer) and fit_mode(layer) == "batch"
    ]
    if training and not moving_statistics:
        names = ", ".join(repr(n) for n in training[:3]) + (", ..." if len(training) > 3 else "")
        raise ValueError(
            f"{len(training)} BatchNormalization layer(s) of {model.name!r} are not in "
            f"inference mode ({names}): they are trainable and not pinned, so in "
            "training they normalise with batch statistics, which folding cannot keep. "
            "Pin them first (build with `inference_bn=True`, or call "
            "`keras_applications_bn.set_inference_bn(model)`), or pass "
            "`moving_statistics=True` (command line: --moving-statistics) to fold "
            "their moving statistics (what `predict` uses)."
        )
    report = FoldReport()
    folded = _rebuild(to_keras(model), report)
    folded.bn_folding = report
    if verbose:
        print(report)
    return folded


def constant_normalization(model):
    """A copy of ``model`` (made of Keras' classes) whose ``Normalization`` layers
    are constant ``Rescaling`` layers: ONNX converters turn a Normalization's
    mean/variance into extra graph inputs. A fold report on ``model`` carries over."""
    report = getattr(model, "bn_folding", None)
    copy = _rebuild(model, FoldReport(), fold=False, constant_normalization=True)
    if report is not None:
        copy.bn_folding = report
    return copy
