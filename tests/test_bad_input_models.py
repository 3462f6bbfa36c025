"""Bad input to every public model function (issues #26 and #27).

Each argument of each model function gets the classic bad values: a string for a
flag, a float or bool for a size, NaN/inf/huge widths, zero and negative sizes
and classes, a NumPy array for ``input_tensor``, a directory or a text file for
``weights``. Each is refused with a TypeError (wrong kind) or ValueError (right
kind, wrong value) whose message names the argument, before any layer is built
or any file downloaded. NumPy scalars (``np.int64``, ``np.float32``,
``np.bool_``) are what Keras takes for Python's, and are accepted: one model
per family is built with them.

The shared checkers of ``keras_applications_bn._models.checks`` that all of this rests
on are tested at the end.
"""

import inspect
import math
import re

import keras
import numpy as np
import pytest

import keras_applications_bn as kab
from keras_applications_bn._models import checks as _checks
from keras_applications_bn.weights import registry

from architectures import FAMILIES

#: every public model function (the registry has one row per function)
MODEL_FUNCTIONS = sorted(registry.MODELS)

INF, NAN = float("inf"), float("nan")
#: a 4D Keras tensor with 0 channels, made before any test forbids building layers
ZERO_CHANNELS = keras.Input((32, 32, 0))


def parameters(fn):
    return inspect.signature(getattr(kab, fn)).parameters


@pytest.fixture
def nothing_built(monkeypatch):
    """Creating any layer (keras.Input's InputLayer included) fails loudly, and
    nothing may be downloaded: a refusal must come before both."""

    def refuse(*args, **kwargs):
        raise AssertionError("a layer was built before the arguments were checked")

    monkeypatch.setattr(keras.layers.Layer, "__init__", refuse)
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")


@pytest.fixture(scope="module")
def bad_paths(tmp_path_factory):
    """A directory, and an existing file whose name Keras loads no weights from."""
    root = tmp_path_factory.mktemp("bad_weights")
    text = root / "foo.txt"
    text.write_text("not weights\n")
    upper = root / "weights.H5"
    upper.write_bytes(b"\x89HDF\r\n\x1a\n")
    return {"DIRECTORY": str(root), "TEXT_FILE": str(text), "UPPER_CASE": str(upper)}


