"""``to_keras``: a copy of a model made of Keras' own classes, to ship.

A pinned model (``inference_bn=True``, `set_inference_bn`,
`freeze`) contains this package's registered classes,
so its saved files reload only where ``keras_applications_bn`` is imported. The
copy that `to_keras` returns computes the same outputs with Keras' classes
alone, so its ``.keras`` file reloads with only ``keras`` installed, also with
``safe_mode=True`` (there is no ``Lambda``), and so does its legacy ``.h5`` file:
the copy is made of layers that ``keras.layers`` names, and no graph operation
(``x + 3.0``, ``keras.ops.sum``), which Keras cannot rebuild from an ``.h5``
model file.
"""

import math

import keras

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.tf_keras import check_not_tf_keras
from keras_applications_bn.layers import Affine, BatchNormalization, CustomScaleLayer, ReduceSum

LayerScale, _ = keras_internals.convnext_layers()
_ADD, _MULTIPLY = keras_internals.add_and_multiply_ops()

__all__ = ["to_keras"]


def _keras_batch_norm(layer):
    """A `keras.layers.BatchNormalization` with ``layer``'s config; a pinned layer
    becomes ``trainable=False``, which is inference mode for Keras 3's layer."""
    return keras.layers.BatchNormalization.from_config(layer.keras_config())


def _scaled_sum(layer, inputs):
    """``shortcut + residual * scale`` with Keras layers: Rescaling, then Add
    (named as ``layer``), the same float operations as `CustomScaleLayer`."""
    shortcut, residual = inputs
    scaled = keras.layers.Rescaling(
        layer.scale, name=f"{layer.name}_rescaling", dtype=layer.dtype_policy
    )(residual)
    return keras.layers.Add(name=layer.name, dtype=layer.dtype_policy)([shortcut, scaled])


def _rescaling(x, scale, offset, name):
    """``x * scale + offset`` as a Keras ``Rescaling`` layer, computed in ``x``'s
    dtype (as the graph operation it replaces)."""
    return keras.layers.Rescaling(scale, offset, name=name, dtype=x.dtype)(x)


def _affine(op, x):
    """``(x + offset) * scale`` with Keras ``Rescaling`` layers: ``x * 1.0 +
    offset``, then ``x * scale + 0.0``, the same floats as ``x + offset`` and
    ``x * scale`` (what ``x + 3.0`` writes in `keras.applications`' MobileNetV3)."""
    if op.offset != 0.0:
        x = _rescaling(x, 1.0, op.offset, op.name if op.scale == 1.0 else f"{op.name}_offset")
    if op.scale != 1.0:
        x = _rescaling(x, op.scale, 0.0, op.name)
    return x


def _graph_op(op, args, kwargs):
    """Keras' add or multiply graph operation (``x + 3.0``, ``x * (1 / 6)``,
    ConvNeXt's residual ``x + y``) as a Keras layer, called: of a float tensor
    and a Python number, a ``Rescaling`` layer; of two float tensors of the same
    shape and dtype, an ``Add`` or ``Multiply`` layer (named as ``op``). None
    for any other operation, which is reused as it is."""
    if type(op) not in (_ADD, _MULTIPLY) or kwargs or len(args) != 2:
        return None
    add = type(op) is _ADD
    tensors = [a for a in args if isinstance(a, keras.KerasTensor)]
    if not all(keras.backend.is_float_dtype(t.dtype) for t in tensors):
        return None
    if len(tensors) == 2:
        a, b = tensors
        if a.shape != b.shape or a.dtype != b.dtype:
            return None
        merge = keras.layers.Add if add else keras.layers.Multiply
        return merge(name=op.name, dtype=a.dtype)([a, b])
    numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if len(tensors) != 1 or len(numbers) != 1:
        return None
    c = float(numbers[0])
    return _rescaling(tensors[0], 1.0 if add else c, c if add else 0.0, op.name)


