"""``to_keras``: a copy of a model made of Keras' own classes, to ship.

A pinned model (``inference_bn=True``, `set_inference_bn`,
`freeze`) contains this package's registered classes,
so its saved files reload only where ``keras_applications_bn`` is imported. The
copy that `to_keras` returns computes the same outputs with Keras' classes
alone, so its ``.keras`` file reloads with only ``keras`` installed, also with
``safe_mode=True`` (there is no ``Lambda``).
"""

import keras

from keras_applications_bn._models import keras_internals
from keras_applications_bn._models.tf_keras import check_not_tf_keras
from keras_applications_bn.layers import Affine, BatchNormalization, CustomScaleLayer, ReduceSum

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


def _affine(op, x):
    """``(x + offset) * scale`` with Keras' own graph operations (what
    ``x + 3.0`` writes in `keras.applications`' MobileNetV3)."""
    if op.offset != 0.0:
        x = keras.ops.add(x, op.offset)
    if op.scale != 1.0:
        x = keras.ops.multiply(x, op.scale)
    return x


def _reduce_sum(op, x):
    """ResNeXt's `ReduceSum` as Keras' own
    sum operation (its float rounding may differ in the last bits: the order in
    which the slices are added is the backend's)."""
    return keras.ops.sum(x, axis=op.axis)


def to_keras(model):
    """A copy of ``model`` with the same weights, made of Keras' own classes.

    Every `BatchNormalization` becomes a
    `keras.layers.BatchNormalization` with the same config and weights; a pinned
    one gets ``trainable=False``, under which Keras 3's layer always normalises
    with its moving statistics, so ``predict`` and even a ``training=True`` call
    give the pinned model's outputs. InceptionResNetV2's
    `CustomScaleLayer` becomes a
    ``Rescaling`` layer and an ``Add`` layer (named as the original), and
    MobileNetV3's `Affine` op Keras' own
    add and multiply operations: the same float operations, so the outputs are
    equal (up to the float rounding by which any compiled call differs from an
    eager one). ResNeXt's `ReduceSum`
    becomes Keras' sum operation (float32 rounding of the order of 1e-6 of the
    largest output). Nested functional and Sequential models are converted too; every
    other layer is cloned from its config. The original model is not changed.

    This is the model to ship after fine-tuning: its ``.keras`` file reloads with
    ``keras.saving.load_model`` (``safe_mode=True`` included) where only Keras
    is installed. What the copy does not keep: ``affine_trainable=False`` (Keras
    has no such state; such gamma/beta become trainable again, which does not
    change any output), the optimizer and compile state (compile the copy to
    train it further).

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
        if [w.shape for w in new.weights] != [w.shape for w in layer.weights]:
            raise ValueError(f"Cannot copy the weights of layer {layer.name!r} into its Keras copy.")
        for source, target in zip(layer.weights, new.weights):
            target.assign(source)
    return copy


def _call(layer, *args, **kwargs):
    """Call a cloned layer; this package's scaled sum, Affine op and ReduceSum
    expand into Keras' own layers and operations."""
    if isinstance(layer, CustomScaleLayer):
        return _scaled_sum(layer, *args)
    if isinstance(layer, Affine):
        return _affine(layer, *args)
    if isinstance(layer, ReduceSum):
        return _reduce_sum(layer, *args)
    return layer(*args, **kwargs)


def _convert(model, pairs):
    """Clone ``model`` (and the models nested in it) with Keras' classes; record
    each cloned layer with its original in ``pairs``."""

    def clone(layer):
        if isinstance(layer, keras.Sequential) or keras_internals.is_functional(layer):
            return _convert(layer, pairs)
        if isinstance(layer, (CustomScaleLayer, Affine, ReduceSum)):
            return layer  # replaced in _call, never called
        if not isinstance(layer, keras.layers.Layer):
            return layer  # Keras' stateless graph operations (``x + 3.0``) are reused
        if isinstance(layer, BatchNormalization):
            new = _keras_batch_norm(layer)
        else:
            new = layer.__class__.from_config(layer.get_config())
        pairs.append((layer, new))
        return new

    sequential = isinstance(model, keras.Sequential)
    return keras.models.clone_model(
        model, clone_function=clone, call_function=None if sequential else _call
    )
