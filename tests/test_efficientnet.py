"""EfficientNet (B0-B7) and EfficientNetV2 (B0-B3, S, M, L): what the shared
suites (layer tables, official-layout loads, the inference_bn contract) do not
check — signatures, exports, hyper-parameters in each layer's config
(dropout, drop connect, BN momentum, the preprocessing layers), the in-model
preprocessing with the official weights, and argument errors."""

import importlib

import keras
import numpy as np
import pytest

from keras_applications_bn import imagenet_utils
from keras_applications_bn import weights as weights_lib
from keras_applications_bn._models import blocks

from architectures import assert_same_outputs, images, randomize_bn, save_official_layout

V1 = [f"EfficientNetB{i}" for i in range(8)]
V2 = [f"EfficientNetV2{v}" for v in ("B0", "B1", "B2", "B3", "S", "M", "L")]
FUNCTIONS = [("efficientnet", fn) for fn in V1] + [("efficientnet_v2", fn) for fn in V2]


def ours(module, fn):
    return getattr(importlib.import_module(f"keras_applications_bn.{module}"), fn)


@pytest.mark.parametrize("module,functions", [("efficientnet", V1), ("efficientnet_v2", V2)])
def test_exports_and_identity_preprocessing(module, functions):
    mod = importlib.import_module(f"keras_applications_bn.{module}")
    assert set(mod.__all__) == set(functions) | {"preprocess_input", "decode_predictions"}
    assert mod.decode_predictions is imagenet_utils.decode_predictions
    assert ".h5" in mod.__doc__ and "[0, 255]" in mod.__doc__
    reference = getattr(keras.applications, module).preprocess_input
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    assert mod.preprocess_input(x) is x and reference(x) is x
    tensor = keras.ops.convert_to_tensor(x)
    assert mod.preprocess_input(tensor, data_format="channels_first") is tensor


def config_table(build, **kwargs):
    """Every layer's class and config without its name (and without this package's
    BN flag): rates, momenta, strides, preprocessing constants, initialisers."""
    keras.backend.clear_session()
    model = build(**kwargs)
    table = []
    for layer in model.layers:
        config = {
            k: v
            for k, v in layer.get_config().items()
            if k not in ("name", "requires", "inference_mode")
        }
        table.append((type(layer).__name__, layer.name, config))
    return model, table


@pytest.mark.parametrize(
    "module,fn,kwargs",
    [
        # depth 1.1: drop connect counted over the rounded (v1) / unrounded (v2)
        # blocks; members other than B0, so in the slow lane with them
        pytest.param("efficientnet", "EfficientNetB1", {}, marks=pytest.mark.slow, id="b1"),
        pytest.param("efficientnet_v2", "EfficientNetV2B1", {}, marks=pytest.mark.slow, id="v2-b1"),
        # one channel: v2 rescales to [-1, 1] instead of normalising
        pytest.param(
            "efficientnet_v2", "EfficientNetV2B0", {"input_shape": (32, 32, 1)}, id="v2-b0-1channel"
        ),
        pytest.param(
            "efficientnet_v2",
            "EfficientNetV2B0",
            {"include_preprocessing": False},
            id="v2-b0-no-preprocessing",
        ),
    ],
)
def test_every_layer_config_matches_keras(module, fn, kwargs):
    kwargs = {"weights": None, "input_shape": (32, 32, 3), **kwargs}
    model, table = config_table(ours(module, fn), **kwargs)
    reference, expected = config_table(getattr(keras.applications, fn), **kwargs)
    assert table == expected
    assert model.name == reference.name
    # the Normalization statistics of a model without weights (v1: 0 and 1 weights)
    for a, b in zip(model.layers, reference.layers):
        for w, v in zip(a.weights, b.weights):
            if isinstance(a, keras.layers.Normalization):
                np.testing.assert_array_equal(w.numpy(), v.numpy())


def test_v2_b0_to_b3_preprocessing_follows_the_variant_not_the_name():
    """Keras picks the stage table and the preprocessing by the model's name (a
    custom name fails there); here the variant decides."""
    from keras_applications_bn.efficientnet_v2 import EfficientNetV2B0, EfficientNetV2S

    model = EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3), name="mine")
    assert model.name == "mine" and [type(l).__name__ for l in model.layers[1:3]] == [
        "Rescaling",
        "Normalization",
    ]
    with pytest.raises(KeyError):
        keras.applications.EfficientNetV2B0(
            weights=None, include_top=False, input_shape=(32, 32, 3), name="mine"
        )
    s = EfficientNetV2S(
        weights=None, include_top=False, input_shape=(32, 32, 3), name="efficientnetv2-b0"
    )
    assert type(s.layers[2]).__name__ == "Conv2D" and s.layers[1].offset == -1


