"""The API of the standalone keras_applications 1.0.8 that downstream code still
calls (segmentation_models, classification_models, efficientnet): injected
``backend``/``layers``/``models``/``utils`` keywords everywhere, the top-level
``get_submodules_from_kwargs`` and ``correct_pad``, and
``imagenet_utils._obtain_input_shape``/``preprocess_input`` with 1.0.8's
signatures. Compared with the installed keras_applications 1.0.8 where it can
run on Keras 3."""

import importlib
import itertools
import types
import warnings

import keras
import keras_applications as ka108  # keras_applications==1.0.8, a test extra
import keras_applications.imagenet_utils as ka108_imagenet_utils
import numpy as np
import pytest

import keras_applications_bn as kab
from keras_applications_bn import imagenet_utils, legacy

from architectures import keras_applications_108_modules

KERAS3 = dict(backend=keras.backend, layers=keras.layers, models=keras.models, utils=keras.utils)

MODEL_MODULES = [
    importlib.import_module(f"keras_applications_bn.{name}")
    for name in sorted(kab._SUBMODULES - {"imagenet_utils"})
    if hasattr(importlib.import_module(f"keras_applications_bn.{name}"), "preprocess_input")
]
MODEL_FUNCTIONS = [
    (module, fn)
    for module in MODEL_MODULES
    for fn in module.__all__
    if fn not in ("preprocess_input", "decode_predictions")
]


def fake_module(name):
    return types.ModuleType(name)


def test_installed_reference_is_1_0_8():
    assert ka108.__version__ == "1.0.8"


def test_every_model_module_is_covered():
    assert len(MODEL_MODULES) >= 15 and len(MODEL_FUNCTIONS) >= 38
    assert {m.__name__.rsplit(".", 1)[-1] for m in MODEL_MODULES} >= {
        "resnet",
        "resnext",
        "vgg16",
        "nasnet",
    }


@pytest.mark.parametrize("module,fn", MODEL_FUNCTIONS, ids=lambda v: getattr(v, "__name__", v))
def test_model_functions_check_injected_modules_before_building(module, fn):
    """Every model function: a wrong module, a tf_keras module, or another unknown
    keyword is refused at once (no model is built: these calls take milliseconds)."""
    function = getattr(module, fn)
    with pytest.raises(
        TypeError, match=r"`backend` must be Keras 3's `keras.backend`.*module 'keras.layers'"
    ):
        function(weights=None, backend=keras.layers)
    with pytest.raises(TypeError, match=r"`layers` is module 'tf_keras.layers', a tf_keras"):
        function(weights=None, layers=fake_module("tf_keras.layers"))
    with pytest.raises(TypeError, match=r"`utils` must be.*str 'keras.utils'"):
        function(weights=None, utils="keras.utils")
    with pytest.raises(TypeError, match="unexpected keyword argument 'bakend'"):
        function(weights=None, bakend=keras.backend)


def test_a_model_built_with_injected_keras3_modules_is_the_same_model():
    """1.0.8-style call: positional arguments in 1.0.8's order, the four modules injected."""
    from keras_applications_bn.mobilenet import MobileNet

    plain = MobileNet((32, 32, 3), 0.25, 1, 1e-3, False, None)
    injected = MobileNet((32, 32, 3), 0.25, 1, 1e-3, False, None, **KERAS3)
    table = lambda m: [(type(l).__name__, [tuple(w.shape) for w in l.weights]) for l in m.layers]  # noqa: E731
    assert table(injected) == table(plain) and injected.output.shape == (None, 1, 1, 256)


def test_keras3_modules_under_other_paths_are_accepted():
    import tensorflow as tf

    for keyword in legacy.INJECTED_KEYWORDS:
        for module in (
            getattr(keras, keyword),
            importlib.import_module(f"keras.src.{keyword}"),
            getattr(tf.keras, keyword),  # TensorFlow >= 2.16 serves Keras 3 as tf.keras
        ):
            assert legacy.check_injected_module(keyword, module) is getattr(keras, keyword)
        assert legacy.check_injected_module(keyword, None) is getattr(keras, keyword)


def test_keras2_named_keras_is_refused_as_tf_keras(monkeypatch):
    """A Keras 2 installed as ``keras`` (whose modules are ``keras.layers`` too)."""
    keras2 = fake_module("keras")
    keras2.__version__ = "2.15.0"
    layers2 = fake_module("keras.layers")
    monkeypatch.setitem(__import__("sys").modules, "keras", keras2)
    with pytest.raises(TypeError, match="tf_keras \\(Keras 2\\)"):
        legacy.check_injected_module("layers", layers2)