TOP = {"include_top": True}
#: (argument, bad value, error, regex the message must match, other arguments).
#: Every function that has the argument gets it; the rest of the call is
#: weights=None, include_top=False and a valid input_shape.
BAD_VALUES = [
    # flags: only True/False (NumPy bools too); "no" would otherwise switch them on
    ("include_top", "no", TypeError, "must be True or False", {}),
    ("include_top", 1, TypeError, "must be True or False", {}),
    ("include_top", None, TypeError, "must be True or False", {}),
    ("inference_bn", "no", TypeError, "must be True or False", {}),
    ("minimalistic", "no", TypeError, "must be True or False", {}),
    ("minimalistic", 1, TypeError, "must be True or False", {}),
    ("include_preprocessing", "no", TypeError, "must be True or False", {}),
    ("include_preprocessing", 0, TypeError, "must be True or False", {}),
    # sizes: positive integers (NumPy's too) or None
    ("input_shape", (32.5, 32, 3), TypeError, r"32\.5 of type float is not an integer", {}),
    ("input_shape", (64.9, 33.5, 3), TypeError, "not an integer", {}),
    ("input_shape", (64.0, 64, 3), TypeError, "not an integer", {}),
    ("input_shape", (np.float32(64), 64, 3), TypeError, "not an integer", {}),
    ("input_shape", (INF, 64, 3), TypeError, "not an integer", {}),
    ("input_shape", (64, 64, True), TypeError, "True of type bool is not an integer", {}),
    ("input_shape", "64", TypeError, "tuple of positive integers", {}),
    ("input_shape", 64, TypeError, "tuple of positive integers", {}),
    ("input_shape", (64, 64, 0), ValueError, "0 is not a positive size", {}),
    ("input_shape", (-64, 64, 3), ValueError, "-64 is not a positive size", {}),
    ("input_shape", (64, 64), ValueError, "3 entries", {}),
    (
        "input_tensor",
        ZERO_CHANNELS,
        ValueError,
        r"has shape \(None, 32, 32, 0\).*positive size",
        {},
    ),
    (
        "input_tensor",
        np.zeros((2, 32, 32, 3)),
        TypeError,
        r"must be a Keras tensor .*got ndarray of shape \(2, 32, 32, 3\)\. .*input_shape=\(32, 32, 3\)",
        {},
    ),
    ("input_tensor", [[1.0]], TypeError, "must be a Keras tensor", {}),
    # classes (with the top): a positive integer, not a float or a bool
    ("classes", 2.0, TypeError, "must be a positive int", TOP),
    ("classes", True, TypeError, "must be a positive int", TOP),
    ("classes", "10", TypeError, "must be a positive int", TOP),
    ("classes", 0, ValueError, "must be a positive int", TOP),
    ("classes", -1, ValueError, "must be a positive int", TOP),
    # widths: finite, above 0, not absurdly large (1e308 overflowed)
    ("alpha", NAN, ValueError, "must be a positive number", {}),
    ("alpha", INF, ValueError, "must be a positive number", {}),
    ("alpha", 1e308, ValueError, "at most 1e\\+06", {}),
    ("alpha", 10**400, ValueError, "must be a positive number", {}),
    ("alpha", 0, ValueError, "must be a positive number", {}),
    ("alpha", -0.5, ValueError, "must be a positive number", {}),
    ("alpha", True, TypeError, "must be a positive number", {}),
    ("alpha", "1.0", TypeError, "must be a positive number", {}),
    ("depth_multiplier", True, TypeError, "must be a positive int", {}),
    ("depth_multiplier", 2.0, TypeError, "must be a positive int", {}),
    ("depth_multiplier", 0, ValueError, "must be a positive int", {}),
    # dropout rates (with the top): in [0, 1)
    ("dropout", 2.0, ValueError, r"in \[0, 1\)", TOP),
    ("dropout", 1.0, ValueError, r"in \[0, 1\)", TOP),
    ("dropout", -0.1, ValueError, r"in \[0, 1\)", TOP),
    ("dropout", NAN, ValueError, r"in \[0, 1\)", TOP),
    ("dropout", "0.1", TypeError, r"in \[0, 1\)", TOP),
    ("dropout", True, TypeError, r"in \[0, 1\)", TOP),
    ("dropout_rate", -0.2, ValueError, r"in \[0, 1\)", TOP),
    ("dropout_rate", NAN, ValueError, r"in \[0, 1\)", TOP),
    ("dropout_rate", None, TypeError, r"in \[0, 1\)", TOP),
    # choices and weights
    ("pooling", "mean", ValueError, "must be None, 'avg' or 'max'", {}),
    ("pooling", np.array(["avg"]), ValueError, "must be None, 'avg' or 'max'", {}),
    ("weights", "DIRECTORY", ValueError, "is a directory, not a weights file", {}),
    (
        "weights",
        "TEXT_FILE",
        ValueError,
        r"foo\.txt' is not a weights file Keras can load.*\.weights\.h5",
        {},
    ),
    ("weights", "UPPER_CASE", ValueError, "is not a weights file Keras can load", {}),
    ("weights", 5, TypeError, "must be None, 'imagenet' or the path", {}),
]


def case_id(case):
    argument, value, error, _, _ = case
    shown = f"ndarray{value.shape}" if isinstance(value, np.ndarray) else repr(value)
    return f"{argument}={shown[:30]}-{error.__name__}"


