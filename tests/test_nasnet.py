"""NASNet-specific behaviour: the builder against Keras' own on small
configurations (layers, weight paths, BN hyper-parameters), input-shape rules,
the file each model loads, refused arguments, preprocessing ("tf" mode). The
full-size comparison with keras.applications is in test_weight_compat.py and
test_contract.py (tests/architectures.py)."""

import inspect

import keras
import numpy as np
import pytest
from keras.src.applications import nasnet as keras_nasnet

from keras_applications_bn import imagenet_utils, nasnet
from keras_applications_bn._models import builder
from keras_applications_bn.weights import WeightsError

from architectures import configs_of

FUNCTIONS = ["NASNetMobile", "NASNetLarge"]
#: NASNet-A (1 @ 192) with a narrow stem: every kind of cell and adjust block, built in seconds.
SMALL = dict(penultimate_filters=192, num_blocks=1, stem_block_filters=8, filter_multiplier=2)


def configs_and_weight_paths(build, **kwargs):
    """:func:`configs_of` a model built in a fresh session, and the path and shape of
    every weight (Keras builds the cells under name scopes, which the paths show)."""
    keras.backend.clear_session()
    model = build(**kwargs)
    return configs_of(model), [(w.path, tuple(w.shape)) for w in model.weights]


@pytest.mark.parametrize(
    "skip_reduction",
    # skip_reduction=True is NASNetLarge's form: the slow lane, with that member
    [
        pytest.param(True, marks=pytest.mark.slow, id="large-like"),
        pytest.param(False, id="mobile-like"),
    ],
)
def test_builder_matches_keras_layer_by_layer(skip_reduction):
    kwargs = dict(
        SMALL,
        skip_reduction=skip_reduction,
        weights=None,
        include_top=True,
        input_shape=(40, 33, 3),
        classes=7,
    )
    ours, our_paths = configs_and_weight_paths(nasnet.NASNet, inference_bn=True, **kwargs)
    expected, expected_paths = configs_and_weight_paths(keras_nasnet.NASNet, **kwargs)
    assert ours == expected
    stem_bn = ours[2][1]
    assert (stem_bn["name"], stem_bn["momentum"], stem_bn["epsilon"]) == ("stem_bn1", 0.9997, 1e-3)
    assert our_paths == expected_paths


def test_builder_signature_is_keras_plus_inference_bn():
    ours = list(inspect.signature(nasnet.NASNet).parameters.values())
    reference = inspect.signature(keras_nasnet.NASNet).parameters.values()
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in reference] + [
        ("inference_bn", False)
    ]


def test_exports_and_preprocessing_match_keras():
    assert set(nasnet.__all__) == set(FUNCTIONS) | {"preprocess_input", "decode_predictions"}
    assert nasnet.decode_predictions is imagenet_utils.decode_predictions
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    np.testing.assert_allclose(
        nasnet.preprocess_input(x.copy()),
        keras.applications.nasnet.preprocess_input(x.copy()),
        rtol=1e-6,
        atol=1e-6,
    )


def test_configurations_are_keras():
    """NASNetMobile is NASNet-A (4 @ 1056), NASNetLarge (6 @ 4032), as Keras builds them."""
    source = inspect.getsource(keras_nasnet)
    for fn, config in nasnet.VARIANTS.items():
        body = source[source.index(f"def {fn}(") :]
        body = body[: body.index("\n\n@")] if "\n\n@" in body else body
        assert set(config) == {
            "penultimate_filters",
            "num_blocks",
            "stem_block_filters",
            "skip_reduction",
            "filter_multiplier",
            "default_size",
        }
        for arg, value in config.items():
            assert f"{arg}={value}," in body, (fn, arg)


def test_headless_default_sizes():
    """Without the top and an input_shape the model is built at its default size:
    NASNetMobile 224x224 as in Keras; the builder (so NASNetLarge) at
    ``default_size`` too, where Keras builds an unknown size that cannot run."""
    mobile = nasnet.NASNetMobile(weights=None, include_top=False)
    assert mobile.input_shape == (None, 224, 224, 3) and mobile.output_shape == (None, 7, 7, 1056)
    assert mobile.name == "nasnet_mobile"
    small = nasnet.NASNet(**SMALL, weights=None, include_top=False, pooling="max")
    assert small.input_shape == (None, 331, 331, 3) and small.output_shape == (None, 192)


def test_unknown_height_or_width_is_refused():
    for shape in [(None, None, 3), (64, None, 3)]:
        with pytest.raises(
            ValueError, match="static input height and width.*input_shape=\\(224, 224, 3\\)"
        ):
            nasnet.NASNet(**SMALL, weights=None, include_top=False, input_shape=shape)
    with pytest.raises(ValueError, match="static"):
        nasnet.NASNet(
            **SMALL, weights=None, include_top=False, input_tensor=keras.Input((None, None, 3))
        )
    # Keras refuses it with ImageNet weights as well
    with pytest.raises(ValueError, match="static"):
        keras.applications.NASNetMobile(
            weights="imagenet", include_top=False, input_shape=(None, None, 3)
        )
    with pytest.raises(ValueError, match="static"):
        nasnet.NASNetMobile(weights="imagenet", include_top=False, input_shape=(None, None, 3))


def test_input_tensor_sets_the_size():
    model = nasnet.NASNet(
        **SMALL, weights=None, include_top=False, input_tensor=keras.Input((48, 40, 3))
    )
    assert model.input_shape == (None, 48, 40, 3)


@pytest.mark.parametrize(
    "fn,include_top,fname",
    [
        ("NASNetMobile", True, "nasnet_mobile.h5"),
        ("NASNetMobile", False, "nasnet_mobile_no_top.h5"),
    ],
)
def test_imagenet_loads_the_models_file_under_keras_cache_name(fn, include_top, fname, monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(WeightsError, match=rf"{fname} is not in the cache.*NASNet-mobile"):
        getattr(nasnet, fn)(weights="imagenet", include_top=include_top)


def test_every_configuration_names_its_own_file():
    for model, config in nasnet.VARIANTS.items():
        assert builder.weights_model_of(dict(config), nasnet.VARIANTS) == model


def test_imagenet_needs_an_official_configuration():
    with pytest.raises(ValueError, match="NASNetMobile and NASNetLarge only.*weights=None"):
        nasnet.NASNet(**SMALL, weights="imagenet", include_top=False)
    with pytest.raises(ValueError, match="NASNetMobile and NASNetLarge only"):
        nasnet.NASNet(weights="imagenet", default_size=224, include_top=False)


def test_penultimate_filters_must_divide():
    with pytest.raises(ValueError, match=r"multiple of 24 \* filter_multiplier \*\* 2 = 96.*100"):
        nasnet.NASNet(penultimate_filters=100, weights=None)
    with pytest.raises(ValueError, match="multiple of 24"):
        keras_nasnet.NASNet(penultimate_filters=100, weights=None)


def test_channels_first_is_refused_like_keras():
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        for fn in FUNCTIONS:
            with pytest.raises(ValueError, match="NASNet does not support the 'channels_first'"):
                getattr(nasnet, fn)(weights=None)
            with pytest.raises(ValueError, match="channels_first"):
                getattr(keras.applications, fn)(weights=None)
    finally:
        keras.config.set_image_data_format(previous)
