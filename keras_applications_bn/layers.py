"""The BatchNormalization layer that owns its inference mode.

Keras 3 forwards the ``training`` flag of an outer call (``model(x, training=True)``,
``fit``, a nested model) into every layer of a functional model, overriding any
``training=False`` written in the graph. A layer that must stay in inference mode
therefore has to decide that itself. `BatchNormalization` does: when its
``inference_mode`` is on it always normalises with the moving mean and variance
and never updates them, whatever ``training`` it is called with, while gamma and
beta remain ordinary trainable weights. The mode is part of the layer's config,
so it survives ``clone_model``, ``.keras``/``.h5`` saving and reloading.

`CustomScaleLayer`, InceptionResNetV2's scaled residual sum, lives here too:
like the BN layer, it must be registered with Keras on a plain
``import keras_applications_bn`` so that saved models reload. So do
`Affine`, the operation of MobileNetV3's hard-sigmoid, and
`ReduceSum`, the sum inside ResNeXt's grouped convolution.
"""

import keras

from keras_applications_bn._models.checks import check_bool
from keras_applications_bn._models.registration import register
from keras_applications_bn._models.tf_keras import check_not_tf_keras

# public: the layers, and the BN factory a model of your own can use; `channel_axis`,
# `convertible` and `convert` serve the families and `set_inference_bn` only
__all__ = [
    "BatchNormalization",
    "CustomScaleLayer",
    "Affine",
    "ReduceSum",
    "batch_norm",
    "bn_factory",
]

#: What a pinned layer's config says about loading it (its first key, so that
#: Keras' "Could not locate class 'BatchNormalization'" error for a `.keras` file
#: shows it near the top). `BatchNormalization.from_config` drops it.
LOAD_HINT = (
    "import keras_applications_bn before loading this model (pip install "
    "keras-applications-bn); keras_applications_bn.to_keras(model) saves a copy "
    "that Keras alone loads"
)