@pytest.mark.parametrize("case", BAD_VALUES, ids=[case_id(c) for c in BAD_VALUES])
def test_every_model_function_refuses_bad_values_before_building(case, bad_paths, nothing_built):
    argument, value, error, match, extra = case
    # the package's public model functions: its capitalised functions (the tools are
    # lower-case functions or classes)
    exported = {
        name for name in kab.__all__ if name[0].isupper() and inspect.isfunction(getattr(kab, name))
    }
    assert set(MODEL_FUNCTIONS) == exported  # the table walks every public model function
    value = bad_paths.get(value, value) if isinstance(value, str) else value
    functions = [fn for fn in MODEL_FUNCTIONS if argument in parameters(fn)]
    assert functions, argument
    for fn in functions:
        size = registry.model_spec(fn).min_size
        kwargs = {"weights": None, "include_top": False, "input_shape": (size, size, 3), **extra}
        if argument == "input_tensor":
            del kwargs["input_shape"]
        kwargs[argument] = value
        with pytest.raises(error) as info:
            getattr(kab, fn)(**kwargs)
        message = str(info.value)
        assert f"`{argument}`" in message, (fn, message)
        assert len(message) < 500 and "0. 0." not in message, (fn, message)  # no array dumped
        assert re.search(match, message), (fn, message)


def numpy_arguments(fn, size):
    """A call of ``fn`` with NumPy scalars for every size, count, width and flag
    it takes (values Keras takes as Python's)."""
    params = parameters(fn)
    kwargs = {
        "weights": None,
        "include_top": np.True_,
        "classes": np.int64(3),
        "inference_bn": np.False_,
        "input_shape": np.array([size, size, 3])
        if fn in ("MobileNet", "ResNet50", "ResNet50V2")
        else (np.int64(size), np.int32(size), np.uint8(3)),
    }
    optional = {
        "alpha": np.float64(0.25) if fn == "MobileNet" else np.float32(0.75),
        "depth_multiplier": np.int64(1),
        "dropout": np.float32(0.25),
        "dropout_rate": np.float64(0.1),
        "minimalistic": np.False_,
        "include_preprocessing": np.True_,
    }
    kwargs.update({k: v for k, v in optional.items() if k in params})
    return kwargs


#: the families whose NumPy-scalar build runs in the fast lane: every kind of
#: argument (classes, sizes, flags, alpha, depth_multiplier, dropout, dropout_rate,
#: minimalistic, include_preprocessing) is among theirs
FAST = {"MobileNet", "MobileNetV3Small"}


@pytest.mark.parametrize(
    "arch",
    [pytest.param(a, marks=() if a.fn in FAST else pytest.mark.slow) for a in FAMILIES],
    ids=str,
)
def test_numpy_scalars_are_accepted_as_keras_accepts_them(arch):
    """One model per family, built at its smallest size with NumPy scalars for every
    integer, width and flag: the same model as with Python's."""
    size = arch.min_size
    kwargs = numpy_arguments(arch.fn, size)
    keras.backend.clear_session()
    model = getattr(kab, arch.fn)(**kwargs)
    assert tuple(model.input.shape) == (None, size, size, 3)
    assert tuple(model.output.shape) == (None, 3)
    plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in kwargs.items()}
    plain["input_shape"] = tuple(int(d) for d in kwargs["input_shape"])
    assert all(type(v) in (bool, int, float, tuple, type(None)) for v in plain.values()), plain
    keras.backend.clear_session()
    reference = getattr(kab, arch.fn)(**plain)
    assert [(type(l).__name__, [tuple(w.shape) for w in l.weights]) for l in model.layers] == [
        (type(l).__name__, [tuple(w.shape) for w in l.weights]) for l in reference.layers
    ]
    assert model.name == reference.name
    assert all(type(getattr(l, "inference_mode", False)) is bool for l in kab.bn_layers(model))


