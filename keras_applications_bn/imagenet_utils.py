"""What Keras' module of this name has: ImageNet preprocessing
(`preprocess_input`), prediction decoding (`decode_predictions`) and
the input shape rules (`obtain_input_shape`).

The helpers that build every model live in ``keras_applications_bn._models``.

A little over the package's ~400-line guide: it mirrors Keras' module of this name,
and its functions are kept together as Keras keeps them."""

import json
import warnings

import keras
import numpy as np

from keras_applications_bn import legacy
from keras_applications_bn import weights as weights_lib
from keras_applications_bn._models.checks import check_int, check_shape

__all__ = [
    "preprocess_input",
    "decode_predictions",
    "obtain_input_shape",
    "spatial_size",
    "weights_size",
]

_MODES = ("caffe", "tf", "torch")
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: ImageNet per-channel mean and standard deviation (RGB, in [0, 1]): "torch" mode,
#: and the in-model normalisation of EfficientNet/EfficientNetV2.
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)

_class_index = None


# --------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------


def _data_format(data_format):
    if data_format is None:
        return keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last', 'channels_first' or None "
            f"(Keras' image_data_format), got {data_format!r}."
        )
    return data_format


def preprocess_input(x, data_format=None, mode="caffe", **kwargs):
    """Preprocess a batch of RGB images with values in [0, 255].

    Works as `keras.applications.imagenet_utils.preprocess_input` does, in place
    included: a floating-point NumPy array (float16, float32, float64) is
    overwritten with the result, so code that ignores the return value gets the
    same images as with Keras. Use the return value anyway: in ``"caffe"`` mode
    it is the BGR view of ``x`` (``x`` itself keeps RGB order, each channel
    centred), and integer arrays, lists, tensors and variables are never
    modified (a new float array or tensor is returned).

    Args:
        x: NumPy array (or nested list) or tensor, 3D (one image) or 4D (a batch),
            with 3 colour channels in RGB order (any number in ``"tf"`` mode).
        data_format: ``"channels_last"``, ``"channels_first"`` or ``None`` for
            Keras' ``image_data_format()``.
        mode: one of
            - ``"caffe"``: RGB to BGR, then subtract the ImageNet mean of each
              channel (no scaling) — VGG, ResNet.
            - ``"tf"``: scale to [-1, 1] — Inception, MobileNet.
            - ``"torch"``: scale to [0, 1], then normalise each channel with the
              ImageNet mean and standard deviation.
        **kwargs: only the ``backend``, ``layers``, ``models`` and ``utils``
            modules that code written for keras_applications 1.0.8 injects
            (Keras 3's own, see `keras_applications_bn.legacy`).

    Returns:
        The preprocessed images: ``x`` itself for a float NumPy array in
        ``"tf"`` and ``"torch"`` mode, a view of ``x`` in ``"caffe"`` mode, else
        a new float array (``keras.config.floatx()`` for integer input) or tensor.
    """
    legacy.get_submodules_from_kwargs(kwargs)
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}, got {mode!r}.")
    data_format = _data_format(data_format)
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)  # a new array: Keras refuses lists (AttributeError)
    if isinstance(x, np.ndarray):
        return _preprocess_numpy(x, data_format, mode)
    return _preprocess_tensor(x, data_format, mode)


def _check_shape(shape, data_format, mode):
    """Refuse, before anything is modified, what the mode cannot preprocess."""
    if len(shape) not in (3, 4):
        raise ValueError(
            f"`x` must be one image (3D) or a batch of images (4D), got {len(shape)}D input."
        )
    channels = shape[-1] if data_format == "channels_last" else shape[len(shape) - 3]
    if mode != "tf" and channels is not None and channels != 3:
        raise ValueError(
            f"'{mode}' mode needs 3 colour channels (RGB) on the {data_format} axis, "
            f"got x of shape {tuple(shape)}; check `data_format`."
        )


def _per_channel(values, data_format, dtype):
    """A per-channel constant shaped to broadcast against 3D or 4D images.

    Built from the float64 values, then rounded once to ``dtype``: the constant
    Keras subtracts or divides by in that dtype."""
    shape = (3,) if data_format == "channels_last" else (3, 1, 1)
    return np.asarray(values, dtype="float64").reshape(shape).astype(dtype)


def _preprocess_numpy(x, data_format, mode):
    _check_shape(x.shape, data_format, mode)
    if np.issubdtype(x.dtype, np.floating):
        if not x.flags.writeable:
            raise ValueError(
                "`x` is a read-only float array, and `preprocess_input` overwrites "
                "float arrays in place (as Keras' does); pass a writeable copy, "
                "`x.copy()`."
            )
    else:  # a new array: integer images are left as they are
        x = x.astype(keras.config.floatx())
    # Augmented assignments throughout: they write into `x`, as Keras does.
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        x -= _per_channel(IMAGENET_MEAN_RGB, data_format, x.dtype)
        x /= _per_channel(IMAGENET_STD_RGB, data_format, x.dtype)
        return x
    channel_axis = -1 if data_format == "channels_last" else x.ndim - 3
    x = np.flip(x, axis=channel_axis)  # RGB -> BGR: a view of the caller's array
    x -= _per_channel(_CAFFE_MEAN_BGR, data_format, x.dtype)
    return x


