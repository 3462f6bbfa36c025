"""Arguments each family refuses (the same conditions as keras.applications, with
clear messages), signatures, exports and preprocessing. No test here touches the
network: where weights="imagenet" is used, the error comes before any download,
or downloads are forbidden (KERAS_APPLICATIONS_BN_OFFLINE=1) and the error names
the file that would have been fetched."""

import importlib
import inspect

import keras
import numpy as np
import pytest

import keras_applications_bn as kab
from keras_applications_bn import imagenet_utils
from keras_applications_bn.weights import WeightsError, registry

from architectures import ARCHITECTURES, FUNCTIONS, KERAS_FUNCTIONS


def ours(arch, **kwargs):
    """Our function of ``arch`` with only ``kwargs`` (not the table's own)."""
    return getattr(importlib.import_module(f"keras_applications_bn.{arch.module}"), arch.fn)(
        **kwargs
    )


def reference(arch, **kwargs):
    return getattr(keras.applications, arch.fn)(**kwargs)


def refused_by_both(function, match, **kwargs):
    """Ours raises a ValueError matching ``match``; Keras refuses the same arguments."""
    with pytest.raises(ValueError, match=match):
        ours(function, **kwargs)
    with pytest.raises(ValueError):
        reference(function, **kwargs)


#: every model function with a keras.applications twin and its size rules
SIZED = [a for a in KERAS_FUNCTIONS if a.fixed_size]


@pytest.fixture
def offline(monkeypatch):
    """Nothing may be downloaded: a refusal must come before any download."""
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")


@pytest.mark.parametrize("function", SIZED, ids=str)
def test_refuses_what_keras_refuses(function, offline):
    """Too small an input, ImageNet weights with other than 3 channels, with the top
    at another size than theirs or with other than 1000 classes, a weights path
    that does not exist: ours and Keras' function refuse them (ours with a message
    that says what to pass), before building or downloading anything."""
    m, size = function.min_size, function.default_size
    for shape in ((m - 1, m - 1, 3), (m - 1, m, 3), (m, m - 1, 3)):
        refused_by_both(
            function,
            rf"at least {m}x{m}.*{shape[0]}, {shape[1]}, 3",
            weights=None,
            include_top=False,
            input_shape=shape,
        )
    refused_by_both(
        function,
        "3 input channels",
        weights="imagenet",
        include_top=False,
        input_shape=(size, size, 1),
    )
    for shape in ((size + 16, size + 16, 3), (size, size + 16, 3)):
        refused_by_both(
            function,
            rf"must be.*\({size}, {size}, 3\).*include_top=False",
            weights="imagenet",
            include_top=True,
            input_shape=shape,
        )
    refused_by_both(
        function, "classes` must be 1000", weights="imagenet", include_top=True, classes=10
    )
    refused_by_both(function, "not found", weights="no/such/file.h5")


@pytest.mark.parametrize("function", FUNCTIONS, ids=str)
def test_refuses_what_keras_accepts_silently(function, offline):
    """A top without a static input size (ours only: Keras fails later, or builds a
    model that cannot run) and an unknown ``pooling`` (Keras ignores it)."""
    if function.fixed_size:
        with pytest.raises(ValueError, match="needs a static (size|input height and width)"):
            ours(function, weights=None, include_top=True, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="pooling"):
        ours(function, weights="imagenet", include_top=False, pooling="mean")


@pytest.mark.parametrize("function", KERAS_FUNCTIONS, ids=str)
def test_signature_is_keras_plus_inference_bn(function):
    """Keras' parameters (names, defaults, kinds, order), then ``inference_bn=False``;
    the docstring names the function, inference_bn, and the input size of the
    ImageNet weights with the top.
    (ResNeXt, with no Keras twin: tests/test_resnext.py.)"""
    fn = getattr(getattr(kab, function.module), function.fn)
    params = list(inspect.signature(fn).parameters.values())
    expected = inspect.signature(getattr(keras.applications, function.fn)).parameters.values()
    assert params[-1].name == "inference_bn" and params[-1].default is False
    assert [(p.name, p.default, p.kind) for p in params[:-1]] == [
        (p.name, p.default, p.kind) for p in expected
    ]
    doc = fn.__doc__
    assert getattr(kab, function.fn) is fn
    assert function.fn in doc and "inference_bn" in doc
    if not function.module.startswith(
        "mobilenet"
    ):  # MobileNets: weights at several sizes (test_mobilenet*.py)
        assert f"({function.default_size}, {function.default_size}, 3)" in doc
    assert all(phrase in doc for phrase in function.doc), function.doc
    assert not any(phrase in doc for phrase in function.doc_absent), function.doc_absent


