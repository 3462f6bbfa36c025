"""ResNet (v1: ResNet50/101/152) and ResNetV2 (ResNet50V2/101V2/152V2): the
modules as keras.applications offers them, the weight file of each function,
input checks and preprocessing. Layer tables and official-layout loads are in
the parametrised suites (tests/architectures.py)."""

import keras
import numpy as np
import pytest

from keras_applications_bn import imagenet_utils, resnet, resnet50, resnet_v2
from keras_applications_bn.weights import WeightsError

V1 = ("ResNet50", "ResNet101", "ResNet152")
V2 = ("ResNet50V2", "ResNet101V2", "ResNet152V2")
MODULES = {**{fn: resnet for fn in V1}, **{fn: resnet_v2 for fn in V2}}


def test_resnet50_module_is_a_re_export_of_resnet():
    assert resnet50.ResNet50 is resnet.ResNet50
    assert resnet50.preprocess_input is resnet.preprocess_input
    assert resnet50.decode_predictions is imagenet_utils.decode_predictions
    assert set(resnet50.__all__) == {"ResNet50", "preprocess_input", "decode_predictions"}


@pytest.mark.parametrize("module,fns", [(resnet, V1), (resnet_v2, V2)], ids=["resnet", "resnet_v2"])
def test_module_exports(module, fns):
    assert set(module.__all__) == {*fns, "preprocess_input", "decode_predictions"}
    assert module.decode_predictions is imagenet_utils.decode_predictions
    reference = getattr(keras.applications, module.__name__.rsplit(".", 1)[-1])
    for fn in fns:
        assert hasattr(reference, fn)


@pytest.mark.parametrize(
    "module,mode", [(resnet, "caffe"), (resnet_v2, "tf")], ids=["resnet", "resnet_v2"]
)
def test_preprocess_input_matches_keras(module, mode):
    reference = getattr(keras.applications, module.__name__.rsplit(".", 1)[-1]).preprocess_input
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    expected = imagenet_utils.preprocess_input(
        x.copy(), mode=mode
    )  # copies: float input changes in place
    np.testing.assert_allclose(module.preprocess_input(x.copy()), expected)
    np.testing.assert_allclose(
        module.preprocess_input(x.copy()), reference(x.copy()), rtol=1e-6, atol=1e-4
    )
    chw = np.moveaxis(x, -1, 1)
    np.testing.assert_allclose(
        module.preprocess_input(chw.copy(), data_format="channels_first"),
        reference(chw.copy(), data_format="channels_first"),
        rtol=1e-6,
        atol=1e-4,
    )
    assert f'"{mode}"' in module.__doc__


@pytest.mark.parametrize("fn", V1 + V2)
@pytest.mark.parametrize("include_top", [True, False], ids=["top", "notop"])
def test_imagenet_loads_the_file_of_the_function(fn, include_top, monkeypatch):
    """Each function asks the registry for its own file (Keras' name for it). The
    stages are replaced by nothing, so only the stem and the head are built: the
    file cannot be downloaded offline, and the error names it."""
    module = MODULES[fn]
    monkeypatch.setattr(module, "stage", lambda x, *args, **kwargs: x)
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    fname = f"{fn.lower()}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    with pytest.raises(WeightsError, match=fname):
        getattr(module, fn)(weights="imagenet", include_top=include_top)


def test_v2_pins_its_preactivation_and_post_bn():
    model = resnet_v2.ResNet50V2(
        weights=None, include_top=False, input_shape=(32, 32, 3), inference_bn=True
    )
    for name in ("conv2_block1_preact_bn", "conv2_block1_1_bn", "conv5_block3_2_bn", "post_bn"):
        assert model.get_layer(name).inference_mode
    assert [layer.name for layer in model.layers][-2:] == ["post_bn", "post_relu"]


def test_v2_downsamples_at_the_end_of_each_stage_but_the_last():
    """ResNetV2's stride sits in the last block of conv2..conv4 (as in Keras'
    official models), whose identity shortcut is a strided 1x1 max pooling."""
    model = resnet_v2.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    sides = {
        name: model.get_layer(name).output.shape[1]
        for name in (
            "pool1_pool",
            "conv2_block2_out",
            "conv2_block3_out",
            "conv3_block4_out",
            "conv4_block6_out",
            "conv5_block3_out",
        )
    }
    assert sides == {
        "pool1_pool": 16,
        "conv2_block2_out": 16,
        "conv2_block3_out": 8,
        "conv3_block4_out": 4,
        "conv4_block6_out": 2,
        "conv5_block3_out": 2,
    }
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)][1:]
    assert [layer.strides for layer in pools] == [(2, 2)] * 3