def _preprocess_tensor(x, data_format, mode):
    # Augmented assignments as in Keras: a new tensor on TensorFlow and JAX, and the
    # same in-place update as Keras' on backends whose tensors are mutable (torch).
    ops = keras.ops
    if isinstance(x, keras.Variable):  # left as it is, as by Keras' (on torch, too)
        x = ops.copy(x)
    if not keras.backend.is_keras_tensor(x):
        x = ops.convert_to_tensor(x)
    _check_shape(tuple(x.shape), data_format, mode)
    if not keras.backend.is_float_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())

    def constant(values):
        return ops.convert_to_tensor(_per_channel(values, data_format, "float64"), dtype=x.dtype)

    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        x -= constant(IMAGENET_MEAN_RGB)
        x /= constant(IMAGENET_STD_RGB)
        return x
    channel_axis = -1 if data_format == "channels_last" else len(x.shape) - 3
    x = ops.flip(x, axis=channel_axis)  # RGB -> BGR
    x -= constant(_CAFFE_MEAN_BGR)
    return x


# --------------------------------------------------------------------------
# Decoding predictions
# --------------------------------------------------------------------------


def _load_class_index():
    global _class_index
    if _class_index is None:
        path = weights_lib.fetch("imagenet_class_index")
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        _class_index = {int(k): tuple(v) for k, v in index.items()}
    return _class_index


@legacy.injected_keywords
def decode_predictions(preds, top=5):
    """Turn ImageNet class scores into readable ``(wnid, name, score)`` tuples.

    Args:
        preds: array or tensor of shape ``(batch, 1000)``.
        top: how many of the best classes to return per sample.

    Returns:
        One list per sample of ``(class_id, class_name, score)`` tuples, best
        first. The class index (``imagenet_class_index.json``) is fetched once
        through the weights cache, so it works offline once cached.

    Raises:
        TypeError: ``preds`` is not an array or tensor, or ``top`` is not an int
            (NumPy ints are; ``5.0`` and ``True`` are not).
        ValueError: ``preds`` is not shaped ``(samples, 1000)``, or ``top`` is
            not in [1, 1000].
    """
    if preds is None or isinstance(preds, (str, bytes)):
        raise TypeError(
            "`preds` must be an array or tensor of ImageNet predictions, shaped (samples, 1000), "
            f"got {preds!r}."
        )
    preds = keras.ops.convert_to_numpy(preds) if not isinstance(preds, np.ndarray) else preds
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`preds`: `decode_predictions` expects a batch of ImageNet predictions of shape "
            f"(samples, 1000), got shape {tuple(preds.shape)}."
        )
    top = check_int(top, "top", minimum=1, maximum=1000)
    index = _load_class_index()
    results = []
    for row in preds:
        best = np.argsort(row)[::-1][:top]
        results.append([index[int(i)] + (row[i],) for i in best])
    return results


# --------------------------------------------------------------------------
# Input shapes
# --------------------------------------------------------------------------


def spatial_size(input_shape, data_format=None):
    """The spatial size of an image shape.

    Args:
        input_shape: the shape of one image (without batch).
        data_format: ``"channels_last"``, ``"channels_first"`` or ``None`` for
            Keras' ``image_data_format()``.

    Returns:
        ``(rows, cols)``.
    """
    if _data_format(data_format) == "channels_last":
        return tuple(input_shape[:2])
    return tuple(input_shape[1:])


def weights_size(input_shape, *, default_size, weight_sizes, data_format=None):
    """The square size of the ImageNet weights that fit ``input_shape``.

    Families with weights for several input sizes (e.g. MobileNet's 128, 160, 192
    and 224) use the file of the input's own size when the input is square and of
    one of those sizes, else the default.

    Args:
        input_shape: the shape of one image (without batch), or ``None``.
        default_size: the size of the default weights.
        weight_sizes: the sizes that have weights.
        data_format: ``"channels_last"``, ``"channels_first"`` or ``None``.

    Returns:
        The input's size when it has weights of its own, else ``default_size``.
    """
    if input_shape is not None and len(input_shape) == 3:
        rows, cols = spatial_size(input_shape, data_format)
        if rows == cols and rows in weight_sizes:
            return rows
    return default_size