def _reduce_sum(layer, x, reshaped):
    """ResNeXt's `ReduceSum` with Keras layers:
    a ``Reshape`` to ``(before, n, after)`` around the summed axis (of length
    ``n``), an ``AveragePooling2D`` over it and a ``Rescaling`` by ``n`` (named as
    ``layer``), and a ``Reshape`` to the output shape. The mean times ``n`` is the
    sum within float32 rounding (the order of 1e-6 of the largest output: the
    backend's pooling adds in its own order); exactly the pooled sum when ``n`` is
    a power of two, as in ResNeXt. An input with a dimension unknown before it
    runs cannot be reshaped so: its sum becomes Keras' sum operation, whose
    ``.h5`` file Keras cannot rebuild (save such a copy as ``.keras``).

    ResNeXt reshapes before and after the sum; a reshape of a reshape is one
    reshape, so the first ``Reshape`` takes the input of a ``Reshape`` layer
    before it, and the output's ``Reshape`` is recorded in ``reshaped`` (its
    output -> its input) for a ``Reshape`` layer after it to skip: the copy
    has as many reshapes as the original (each is four operations in a TFLite
    file)."""
    rank = len(x.shape)
    axis = layer.axis % rank
    shape = tuple(x.shape[1:])
    if axis == 0 or any(d is None for d in shape):
        return keras.ops.sum(x, axis=layer.axis)
    n = shape[axis - 1]
    before, after = math.prod(shape[: axis - 1]), math.prod(shape[axis:])
    policy = layer.dtype_policy
    producer = keras_internals.producer(x)
    if type(producer) is keras.layers.Reshape:
        x = keras_internals.producer_inputs(x)[0]
    x = keras.layers.Reshape((before, n, after), name=f"{layer.name}_split", dtype=policy)(x)
    x = keras.layers.AveragePooling2D(
        (1, n), data_format="channels_last", name=f"{layer.name}_mean", dtype=policy
    )(x)
    summed = keras.layers.Rescaling(float(n), name=layer.name, dtype=policy)(x)
    output = keras.layers.Reshape(
        shape[: axis - 1] + shape[axis:], name=f"{layer.name}_merge", dtype=policy
    )(summed)
    reshaped[id(output)] = summed
    return output


def _layer_scale(layer, x):
    """ConvNeXt's ``LayerScale`` (``x * gamma`` on the last axis; a Keras class
    that ``keras.layers`` does not name, so an ``.h5`` file cannot rebuild it) on
    a 4D input as a ``DepthwiseConv2D`` with a 1x1 kernel, ``gamma``, and no
    bias: one product per element, the same floats. None for another rank."""
    if len(x.shape) != 4:
        return None
    return keras.layers.DepthwiseConv2D(
        1,
        use_bias=False,
        data_format="channels_last",
        name=layer.name,
        dtype=layer.dtype_policy,
        trainable=layer.trainable,
    )