def test_preprocess_input_and_decode_predictions_of_every_module_accept_injected_modules(
    monkeypatch,
):
    monkeypatch.setattr(
        imagenet_utils, "_class_index", {i: (f"n{i:08d}", f"class{i}") for i in range(1000)}
    )
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    preds = np.random.default_rng(1).uniform(size=(2, 1000)).astype("float32")
    for module in MODEL_MODULES:
        np.testing.assert_array_equal(
            module.preprocess_input(x, **KERAS3), module.preprocess_input(x)
        )
        assert module.decode_predictions(preds, top=2, **KERAS3) == module.decode_predictions(
            preds, top=2
        )
        for function, args in (
            (module.preprocess_input, (x,)),
            (module.decode_predictions, (preds,)),
        ):
            with pytest.raises(TypeError, match="`models` is module 'tf_keras.models', a tf_keras"):
                function(*args, models=fake_module("tf_keras.models"))
            with pytest.raises(TypeError, match="unexpected keyword argument 'modes'"):
                function(*args, modes="tf")


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_imagenet_utils_preprocess_input_matches_1_0_8(mode):
    """``preprocess_input(x, data_format=None, mode=..., **kwargs)``, injected modules included."""
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    # both overwrite a float array in place: each gets its own copy
    ours = imagenet_utils.preprocess_input(x.copy(), None, mode, **KERAS3)
    reference = ka108_imagenet_utils.preprocess_input(
        x.copy(), None, mode, **keras_applications_108_modules()
    )
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-4)
    with pytest.raises(TypeError, match="Invalid keyword argument.*colour"):
        imagenet_utils.preprocess_input(x, mode=mode, colour="rgb")


def test_get_submodules_from_kwargs_matches_1_0_8():
    kwargs = dict(KERAS3)
    assert (
        kab.get_submodules_from_kwargs(kwargs)
        == ka108.get_submodules_from_kwargs(kwargs)
        == (keras.backend, keras.layers, keras.models, keras.utils)
    )
    assert kwargs == KERAS3  # read, not popped
    # a key left out: Keras 3's module (1.0.8 fell back to what Keras 2.2 had registered)
    assert kab.get_submodules_from_kwargs({"layers": keras.layers}) == (
        keras.backend,
        keras.layers,
        keras.models,
        keras.utils,
    )
    assert kab.get_submodules_from_kwargs({}) == (
        keras.backend,
        keras.layers,
        keras.models,
        keras.utils,
    )
    for bad in ({"weights": None}, {**KERAS3, "name": "x"}):
        with pytest.raises(TypeError):
            ka108.get_submodules_from_kwargs(bad)
        with pytest.raises(
            TypeError, match="Invalid keyword argument.*(weights|name).*backend, layers"
        ):
            kab.get_submodules_from_kwargs(bad)
    with pytest.raises(TypeError, match="`backend` is module 'tf_keras.backend', a tf_keras"):
        kab.get_submodules_from_kwargs({"backend": fake_module("tf_keras.backend")})
    with pytest.raises(TypeError, match="must be a dict"):
        kab.get_submodules_from_kwargs([("backend", keras.backend)])


SHAPES = [(32, 32), (33, 31), (224, 224), (7, 8), (None, None)]
KERNELS = [3, 5, (3, 5), 2, (1, 4)]


def test_correct_pad_matches_1_0_8():
    backend_108 = keras_applications_108_modules()["backend"]
    for (h, w), kernel in itertools.product(SHAPES, KERNELS):
        inputs = keras.Input((h, w, 3))  # a KerasTensor: 1.0.8 read it with int_shape
        expected = ka108.correct_pad(backend_108, inputs, kernel)
        assert kab.correct_pad(keras.backend, inputs, kernel) == expected, (h, w, kernel)
        if h is not None:  # an array or an eager tensor works as well
            x = np.zeros((1, h, w, 3), "float32")
            assert kab.correct_pad(keras.backend, x, kernel) == expected
            assert (
                kab.correct_pad(keras.backend, keras.ops.convert_to_tensor(x), kernel) == expected
            )
    with pytest.raises(TypeError, match="`backend` must be"):
        kab.correct_pad(keras.layers, keras.Input((8, 8, 3)), 3)
    with pytest.raises(ValueError, match="`inputs` must be a 4D tensor"):
        kab.correct_pad(keras.backend, np.zeros((8, 8, 3)), 3)
    with pytest.raises(ValueError, match="`kernel_size`"):
        kab.correct_pad(keras.backend, keras.Input((8, 8, 3)), (3, 3, 3))


def test_correct_pad_reads_the_data_format_from_the_backend():
    inputs = keras.Input((3, 33, 32))
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        assert kab.correct_pad(keras.backend, inputs, 3) == ((1, 1), (0, 1))
    finally:
        keras.config.set_image_data_format(previous)


def _outcome(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", tuple(call()))
        except ValueError:
            result = ("ValueError", None)
    return result, any("input channels" in str(w.message) for w in caught)


def test_obtain_input_shape_matches_1_0_8_positionally():
    """1.0.8's positional signature; the same shape, ValueError or channel warning."""
    cases = 0
    for data_format in ("channels_last", "channels_first"):

        def shape(h, w, c, data_format=data_format):
            return (h, w, c) if data_format == "channels_last" else (c, h, w)

        shapes = [
            None,
            shape(224, 224, 3),
            shape(32, 32, 3),
            shape(31, 40, 3),
            shape(200, 100, 3),
            shape(None, None, 3),
            shape(64, 64, 1),
            shape(64, 64, 4),
            shape(None, 48, 3),
        ]
        for input_shape, require_flatten, weights in itertools.product(
            shapes, (True, False), (None, "imagenet")
        ):
            args = (input_shape, 224, 32, data_format, require_flatten, weights)
            ours = _outcome(lambda args=args: imagenet_utils._obtain_input_shape(*args))
            reference = _outcome(lambda args=args: ka108_imagenet_utils._obtain_input_shape(*args))
            assert ours == reference, args
            cases += 1
    assert cases == 72
    # weights is optional, as in 1.0.8
    assert imagenet_utils._obtain_input_shape(None, 299, 75, "channels_last", False) == (
        None,
        None,
        3,
    )