def obtain_input_shape(
    input_shape,
    *,
    default_size,
    min_size,
    include_top,
    weights,
    data_format=None,
    weight_sizes=None,
):
    """The model's input shape (without batch), checked for the architecture.

    ``include_top`` models need a static shape; with ``weights="imagenet"`` and a
    top the shape must be the one the classifier was trained at: ``default_size``
    square, or, for families with weights at several sizes, any of the square
    ``weight_sizes`` (a square input of one of those sizes is then its own
    default).

    Args:
        input_shape: the ``input_shape`` passed to the model function, or ``None``.
        default_size: the input size of the default ImageNet weights.
        min_size: the smallest spatial size the architecture accepts.
        include_top: whether the model has its classifier.
        weights: the ``weights`` argument of the model function.
        data_format: ``"channels_last"``, ``"channels_first"`` or ``None`` for
            Keras' ``image_data_format()``.
        weight_sizes: the square sizes that have ImageNet weights, for families
            with several; ``None`` otherwise.

    Returns:
        The input shape, a tuple of 3 entries (``None`` for a free spatial size).

    Raises:
        TypeError: ``input_shape`` is not a tuple of integers and Nones (a float
            such as 32.5 or 64.0, or a bool, is not an integer; NumPy integers are).
        ValueError: an ``input_shape`` of the wrong length, a size below 1 (0
            channels included), the wrong size for
            ImageNet weights with the top, spatial sizes below ``min_size``, or
            channel counts other than 3 with ImageNet weights; the message says
            what is allowed.
    """
    data_format = _data_format(data_format)
    channels_last = data_format == "channels_last"

    def shape_of(size, channels=3):
        return (size, size, channels) if channels_last else (channels, size, size)

    if input_shape is not None:
        input_shape = check_shape(input_shape, "input_shape")
        if len(input_shape) != 3:
            raise ValueError(
                f"`input_shape` must have 3 entries ({'(height, width, channels)' if channels_last else '(channels, height, width)'}), "
                f"got {input_shape}."
            )
    if weight_sizes:
        default_size = weights_size(
            input_shape,
            default_size=default_size,
            weight_sizes=weight_sizes,
            data_format=data_format,
        )
    default = shape_of(default_size)

    if weights == "imagenet" and include_top:
        if input_shape is not None and input_shape != default:
            allowed = (
                " or ".join(str(shape_of(s)) for s in sorted(weight_sizes))
                if weight_sizes
                else str(default)
            )
            raise ValueError(
                f"With weights='imagenet' and include_top=True the input shape must be "
                f"{allowed}, got input_shape={input_shape}. Use include_top=False for "
                "other image sizes."
            )
        return default

    if input_shape is None:
        if include_top:
            return default
        return shape_of(None)

    channels = input_shape[-1] if channels_last else input_shape[0]
    spatial = input_shape[:2] if channels_last else input_shape[1:]
    if weights == "imagenet" and channels != 3:
        raise ValueError(f"ImageNet weights need 3 input channels, got input_shape={input_shape}.")
    if channels is None:
        raise ValueError(
            f"The channel dimension of `input_shape` must be known, got {input_shape}."
        )
    if any(s is not None and s < min_size for s in spatial):
        raise ValueError(
            f"Input size must be at least {min_size}x{min_size} for this model; "
            f"got input_shape={input_shape}."
        )
    if include_top and None in spatial:
        raise ValueError(
            "With include_top=True the input needs a static size: pass "
            f"input_shape with height and width, got {input_shape}."
        )
    return input_shape


def _obtain_input_shape(
    input_shape, default_size, min_size, data_format, require_flatten, weights=None
):
    """`obtain_input_shape` with the positional signature of
    ``keras_applications.imagenet_utils._obtain_input_shape`` 1.0.8, for code
    written against that package.

    Args:
        input_shape: None or a shape without batch (an empty one counts as None).
        default_size: the side of the default (and, with ImageNet weights and
            ``require_flatten``, the only) square input.
        min_size: the smallest side accepted.
        data_format: ``"channels_last"``, ``"channels_first"`` or None.
        require_flatten: whether the model has its classifier (``include_top``):
            the shape must then be static.
        weights: ``None``, ``"imagenet"`` or a path.

    Returns:
        The input shape, a tuple (may contain None). As 1.0.8 did, a channel
        count other than 1 or 3 without ImageNet weights is allowed with a
        warning.
    """
    data_format = _data_format(data_format)
    if input_shape is not None and len(input_shape) == 0:
        input_shape = None
    if weights != "imagenet" and input_shape is not None and len(input_shape) == 3:
        channels = input_shape[0] if data_format == "channels_first" else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn(
                f"This model usually expects 1 or 3 input channels, got input_shape={tuple(input_shape)}.",
                stacklevel=2,
            )
    return obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=min_size,
        include_top=bool(require_flatten),
        weights=weights,
        data_format=data_format,
    )