#: one function of each module whose docstring names its preprocessing mode
MODULES = list({a.module: a for a in reversed(FUNCTIONS) if a.preprocessing}.values())


@pytest.mark.parametrize("function", MODULES, ids=lambda f: f.module)
def test_exports(function):
    module = getattr(kab, function.module)
    assert getattr(kab, function.fn) is getattr(module, function.fn)
    functions = set(module.__all__) - {"preprocess_input", "decode_predictions"}
    assert function.fn in functions and len(module.__all__) == len(functions) + 2
    assert all(getattr(kab, fn) is getattr(module, fn) for fn in functions)
    assert module.decode_predictions is imagenet_utils.decode_predictions
    assert function.fn in kab.__all__ and function.module in kab.__all__
    doc = module.__doc__
    assert (
        f'"{function.preprocessing}"' in doc and str(function.default_size) in doc and ".h5" in doc
    )


# preprocess_input of every module vs Keras': tests/test_imagenet_utils.py


def test_vgg_accepts_inference_bn_and_has_no_bn():
    for fn in (kab.VGG16, kab.VGG19):
        model = fn(weights=None, include_top=False, input_shape=(32, 32, 3), inference_bn=True)
        assert kab.bn_layers(model) == []


# --------------------------------------------------------------------------
# MobileNet: weights for four widths and four square sizes, depth_multiplier 1
# --------------------------------------------------------------------------

MOBILENET = next(a for a in FUNCTIONS if a.fn == "MobileNet")


@pytest.mark.parametrize("alpha", [0.3, 0.35, 1.4, 2.0])
def test_mobilenet_imagenet_alpha(alpha):
    refused_by_both(
        MOBILENET,
        r"alpha` must be one of 0\.25, 0\.5, 0\.75 or 1\.0",
        weights="imagenet",
        alpha=alpha,
    )


def test_mobilenet_imagenet_depth_multiplier():
    refused_by_both(
        MOBILENET, "depth_multiplier` must be 1", weights="imagenet", depth_multiplier=2
    )


@pytest.mark.parametrize("shape", [(150, 150, 3), (128, 160, 3), (256, 256, 3), (96, 96, 3)])
def test_mobilenet_imagenet_top_needs_a_size_with_weights(shape):
    refused_by_both(
        MOBILENET,
        r"\(128, 128, 3\) or \(160, 160, 3\) or \(192, 192, 3\) or \(224, 224, 3\)",
        weights="imagenet",
        include_top=True,
        input_shape=shape,
    )


def test_mobilenet_options_are_free_without_imagenet_weights():
    model = ours(
        MOBILENET,
        weights=None,
        include_top=False,
        input_shape=(40, 33, 3),
        alpha=0.3,
        depth_multiplier=3,
    )
    assert model.get_layer("conv_dw_1").depth_multiplier == 3
    assert model.get_layer("conv1").filters == int(32 * 0.3)


