"""DenseNet-specific behaviour: signatures, the builder's block counts and the
file each model loads, refused arguments, preprocessing ("torch" mode). The
layer-by-layer comparison with keras.applications is in test_weight_compat.py
and test_contract.py (tests/architectures.py)."""

import keras
import numpy as np
import pytest
from keras.src.applications import densenet as keras_densenet

from keras_applications_bn import densenet, imagenet_utils
from keras_applications_bn._models import builder
from keras_applications_bn.weights import WeightsError

from architectures import layer_configs

FUNCTIONS = ["DenseNet121", "DenseNet169", "DenseNet201"]


def test_exports_and_preprocessing_match_keras():
    assert set(densenet.__all__) == set(FUNCTIONS) | {"preprocess_input", "decode_predictions"}
    assert densenet.decode_predictions is imagenet_utils.decode_predictions
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    reference = keras.applications.densenet.preprocess_input
    # copies: float arrays are preprocessed in place, as by Keras'
    np.testing.assert_allclose(
        densenet.preprocess_input(x.copy()), reference(x.copy()), rtol=1e-6, atol=1e-5
    )
    chw = np.moveaxis(x, -1, 1)
    np.testing.assert_allclose(
        densenet.preprocess_input(chw.copy(), data_format="channels_first"),
        reference(chw.copy(), data_format="channels_first"),
        rtol=1e-6,
        atol=1e-5,
    )


def test_block_counts_are_the_papers():
    assert densenet.VARIANTS == {
        "DenseNet121": dict(blocks=(6, 12, 24, 16)),
        "DenseNet169": dict(blocks=(6, 12, 32, 32)),
        "DenseNet201": dict(blocks=(6, 12, 48, 32)),
    }


def test_builder_matches_keras_layer_by_layer():
    """Every layer's class and config (epsilon, strides, padding, ...) as in Keras'
    own builder, on a shallow DenseNet that builds in a second."""
    kwargs = dict(weights=None, include_top=True, input_shape=(40, 33, 3), classes=7)
    ours = layer_configs(densenet.DenseNet, blocks=[1, 2, 1, 1], inference_bn=True, **kwargs)
    assert ours == layer_configs(keras_densenet.DenseNet, blocks=[1, 2, 1, 1], **kwargs)


def test_builder_takes_other_depths_without_imagenet_weights():
    model = densenet.DenseNet(
        [1, 2, 1, 1], weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    names = [layer.name for layer in model.layers]
    assert "conv3_block2_concat" in names and "conv3_block3_concat" not in names
    # 64 stem channels + 32 per unit, halved by each transition
    assert model.output_shape == (None, 1, 1, (((64 + 32) // 2 + 64) // 2 + 32) // 2 + 32)
    with pytest.raises(ValueError, match=r"blocks` must be one of \(6, 12, 24, 16\).*weights=None"):
        densenet.DenseNet([1, 2, 1, 1], weights="imagenet")


@pytest.mark.parametrize(
    "fn,include_top,fname",
    [
        ("DenseNet121", True, "densenet121_weights_tf_dim_ordering_tf_kernels.h5"),
        ("DenseNet121", False, "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ],
)
def test_imagenet_loads_the_models_file(fn, include_top, fname, monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(WeightsError, match=fname):
        getattr(densenet, fn)(weights="imagenet", include_top=include_top)


def test_every_model_names_its_own_file(monkeypatch):
    """Each wrapper passes its own block counts, which select its model's registry
    files; the builder takes them as a list too."""
    for model, row in densenet.VARIANTS.items():
        assert builder.weights_model_of(dict(row), densenet.VARIANTS) == model
    assert builder.weights_model_of(dict(blocks=(1, 2, 3, 4)), densenet.VARIANTS) is None
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(WeightsError, match="densenet121_weights_tf_dim_ordering_tf_kernels_notop"):
        densenet.DenseNet(
            [6, 12, 24, 16], weights="imagenet", include_top=False, input_shape=(32, 32, 3)
        )


def test_channels_first_is_refused_like_keras():
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="channels_first.*set_image_data_format"):
            densenet.DenseNet121(weights=None)
        with pytest.raises(ValueError, match="channels_first"):
            keras.applications.DenseNet121(weights=None)
    finally:
        keras.config.set_image_data_format(previous)


def test_default_is_224_and_headless_any_size():
    assert densenet.DenseNet121(weights=None).input_shape == (None, 224, 224, 3)
    model = densenet.DenseNet121(weights=None, include_top=False, pooling="avg")
    assert model.input_shape == (None, None, None, 3) and model.output_shape == (None, 1024)
    assert model.get_layer("conv1_bn").epsilon == 1.001e-5
    assert model.name == "densenet121"