def test_the_issues_cases():
    """The calls the issues quote, with what each now says."""
    with pytest.raises(TypeError, match=r"`input_shape` .*got \(64\.9, 33\.5, 3\)"):
        kab.ResNet50(input_shape=(64.9, 33.5, 3), weights=None, include_top=False)
    with pytest.raises(TypeError, match=r"`input_shape` .*got \(32\.7, 32\.7, 3\)"):
        kab.MobileNet(input_shape=(32.7, 32.7, 3), weights=None, include_top=False)
    with pytest.raises(ValueError, match=r"`input_shape` .*got \(32, 32, 0\)"):
        kab.MobileNet(input_shape=(32, 32, 0), weights=None, include_top=False)
    with pytest.raises(TypeError, match=r"`depth_multiplier` must be a positive int, got True"):
        kab.MobileNet(
            depth_multiplier=True, weights=None, include_top=False, input_shape=(32, 32, 3)
        )
    with pytest.raises(ValueError, match=r"`alpha` must be a positive number of at most"):
        kab.MobileNet(alpha=1e308, weights=None, include_top=False, input_shape=(32, 32, 3))
    with pytest.raises(
        ValueError, match=r"`alpha` must be at least 1/32"
    ):  # Keras: filters=0 at build
        kab.MobileNet(alpha=0.02, weights=None, include_top=False, input_shape=(32, 32, 3))
    model = kab.ResNet50(classes=np.int64(5), weights=None, input_shape=(32, 32, 3))
    assert tuple(model.output.shape) == (None, 5)
    model = kab.MobileNet(
        include_top=np.bool_(False),
        weights=None,
        input_shape=(32, 32, 3),
        alpha=0.25,
        pooling="avg",
    )
    assert tuple(model.output.shape) == (None, 256)


def test_weights_files_are_checked_before_building(tmp_path, monkeypatch):
    """A file named .h5 that is not HDF5 is refused before any layer is built (it
    was refused only after building the model), saying what it is; a real
    ``.weights.h5`` still loads."""
    source = kab.MobileNet(weights=None, include_top=False, alpha=0.25, input_shape=(32, 32, 3))
    path = str(tmp_path / "mine.weights.h5")
    source.save_weights(path)
    loaded = kab.MobileNet(weights=path, include_top=False, alpha=0.25, input_shape=(32, 32, 3))
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    fake = tmp_path / "fake.h5"
    fake.write_text("hello")

    def refuse(*args, **kwargs):
        raise AssertionError("a layer was built before `weights` was checked")

    monkeypatch.setattr(keras.layers.Layer, "__init__", refuse)
    with pytest.raises(ValueError, match=r"fake\.h5'?: the file is not an HDF5 file"):
        kab.ResNet50(weights=str(fake), include_top=False, input_shape=(32, 32, 3))


def test_nasnet_builder_arguments():
    from keras_applications_bn import nasnet

    for kwargs, error, name in (
        ({"num_blocks": 2.0}, TypeError, "num_blocks"),
        ({"penultimate_filters": True}, TypeError, "penultimate_filters"),
        ({"stem_block_filters": 0}, ValueError, "stem_block_filters"),
        ({"skip_reduction": "no"}, TypeError, "skip_reduction"),
        ({"default_size": 224.0}, TypeError, "default_size"),
    ):
        with pytest.raises(error, match=f"`{name}`"):
            nasnet.NASNet(weights=None, include_top=False, input_shape=(32, 32, 3), **kwargs)


# --------------------------------------------------------------------------
# The shared checkers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2.0, True, np.True_, "2", None, np.float32(2), 2 + 0j], ids=repr)
def test_integers_are_integral_not_bool_not_float(value):
    with pytest.raises(TypeError, match="`n` must be a positive int"):
        _checks.check_positive_int(value, "n")
    with pytest.raises(TypeError, match="`n` must be an int"):
        _checks.check_int(value, "n")