@pytest.mark.parametrize(
    "kwargs,fname",
    [
        (dict(alpha=0.25, input_shape=(128, 128, 3)), "mobilenet_2_5_128_tf.h5"),
        (dict(alpha=0.5, input_shape=(160, 160, 3)), "mobilenet_5_0_160_tf.h5"),
        (
            dict(alpha=0.75, input_shape=(192, 192, 3), include_top=False),
            "mobilenet_7_5_192_tf_no_top.h5",
        ),
        (dict(alpha=1.0), "mobilenet_1_0_224_tf.h5"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_mobilenet_imagenet_loads_the_file_of_its_alpha_and_size(kwargs, fname, monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(WeightsError, match=fname):
        ours(MOBILENET, weights="imagenet", **kwargs)


@pytest.mark.parametrize("shape", [None, (100, 100, 3), (128, 160, 3)])
def test_mobilenet_headless_other_sizes_load_224_weights_with_a_warning(shape, monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.warns(UserWarning, match="weights for 224x224"):
        with pytest.raises(WeightsError, match="mobilenet_2_5_224_tf_no_top.h5"):
            ours(MOBILENET, weights="imagenet", include_top=False, alpha=0.25, input_shape=shape)


def test_mobilenet_input_tensor_size_selects_the_weights(monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(WeightsError, match="mobilenet_5_0_160_tf.h5"):
        ours(MOBILENET, weights="imagenet", alpha=0.5, input_tensor=keras.Input((160, 160, 3)))


# --------------------------------------------------------------------------
# Arguments every model function shares, checked before anything is built
# --------------------------------------------------------------------------

MODEL_FUNCTIONS = sorted(registry.MODELS)  # the model table: every model function


@pytest.fixture
def nothing_built(monkeypatch):
    """Make resolving a model's input shape (the step before its input is built) fail
    loudly: an argument error must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model's input was built before the arguments were checked")

    monkeypatch.setattr(imagenet_utils, "obtain_input_shape", refuse)


@pytest.mark.parametrize(
    "value", ["no", "yes", "False", 1, 0, None, 1.0, np.array([True])], ids=repr
)
def test_inference_bn_must_be_a_bool_for_every_model_function(value, nothing_built):
    for fn in MODEL_FUNCTIONS:
        with pytest.raises(TypeError, match=r"`inference_bn` must be True or False"):
            getattr(kab, fn)(weights=None, include_top=False, inference_bn=value)


def test_numpy_bools_are_accepted_for_inference_bn():
    for value, pinned in ((np.True_, True), (np.False_, False)):
        model = kab.MobileNet(
            weights=None, include_top=False, alpha=0.25, input_shape=(32, 32, 3), inference_bn=value
        )
        modes = {getattr(layer, "inference_mode", False) for layer in kab.bn_layers(model)}
        assert modes == {pinned}
        assert all(
            type(getattr(layer, "inference_mode", False)) is bool for layer in kab.bn_layers(model)
        )


@pytest.mark.parametrize("fn", ["MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large"])
@pytest.mark.parametrize(
    "alpha,error",
    [
        (0, ValueError),
        (-0.5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("1.0", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
    ids=repr,
)
def test_alpha_must_be_a_positive_number(fn, alpha, error, nothing_built):
    with pytest.raises(error, match="`alpha` must be a positive number"):
        getattr(kab, fn)(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=alpha)


@pytest.mark.parametrize(
    "tensor_shape,input_shape",
    [
        ((16, 16, 3), (224, 224, 3)),
        ((64, 64, 3), (32, 32, 3)),
        ((32, 32, 3), (32, 32, 1)),
        ((None, 48, 3), (40, 40, 3)),
    ],
    ids=str,
)
def test_input_tensor_must_agree_with_input_shape(tensor_shape, input_shape, nothing_built):
    for arch in (ARCHITECTURES[0], MOBILENET):
        with pytest.raises(
            ValueError, match=r"`input_tensor` has shape .* but `input_shape` is .* must agree"
        ):
            ours(
                arch,
                weights=None,
                include_top=False,
                input_shape=input_shape,
                input_tensor=keras.Input(tensor_shape),
            )


def test_input_tensor_shape_is_validated_and_completed_by_input_shape():
    with pytest.raises(ValueError, match=r"at least 32x32.*16, 16, 3"):
        ours(MOBILENET, weights=None, include_top=False, input_tensor=keras.Input((16, 16, 3)))
    with pytest.raises(ValueError, match=r"`input_tensor` must be a batch of images \(4D"):
        ours(MOBILENET, weights=None, include_top=False, input_tensor=keras.Input((32, 3)))
    with pytest.raises(TypeError, match=r"`input_tensor` must be a Keras tensor"):
        ours(MOBILENET, weights=None, include_top=False, input_tensor=[[1.0]])
    # unknown sides of the tensor are checked against input_shape's, the model is built on the tensor
    with pytest.raises(ValueError, match=r"at least 32x32.*16, 16, 3"):
        ours(
            MOBILENET,
            weights=None,
            include_top=False,
            input_tensor=keras.Input((None, None, 3)),
            input_shape=(16, 16, 3),
        )
    tensor = keras.Input((None, 40, 3))
    model = ours(
        MOBILENET,
        weights=None,
        include_top=False,
        alpha=0.25,
        input_tensor=tensor,
        input_shape=(40, 40, 3),
    )
    assert model.inputs[0] is tensor