@register
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with a mode that the layer owns.

    The mode is read when a model's call is traced. After changing
    ``inference_mode`` on a layer of a model that already ran ``fit``/``predict``,
    use `keras_applications_bn.set_inference_bn`, which also drops the
    model's traced functions so the next call sees the new mode.

    Args:
        inference_mode: when ``True`` the layer ignores the ``training`` argument
            and runs as in inference: it normalises with ``moving_mean`` and
            ``moving_variance`` and never updates them. ``gamma`` and ``beta`` keep
            their ``trainable`` status and still receive gradients. When ``False``
            (the default) the layer behaves exactly like Keras' own layer.
        affine_trainable: when ``False``, ``gamma`` and ``beta`` are not trained
            while the layer itself stays ``trainable`` — so a layer that is not
            pinned keeps normalising with batch statistics and updating its moving
            statistics in ``fit``. (In Keras 3 ``trainable=False`` would also switch
            the layer to inference mode.) `keras_applications_bn.freeze` uses
            this to freeze such layers without changing their mode.
        **kwargs: every argument of `keras.layers.BatchNormalization`.
    """

    def __init__(self, *args, inference_mode=False, affine_trainable=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.inference_mode = inference_mode
        self.affine_trainable = affine_trainable

    @property
    def inference_mode(self):
        """Whether the layer always runs in inference mode."""
        return self._inference_mode

    @inference_mode.setter
    def inference_mode(self, value):
        self._inference_mode = check_bool(value, "inference_mode")

    @property
    def affine_trainable(self):
        """Whether ``gamma`` and ``beta`` train (when the layer is trainable)."""
        return self.__dict__.get("_affine_trainable", True)

    @affine_trainable.setter
    def affine_trainable(self, value):
        self._affine_trainable = check_bool(value, "affine_trainable")
        self._sync_affine()

    @property
    def trainable(self):
        return keras.layers.Layer.trainable.fget(self)

    @trainable.setter
    def trainable(self, value):
        # Keras' setter marks every weight created trainable as trainable again.
        keras.layers.Layer.trainable.fset(self, value)
        self._sync_affine()

    def _sync_affine(self):
        for weight in (getattr(self, "gamma", None), getattr(self, "beta", None)):
            if weight is not None:
                weight.trainable = self.trainable and self.affine_trainable

    def build(self, input_shape):
        super().build(input_shape)
        self._sync_affine()

    def call(self, inputs, training=None, mask=None):
        # A Keras 3 model called on a tf_keras tensor is traced into TFOpLambda ops
        # whose weights never train: refuse it (every family but VGG has this layer).
        check_not_tf_keras(inputs, "The input of a model of this package")
        if self._inference_mode:
            training = False
        return super().call(inputs, training=training, mask=mask)

    def get_config(self):
        config = {"requires": LOAD_HINT, **super().get_config()}
        config["inference_mode"] = self._inference_mode
        if not self.affine_trainable:
            config["affine_trainable"] = False
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("requires", None)  # what the file says about loading it, not an argument
        return super().from_config(config)

    def keras_config(self):
        """The config of a `keras.layers.BatchNormalization` that computes the same.

        Returns:
            This layer's config without its own keys (``requires``,
            ``inference_mode``, ``affine_trainable``), with ``trainable=False``
            (Keras 3's inference mode) when the layer is pinned.
        """
        config = self.get_config()
        config.pop("requires")
        pinned = config.pop("inference_mode")
        config.pop("affine_trainable", None)
        if pinned:
            config["trainable"] = False
        return config


def convertible(layer):
    """Raise a TypeError unless `convert` can take ``layer``."""
    if isinstance(layer, BatchNormalization) or type(layer) is keras.layers.BatchNormalization:
        return
    raise TypeError(
        f"Layer {layer.name!r} is a {type(layer).__name__}, a subclass of "
        "keras.layers.BatchNormalization that cannot be converted in place without "
        "losing its own behaviour. Build it from keras_applications_bn.layers."
        "BatchNormalization instead, or set `layer.trainable = False` (which also "
        "puts it in inference mode, but freezes gamma/beta)."
    )


def convert(layer):
    """Make a plain `keras.layers.BatchNormalization` this package's layer, in place.

    Its weights, config and place in the model are kept; it starts unpinned. Once
    converted, its mode is part of its config, so it is saved with the model.
    Layers that already are `BatchNormalization` are returned as they are.
    """
    convertible(layer)
    if not isinstance(layer, BatchNormalization):
        layer.__class__ = BatchNormalization
        layer._inference_mode = False
    return layer


def channel_axis():
    """The channel axis of 4D image tensors under Keras' image data format."""
    return 1 if keras.config.image_data_format() == "channels_first" else -1


def batch_norm(x, inference_bn, *, name, axis=None, **kwargs):
    """Normalise ``x`` with a new BatchNormalization layer.

    This is the one place where architectures create BN layers. Without
    ``inference_bn`` the layer is Keras' own `keras.layers.BatchNormalization`, as
    in `keras.applications`, so the model is made of Keras' classes and its saved
    files reload with Keras alone. With ``inference_bn`` it is this package's
    `BatchNormalization`, pinned to inference mode (and, so the intent reads
    in the graph, also called with ``training=False``; the pin is what makes it
    hold under ``fit`` and nesting). ``axis`` defaults to the channel axis.
    """
    if axis is None:
        axis = 3 if channel_axis() == -1 else 1
    if not inference_bn:
        return keras.layers.BatchNormalization(axis=axis, name=name, **kwargs)(x)
    layer = BatchNormalization(axis=axis, inference_mode=True, name=name, **kwargs)
    return layer(x, training=False)


def bn_factory(inference_bn, **defaults):
    """The BatchNormalization of one model: ``norm(x, name=..., **overrides)``.

    A model function makes it once, from its ``inference_bn`` argument and the
    arguments its family gives every BN layer (``epsilon``, ``momentum``, ...),
    and hands it to its blocks, as timm and torchvision pass ``norm_layer``; each
    call is `batch_norm` with ``defaults`` updated by ``overrides``. The
    returned function's ``inference_bn`` attribute says whether its layers are
    pinned (MobileNetV3 also builds its hard-sigmoid differently then).
    """

    def norm(x, *, name=None, **overrides):
        return batch_norm(x, inference_bn, name=name, **{**defaults, **overrides})

    norm.inference_bn = inference_bn
    return norm


@register
class CustomScaleLayer(keras.layers.Layer):
    """InceptionResNetV2's scaled residual sum: ``shortcut + scale * residual``.

    ``inputs`` is ``[shortcut, residual]``. Keras' InceptionResNetV2 uses an unregistered layer of this class name (so
    automatic layer names, ``custom_scale_layer_N``, are the same); this one is
    registered, so models that contain it save and reload.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@register
class Affine(keras.Operation):
    """``(x + offset) * scale`` as one graph operation of a functional model.

    Keras' MobileNetV3 adds and multiplies Python floats between its layers
    (hard-sigmoid: ``ReLU(6.0)(x + 3.0) * (1 / 6)``). Such operations are not
    layers, so they are not in ``model.layers`` and do not change the layout of
    the official weight files; but Keras cannot rebuild them from a legacy
    ``.h5`` model file. This operation is equally absent from ``model.layers``,
    and, registered here when the package is imported, it reloads from ``.h5``
    and ``.keras`` files alike.
    """

    def __init__(self, offset=0.0, scale=1.0, name=None):
        super().__init__(name=name)
        self.offset = float(offset)
        self.scale = float(scale)

    def call(self, x):
        return (x + self.offset) * self.scale

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, x.dtype)

    def get_config(self):
        return {"offset": self.offset, "scale": self.scale, "name": self.name}


@register
class ReduceSum(keras.layers.Layer):
    """The sum of the inputs over one ``axis``, which disappears.

    ResNeXt (`keras_applications_bn.resnext`) builds its grouped 3x3
    convolution as keras_applications 1.0.8 does: a depthwise convolution, a
    reshape to ``(..., groups, channels per group, channels per group)`` and a
    sum over the input channels of each group. 1.0.8 sums in a ``Lambda`` layer,
    which a saved model can only rebuild with unsafe deserialization; this
    registered layer reloads after ``import keras_applications_bn``.

    Args:
        axis: the axis to sum over (negative counts from the end).
        **kwargs: every argument of `keras.layers.Layer` (``name``, ...).
    """

    def __init__(self, axis, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"`axis` must be an integer, got {axis!r}.")
        self.axis = axis

    def call(self, inputs):
        # slice by slice, in order, as 1.0.8's Lambda added them: the same float32
        # rounding, so a ResNeXt gives 1.0.8's outputs exactly (a tree reduction
        # differs by ~1e-5 of the largest activation after 50 layers)
        total = None
        for part in keras.ops.unstack(inputs, axis=self.axis):
            total = part if total is None else total + part
        return total

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        del shape[self.axis]
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
