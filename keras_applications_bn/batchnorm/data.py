"""Data ingestion for adapt_bn_statistics: what ``data`` may be, and its batches.

``data`` is an array or tensor of samples (batched by ``batch_size``), a batched
``tf.data.Dataset`` (or one distributed by a strategy), or an iterable of
batches, whose items may be ``(x, y)``/``(x, y, sample_weight)`` tuples. This
module tells these kinds apart, checks them (and their batches' shape) against
the model before a pass, and yields the model inputs of each batch.
"""

import math
import sys

import keras
import numpy as np

from keras_applications_bn._models.checks import describe

__all__ = [
    "check_batch",
    "check_data",
    "check_data_kind",
    "features",
    "is_array",
    "is_dataset",
    "is_one_shot",
    "iter_batches",
    "iterable_dataset",
    "model_input_shape",
]


def features(item):
    """The model inputs of one batch: ``x`` of ``(x, y)``/``(x, y, w)``, else the item."""
    if isinstance(item, tuple):
        return keras.utils.unpack_x_y_sample_weight(item)[0]
    return item


def is_dataset(data):
    """Whether ``data`` is a ``tf.data.Dataset`` or a distributed dataset."""
    tf = sys.modules.get("tensorflow")  # no dataset exists before TensorFlow is imported
    if tf is None:
        return False
    return isinstance(data, (tf.data.Dataset, tf.distribute.DistributedDataset))


def is_array(data):
    """Whether ``data`` is one array or tensor of samples (batched by ``batch_size``),
    not an iterable of batches: a NumPy array, a backend tensor, or any other
    object with a ``shape``, a ``dtype`` and slicing (a ``tf.constant`` under
    every backend)."""
    if isinstance(data, np.ndarray) or keras.ops.is_tensor(data):
        return True
    return (
        hasattr(data, "shape")
        and hasattr(data, "dtype")
        and hasattr(data, "__getitem__")
        and not is_dataset(data)
    )


def _shape(x):
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    return tuple(None if d is None else int(d) for d in shape)


def model_input_shape(model):
    """The input shape (batch axis included) of a single-input model, else ``None``."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 1:
        return None
    return tuple(inputs[0].shape)


def check_batch(expected, x, what):
    """Raise a ValueError unless batch ``x`` fits a model input of shape ``expected``.

    ``what`` says where the batch came from, for the message."""
    if expected is None:
        return
    flat = keras.tree.flatten(x)
    if len(flat) != 1:
        return
    shape = _shape(flat[0])
    fits = len(shape) == len(expected) and all(
        e is None or s is None or e == s for e, s in zip(expected[1:], shape[1:])
    )
    if fits:
        return
    wanted = "(batch, " + ", ".join("?" if e is None else str(e) for e in expected[1:]) + ")"
    hint = ""
    if len(shape) == len(expected) - 1:
        hint = (
            " It looks like one sample without a batch axis: pass a batch (`x[None]` for one "
            "image), stack a list of images into one array (`np.stack`), and batch a "
            "tf.data.Dataset (`dataset.batch(32)`)."
        )
    raise ValueError(
        f"adapt_bn_statistics: {what} must be shaped {wanted} like the model's input, "
        f"got shape {shape}.{hint}"
    )


def check_data_kind(data, steps):
    """Check what can be checked of ``data`` without the model: its kind, and
    that a ``tf.data.Dataset`` is finite or ``steps`` is given.

    Raises:
        TypeError: ``data`` is not an array or tensor, a dataset, or an iterable.
        ValueError: an infinite dataset without ``steps``.
    """
    expected = (
        "`data` must be a NumPy array or tensor of samples, a batched tf.data.Dataset, "
        "or an iterable of batches"
    )
    if data is None or isinstance(data, (str, bytes, dict)):
        raise TypeError(f"{expected}, got {describe(data)}.")
    if is_array(data):
        return
    if is_dataset(data):
        import tensorflow as tf

        if (
            isinstance(data, tf.data.Dataset)
            and int(data.cardinality()) == tf.data.INFINITE_CARDINALITY
            and steps is None
        ):
            raise ValueError(
                "`data` is an infinite tf.data.Dataset (e.g. `.repeat()`): pass `steps`, "
                "the number of batches to use."
            )
        return
    try:
        iter(data)
    except TypeError:
        raise TypeError(f"{expected}, got {describe(data)}.") from None


def is_one_shot(data):
    """Whether ``data`` can be read only once (a generator or another iterator)."""
    if is_array(data) or is_dataset(data):
        return False
    return (
        iter(data) is data
    )  # an iterator is its own iterator; a list or a dataset makes a new one


def check_data(model, data, batch_size, steps):
    """Check ``data`` before the pass: its kind, and the shape of arrays and of
    datasets' elements. Returns the number of batches when it is known, else ``None``."""
    check_data_kind(data, steps)
    expected = model_input_shape(model)
    if is_array(data):
        check_batch(expected, data, "an array `data`")
        batches = math.ceil(_shape(data)[0] / batch_size)
    elif is_dataset(data):
        import tensorflow as tf

        batches = None
        if isinstance(data, tf.data.Dataset):
            check_batch(expected, features(data.element_spec), "each element of the dataset `data`")
            cardinality = int(data.cardinality())
            batches = cardinality if cardinality >= 0 else None
    else:
        batches = len(data) if hasattr(data, "__len__") else None
    if steps is not None:
        batches = steps if batches is None else min(batches, steps)
    return batches


def iter_batches(data, batch_size, expected):
    """The model inputs of each batch of ``data``: slices of ``batch_size`` samples
    of an array, else each item's features, checked against ``expected``."""
    if is_array(data):
        for start in range(0, _shape(data)[0], batch_size):
            yield data[start : start + batch_size]
    else:
        for item in data:
            x = features(item)
            check_batch(expected, x, "each batch from `data`")
            yield x


def iterable_dataset(data, expected=None):
    """A ``tf.data.Dataset`` of the model inputs of an iterable of batches (``None`` if empty)."""
    import tensorflow as tf

    iterator = (features(item) for item in data)
    first = next(iterator, None)
    if first is None:
        return None
    check_batch(expected, first, "each batch from `data`")
    signature = keras.tree.map_structure(
        lambda a: tf.TensorSpec((None,) + tuple(np.shape(a))[1:], tf.as_dtype(np.asarray(a).dtype)),
        first,
    )

    def generate():
        yield first
        yield from iterator

    return tf.data.Dataset.from_generator(generate, output_signature=signature)