def test_integer_values():
    for value in (1, np.int64(7), np.uint8(3), np.int32(2)):
        out = _checks.check_positive_int(value, "n")
        assert out == value and type(out) is int
    for value in (0, -1, np.int64(0)):
        with pytest.raises(ValueError, match="`n` must be a positive int, got n="):
            _checks.check_positive_int(value, "n")
    assert _checks.check_positive_int(None, "n", allow_none=True) is None
    assert _checks.check_int(0, "n") == 0
    assert _checks.check_int(1000, "top", minimum=1, maximum=1000) == 1000
    with pytest.raises(ValueError, match=r"`top` must be an int in \[1, 1000\], got top=1001"):
        _checks.check_int(1001, "top", minimum=1, maximum=1000)


def test_positive_numbers():
    for value in (0.5, 3, np.float32(0.25), np.float16(2), np.int64(4)):
        out = _checks.check_positive(value, "x")
        assert out == float(value) and type(out) is float
    for value in (0, -1.0, NAN, INF, -INF, 10**400):  # 10**400: too large for a float
        with pytest.raises(ValueError, match="`x` must be a positive number"):
            _checks.check_positive(value, "x")
    for value in (True, np.False_, "1", None, 1j, np.complex64(1)):
        with pytest.raises(TypeError, match="`x` must be a positive number"):
            _checks.check_positive(value, "x")
    assert _checks.check_positive(5, "x", maximum=5) == 5.0
    with pytest.raises(ValueError, match="at most 5"):
        _checks.check_positive(5.5, "x", maximum=5)
    # the other number checks refuse huge ints the same way (not OverflowError)
    with pytest.raises(ValueError, match="`prior`"):
        _checks.check_prior(10**400)
    with pytest.raises(ValueError, match="finite and >= 0"):
        _checks.check_factor(10**400, "conv1", "multipliers")


def test_rates():
    assert (
        _checks.check_rate(0, "rate") == 0.0 and _checks.check_rate(np.float32(0.5), "rate") == 0.5
    )
    for value in (1, 1.5, -0.1, NAN, INF):
        with pytest.raises(ValueError, match=r"`rate` must be a number in \[0, 1\)"):
            _checks.check_rate(value, "rate")
    for value in (True, "0.1", None):
        with pytest.raises(TypeError, match=r"`rate` must be a number in \[0, 1\)"):
            _checks.check_rate(value, "rate")


def test_shapes():
    assert _checks.check_shape((np.int64(8), None, 3)) == (8, None, 3)
    assert _checks.check_shape([8, 8, 3], length=3) == (8, 8, 3)
    assert _checks.check_shape(np.array([8, 9, 3])) == (8, 9, 3)
    assert all(type(d) is int for d in _checks.check_shape(np.array([8, 9, 3])))
    for value in (
        (8.0, 8, 3),
        (8, 8, np.True_),
        (8, "8", 3),
        "883",
        8,
        np.array(8),
        {8: 3},
        (8, 8, 3j),
    ):
        with pytest.raises(TypeError, match="`input_shape` must be a tuple of positive integers"):
            _checks.check_shape(value)
    for value in ((0, 8, 3), (8, 8, -3)):
        with pytest.raises(ValueError, match="is not a positive size"):
            _checks.check_shape(value)
    with pytest.raises(ValueError, match="must have 3 dimensions"):
        _checks.check_shape((8, 8), length=3)


def test_choices():
    assert _checks.check_choice(None, "pooling", (None, "avg")) is None
    assert type(_checks.check_choice(np.str_("avg"), "pooling", (None, "avg"))) is str
    for value in ("mean", 0, np.array(["avg"]), ["avg"]):
        with pytest.raises(ValueError, match="`pooling` must be None or 'avg'"):
            _checks.check_choice(value, "pooling", (None, "avg"))


def test_no_math_errors_leak():
    """math.isfinite on a huge int raises OverflowError: no checker lets it out."""
    assert not math.isfinite(1e308 * 10)
    for check in (lambda v: _checks.check_positive(v, "x"), lambda v: _checks.check_rate(v, "x")):
        with pytest.raises(ValueError):
            check(10**400)
