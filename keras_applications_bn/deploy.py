"""Deployment: fold pinned BatchNormalization into the layers before it, export.

A BN layer in inference mode is a fixed per-channel affine map,
``y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``. When
``x`` is the output of a convolution or a ``Dense`` layer with no activation,
that map can be folded into the layer's kernel and bias: with
``s = gamma / sqrt(moving_variance + epsilon)`` per output channel,
``kernel' = kernel * s`` and ``bias' = (bias - moving_mean) * s + beta``.
:func:`fold_batch_norm` does so and returns a plain Keras model, which the three
export paths (:func:`export_model`: SavedModel, TFLite, ONNX) and the command
line (``python -m keras_applications_bn export``) ship.
"""

import dataclasses
import importlib
import os

import keras
import numpy as np
from keras.src.models.functional import Functional

from keras_applications_bn.convert import to_keras

__all__ = ["fold_batch_norm", "FoldReport", "export_model", "FORMATS", "MissingExtraError"]

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
    """What :func:`fold_batch_norm` did.

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


def _in_inference_mode(layer):
    """Whether ``layer`` normalises with its moving statistics in every call."""
    return bool(getattr(layer, "inference_mode", False)) or not layer.trainable


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
    if isinstance(model, Functional):
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
    nodes = [n for d in sorted(graph._nodes_by_depth, reverse=True) for n in graph._nodes_by_depth[d]]
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

        def keep(reason):
            kept.append((bn.name, reason))

        if calls[id(bn)] != 1:
            keep(f"the layer is called {calls[id(bn)]} times (shared)")
            continue
        if len(node.input_tensors) != 1:
            keep("it has more than one input")
            continue
        x = node.input_tensors[0]
        producer = x._keras_history.operation
        if producer is None or getattr(producer, "_inbound_nodes", None) is None or isinstance(
            producer, keras.layers.InputLayer
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
            what = f"also feeds {', '.join(repr(o) for o in others)}" if others else "is also a model output"
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
        scale=[float(v) for v in scale], offset=[float(v) for v in -mean * scale],
        name=layer.name, dtype=layer.dtype_policy,
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
        for depth in graph._nodes_by_depth.values()
        for node in depth
        if isinstance(node.operation, keras.layers.Normalization) and node.input_tensors
    }
    targets = {id(layer): layer for layer in plan.values()}
    pairs = []  # (old, new) layers whose weights are copied
    fold_pairs = []  # (target, bn, new target)

    bn_of = {id(layer): bn_id for bn_id, layer in plan.items()}
    bns = {
        id(node.operation): node.operation
        for depth in graph._nodes_by_depth.values()
        for node in depth
        if _is_bn(node.operation)
    }

    def clone(op):
        if isinstance(op, (Functional, keras.Sequential)):
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
    :func:`keras_applications_bn.convert.to_keras`), so its saved files,
    ``.keras`` and ``.h5``, reload with only ``keras``; ``predict`` gives the
    outputs of ``model``'s ``predict`` within float32 rounding. ``model`` is not
    changed.

    The report of what was folded, and why the rest was not, is the returned
    model's ``bn_folding`` attribute (a :class:`FoldReport`; ``str()`` of it is a
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
            ``moving_statistics`` is not a bool.
        ValueError: a Sequential model without an input shape, or BN layers that
            are not in inference mode while ``moving_statistics`` is ``False``.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"fold_batch_norm needs a Keras model, got {type(model).__name__}. "
            "Load a saved model with keras.saving.load_model first."
        )
    if not isinstance(moving_statistics, bool):
        raise TypeError(f"`moving_statistics` must be True or False, got {moving_statistics!r}.")
    _functional(model)  # a subclassed or unbuilt model: refuse before any work
    training = [
        layer.name
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if _is_bn(layer) and not _in_inference_mode(layer)
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


# ---------------------------------------------------------------- export


class MissingExtraError(ImportError):
    """An export format needs packages that are not installed."""


#: format -> (what it writes, the packages it needs beyond this package's own)
FORMATS = {
    "keras": ("a .keras file (loads with only keras)", ()),
    "savedmodel": ("a TensorFlow SavedModel directory (tf.saved_model.load)", ("tensorflow",)),
    "tflite": ("a TFLite flatbuffer (tf.lite.Interpreter)", ("tensorflow",)),
    "onnx": ("an ONNX file (onnxruntime)", ("tensorflow", "tf2onnx", "onnx")),
}

_SUFFIX = {"keras": ".keras", "savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}


def _check_extra(fmt):
    missing = []
    for module in FORMATS[fmt][1]:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        hint = (
            'pip install "keras-applications-bn[onnx]"' if fmt == "onnx" else f"pip install {' '.join(missing)}"
        )
        raise MissingExtraError(
            f"Exporting to {fmt} needs {', '.join(missing)}, which is not installed: {hint}"
        )
    if fmt != "keras" and keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"Exporting to {fmt} runs on the TensorFlow backend; Keras runs on "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow."
        )


def default_output(model_file, fmt, fold_bn=False):
    """The output path the command line uses when none is given.

    Args:
        model_file: the path of the saved model.
        fmt: the export format, one of :data:`FORMATS`.
        fold_bn: whether BN is folded (the name then says ``_folded``).

    Returns:
        A path next to ``model_file``, with the format's suffix.
    """
    stem = os.path.splitext(os.fspath(model_file))[0]
    return f"{stem}{'_folded' if fold_bn else ''}{'_savedmodel' if fmt == 'savedmodel' else ''}{_SUFFIX[fmt]}"


def export_model(model, path, format, *, fold_bn=False, moving_statistics=False, verbose=False):  # noqa: A002
    """Write ``model`` for deployment, optionally with its BN layers folded.

    Args:
        model: a Keras model (of this package or not).
        path: where to write: a ``.keras`` file, a SavedModel directory, a
            ``.tflite`` file or a ``.onnx`` file.
        format: ``"keras"``, ``"savedmodel"``, ``"tflite"`` or ``"onnx"``
            (needs the ``onnx`` extra: ``tf2onnx`` and ``onnx``; ``onnxruntime``
            runs the file).
        fold_bn: fold BatchNormalization first (:func:`fold_batch_norm`).
        moving_statistics: passed to :func:`fold_batch_norm`.
        verbose: print progress and the folding summary.

    Returns:
        The model that was written: a copy made of Keras' own classes (folded
        when ``fold_bn``).

    Raises:
        ValueError: an unknown ``format``, a format other than ``"keras"`` on a
            backend other than TensorFlow, or a model :func:`fold_batch_norm`
            refuses.
        MissingExtraError: the packages the format needs are not installed.
    """
    if format not in FORMATS:
        raise ValueError(
            f"Unsupported export format {format!r}: use one of {', '.join(FORMATS)}."
        )
    _check_extra(format)
    path = os.fspath(path)
    say = print if verbose else (lambda *a, **k: None)
    if fold_bn:
        say("folding BatchNormalization ...", flush=True)
        model = fold_batch_norm(model, moving_statistics=moving_statistics)
        say(str(model.bn_folding), flush=True)
    else:
        model = to_keras(model)
    if format == "onnx":
        # Normalization's tensors would become extra ONNX inputs: make them constants
        report = getattr(model, "bn_folding", None)
        model = _rebuild(model, FoldReport(), fold=False, constant_normalization=True)
        if report is not None:
            model.bn_folding = report
    say(f"writing {format} to {path} ...", flush=True)
    if format == "keras":
        model.save(path)
    else:
        keras_format = {"savedmodel": "tf_saved_model", "tflite": "litert", "onnx": "onnx"}[format]
        if not model._called:  # Keras' ONNX export needs a model that ran once
            zeros = [np.zeros([d or 1 for d in t.shape], t.dtype) for t in model.inputs]
            model(zeros[0] if len(zeros) == 1 else zeros)
        model.export(path, format=keras_format, verbose=False)
    return model


def tflite_op_counts(path_or_content):
    """Count the operations of a TFLite model.

    Args:
        path_or_content: the ``.tflite`` file's path, or its bytes.

    Returns:
        ``{op name: count}``, sorted by name.
    """
    import tensorflow as tf

    if isinstance(path_or_content, (bytes, bytearray)):
        interpreter = tf.lite.Interpreter(model_content=bytes(path_or_content))
    else:
        interpreter = tf.lite.Interpreter(model_path=os.fspath(path_or_content))
    counts = {}
    for op in interpreter._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return dict(sorted(counts.items()))


def tflite_affine_chains(path_or_content):
    """Count the BN-shaped ``MUL`` -> ``ADD`` chains of a TFLite model.

    Such a chain (a per-channel constant vector multiplied, then added) is what
    an unfused BN layer becomes.

    Args:
        path_or_content: the ``.tflite`` file's path, or its bytes.

    Returns:
        The number of chains.
    """
    import tensorflow as tf

    if isinstance(path_or_content, (bytes, bytearray)):
        interpreter = tf.lite.Interpreter(model_content=bytes(path_or_content))
    else:
        interpreter = tf.lite.Interpreter(model_path=os.fspath(path_or_content))
    ops = interpreter._get_ops_details()
    produced = {t for op in ops for t in op["outputs"]}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    shapes = {d["index"]: tuple(d["shape"]) for d in interpreter.get_tensor_details()}

    def vector_constant(op):  # a constant of shape (C,) or (1, ..., 1, C)
        return any(
            t >= 0 and t not in produced and t not in inputs
            and sum(d > 1 for d in shapes.get(t, ())) == 1
            for t in op["inputs"]
        )

    consumers = {}
    for op in ops:
        for t in op["inputs"]:
            consumers.setdefault(t, []).append(op)
    chains = 0
    for op in ops:
        if op["op_name"] == "MUL" and vector_constant(op):
            following = consumers.get(op["outputs"][0], [])
            if any(o["op_name"] == "ADD" and vector_constant(o) for o in following):
                chains += 1
    return chains


def _size(path):
    if os.path.isdir(path):
        total = sum(
            os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
        )
    else:
        total = os.path.getsize(path)
    return f"{total / 1e6:.1f} MB"


def export_command(model_file, fmt, *, fold_bn=False, output=None, moving_statistics=False):
    """Run ``python -m keras_applications_bn export``: load, fold, write.

    Args:
        model_file: the saved Keras model (``.keras`` or ``.h5``).
        fmt: the export format, one of :data:`FORMATS`.
        fold_bn: fold BatchNormalization first (:func:`fold_batch_norm`).
        output: the output path; ``None`` for :func:`default_output`.
        moving_statistics: passed to :func:`fold_batch_norm`.

    Returns:
        0, the command's exit code.

    Raises:
        ValueError: ``model_file`` does not exist or is not a Keras model, or
            ``fmt`` is unknown (the command line's usage errors).
        MissingExtraError: the packages the format needs are not installed.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unsupported export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    model_file = os.fspath(model_file)
    steps = 3 if fold_bn else 2
    step = iter(range(1, steps + 1))
    _check_extra(fmt)  # before the slow part
    if not os.path.isfile(model_file):
        raise ValueError(f"MODEL_FILE {model_file!r} does not exist (or is not a file).")
    if not model_file.endswith((".keras", ".h5", ".hdf5")):
        raise ValueError(
            f"MODEL_FILE {model_file!r} is not a Keras model file: use a .keras or .h5 "
            "file written by model.save()."
        )
    print(f"[{next(step)}/{steps}] loading {model_file}", flush=True)
    try:
        model = keras.saving.load_model(model_file, compile=False)
    except Exception as e:  # a zip/h5 that is not a saved model, or a broken one
        raise ValueError(
            f"MODEL_FILE {model_file!r} could not be loaded as a Keras model "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})."
        ) from e
    if not isinstance(model, keras.Model):
        raise ValueError(f"MODEL_FILE {model_file!r} holds a {type(model).__name__}, not a Keras model.")
    out = output or default_output(model_file, fmt, fold_bn)
    if fold_bn:
        print(f"[{next(step)}/{steps}] folding BatchNormalization", flush=True)
        model = fold_batch_norm(model, moving_statistics=moving_statistics)
        for line in str(model.bn_folding).splitlines():
            print(f"      {line}", flush=True)
    print(f"[{next(step)}/{steps}] writing {fmt} to {out}", flush=True)
    export_model(model, out, fmt)
    print(f"done: {out} ({_size(out)})", flush=True)
    return 0