def test_v2_width_rounding_has_no_ten_percent_floor():
    """EfficientNetV2B3 keeps 16 channels in its first stage (1.2 x 16 = 19.2),
    where EfficientNet's rule (blocks.make_divisible) would give 24."""
    from keras_applications_bn.efficientnet_v2 import round_filters

    assert round_filters(16, 1.2) == 16 and blocks.make_divisible(16 * 1.2) == 24
    assert round_filters(32, 1.2) == 40 and round_filters(1280, 1.1) == 1408


@pytest.fixture
def served_file(monkeypatch, tmp_path):
    """Replace the download of registry files by a local file; log the keys asked for."""
    asked = []

    def serve(path):
        def fetch(name, **kwargs):
            asked.append(name)
            return str(path)

        monkeypatch.setattr(weights_lib, "fetch", fetch)
        return asked

    return serve


def test_v1_imagenet_weights_give_keras_outputs(served_file, tmp_path, monkeypatch):
    """With weights="imagenet" Keras adds a Rescaling that corrects the official
    files' Normalization variance (they hold the standard deviation); so do we:
    the same file gives the same outputs in both."""
    from keras.src.applications import efficientnet as keras_efficientnet

    from keras_applications_bn.efficientnet import EfficientNetB0

    shape = (32, 32, 3)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    reference = keras.applications.EfficientNetB0(
        weights=None, include_top=False, input_shape=shape
    )
    norm = next(l for l in reference.layers if isinstance(l, keras.layers.Normalization))
    norm.set_weights([mean, std, np.array(1)])  # the official files' values
    norm.finalize_state()  # what loading a file does; set_weights alone does not
    randomize_bn(reference)
    path = save_official_layout(reference, tmp_path / "efficientnetb0_notop.h5")
    asked = served_file(path)
    monkeypatch.setattr(keras_efficientnet.file_utils, "get_file", lambda *a, **k: str(path))

    model = EfficientNetB0(
        weights="imagenet", include_top=False, input_shape=shape, inference_bn=True
    )
    assert asked == ["efficientnetb0_notop"]
    keras_imagenet = keras.applications.EfficientNetB0(
        weights="imagenet", include_top=False, input_shape=shape
    )
    assert [type(l).__name__ for l in model.layers[1:5]] == [
        "Rescaling",
        "Normalization",
        "Rescaling",
        "ZeroPadding2D",
    ]
    assert [(type(l).__name__, len(l.get_weights())) for l in model.layers] == [
        (type(l).__name__, len(l.get_weights())) for l in keras_imagenet.layers
    ]
    x = images(shape, n=2)
    expected = keras_imagenet(x, training=False)
    assert_same_outputs(model(x, training=False), expected)
    # the correction gives the file's normalisation with the true variance (std
    # squared); compared where it happens, before deep layers amplify rounding
    corrected = keras.Model(keras_imagenet.input, keras_imagenet.layers[3].output)(255 * x)
    norm.set_weights([mean, std**2, np.array(1)])
    norm.finalize_state()
    normalised = keras.Model(reference.input, reference.layers[2].output)(255 * x)
    np.testing.assert_allclose(corrected, normalised, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(normalised, ((255 * x) / 255 - mean) / std, rtol=1e-5, atol=1e-5)

    # a weights file given by path loads as Keras loads it: no correction
    model = EfficientNetB0(weights=str(path), include_top=False, input_shape=shape)
    assert [type(l).__name__ for l in model.layers[1:4]] == [
        "Rescaling",
        "Normalization",
        "ZeroPadding2D",
    ]


@pytest.mark.parametrize(
    "module,fn,key",
    [
        ("efficientnet", "EfficientNetB0", "efficientnetb0"),
        ("efficientnet_v2", "EfficientNetV2B0", "efficientnetv2-b0"),
    ],
)
def test_imagenet_top_loads_the_registry_file_with_top(served_file, tmp_path, module, fn, key):
    shape = (224, 224, 3)
    reference = getattr(keras.applications, fn)(weights=None, input_shape=shape)
    asked = served_file(save_official_layout(reference, tmp_path / f"{key}.h5"))
    model = ours(module, fn)(weights="imagenet")
    assert (
        asked == [key] and model.name == reference.name and model.input_shape == (None, 224, 224, 3)
    )