def to_keras(model):
    """A copy of ``model`` with the same weights, made of Keras' own classes.

    Every `BatchNormalization` becomes a
    `keras.layers.BatchNormalization` with the same config and weights; a pinned
    one gets ``trainable=False``, under which Keras 3's layer always normalises
    with its moving statistics, so ``predict`` and even a ``training=True`` call
    give the pinned model's outputs. InceptionResNetV2's
    `CustomScaleLayer` becomes a
    ``Rescaling`` layer and an ``Add`` layer (named as the original);
    MobileNetV3's `Affine` ops, like
    Keras' own ``x + 3.0`` and ``x * (1 / 6)`` graph operations (a float tensor
    and a Python number), become ``Rescaling`` layers; Keras' add and multiply
    operations of two float tensors of one shape (ConvNeXt's residual
    ``x + y``) ``Add`` and ``Multiply`` layers; ConvNeXt's ``LayerScale`` (on
    its 4D input) a ``DepthwiseConv2D`` with a 1x1 kernel, ``gamma``, and no
    bias. These compute the same floats, so the outputs are equal (up to the
    float rounding by which any compiled call differs from an eager one). ResNeXt's
    `ReduceSum` becomes a ``Reshape``, an
    ``AveragePooling2D`` and a ``Rescaling`` by the number of summed slices
    (float32 rounding of the order of 1e-6 of the largest output). Nested
    functional and Sequential models are converted too; every other layer is
    cloned from its config. The original model is not changed.

    This is the model to ship after fine-tuning: its ``.keras`` file reloads with
    ``keras.saving.load_model`` (``safe_mode=True`` included) where only Keras
    is installed, and so does its legacy ``.h5`` file, for a model of every
    family of this package. (An ``.h5`` file cannot rebuild a layer that
    ``keras.layers`` does not name, or any graph operation: a ``model`` with
    others than those above keeps them, and its copy's ``.keras`` file reloads
    where Keras finds them, its ``.h5`` file not.) What the copy does not keep:
    ``affine_trainable=False`` (Keras has no such state; such gamma/beta become
    trainable again, which does not change any output), the optimizer and
    compile state (compile the copy to train it further).

    Args:
        model: a functional or Sequential Keras model (subclassed models cannot
            be rebuilt layer by layer).

    Returns:
        A new, uncompiled Keras model.
    """
    check_not_tf_keras(model, "model")
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a Keras model, got {type(model).__name__}. "
            "Pass the model itself, e.g. to_keras(model)."
        )
    if not (isinstance(model, keras.Sequential) or keras_internals.is_functional(model)):
        raise TypeError(
            f"`model` must be a functional or Sequential Keras model, got the subclassed "
            f"model {type(model).__name__!r}, whose layers cannot be rebuilt one by one."
        )
    pairs = []  # (original layer, its copy), to copy the weights across
    copy = _convert(model, pairs)
    for layer, new in pairs:
        if not layer.weights:
            continue
        if not new.built:
            new.build_from_config(layer.get_build_config())
        reshaped = type(layer) is LayerScale  # gamma (C,) -> a 1x1 depthwise kernel
        measure = math.prod if reshaped else tuple
        if [measure(w.shape) for w in new.weights] != [measure(w.shape) for w in layer.weights]:
            raise ValueError(
                f"Cannot copy the weights of layer {layer.name!r} into its Keras copy."
            )
        for source, target in zip(layer.weights, new.weights):
            target.assign(keras.ops.reshape(source, target.shape) if reshaped else source)
    return copy


def _convert(model, pairs):
    """Clone ``model`` (and the models nested in it) with Keras' classes; record
    each cloned layer with its original in ``pairs``."""

    reshaped = {}  # see _reduce_sum

    def clone(layer):
        if isinstance(layer, keras.Sequential) or keras_internals.is_functional(layer):
            return _convert(layer, pairs)
        if isinstance(layer, (CustomScaleLayer, Affine, ReduceSum)) or type(layer) is LayerScale:
            return layer  # replaced in call, never called
        if not isinstance(layer, keras.layers.Layer):
            return layer  # Keras' stateless graph operations are reused (or replaced in call)
        if isinstance(layer, BatchNormalization):
            new = _keras_batch_norm(layer)
        else:
            new = layer.__class__.from_config(layer.get_config())
        pairs.append((layer, new))
        return new

    def call(layer, *args, **kwargs):
        """Call a cloned layer; this package's scaled sum, Affine op and
        ReduceSum, ConvNeXt's LayerScale and Keras' add and multiply graph
        operations become Keras layers."""
        if isinstance(layer, CustomScaleLayer):
            return _scaled_sum(layer, *args)
        if isinstance(layer, Affine):
            return _affine(layer, *args)
        if isinstance(layer, ReduceSum):
            return _reduce_sum(layer, *args, reshaped)
        if type(layer) is LayerScale:
            new = _layer_scale(layer, *args)
            if new is None:  # not 4D: Keras' class, reloaded from .keras only
                new = LayerScale.from_config(layer.get_config())
            pairs.append((layer, new))
            return new(*args)
        if type(layer) is keras.layers.Reshape and len(args) == 1 and id(args[0]) in reshaped:
            return layer(reshaped[id(args[0])], **kwargs)  # a reshape of the sum's reshape
        output = _graph_op(layer, args, kwargs)
        return layer(*args, **kwargs) if output is None else output

    sequential = isinstance(model, keras.Sequential)
    return keras.models.clone_model(
        model, clone_function=clone, call_function=None if sequential else call
    )
