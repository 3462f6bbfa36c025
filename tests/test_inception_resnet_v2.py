"""InceptionResNetV2: the scaled residual layer, every layer's hyper-parameters
as in Keras, and the official files."""

import json

import keras
import numpy as np
import pytest
from keras.src.applications import inception_resnet_v2 as keras_irv2

from keras_applications_bn.inception_resnet_v2 import InceptionResNetV2
from keras_applications_bn.layers import CustomScaleLayer
from keras_applications_bn.weights import WeightsError

from architectures import ARCHITECTURES, layer_configs
from conftest import run_python

IRV2 = next(a for a in ARCHITECTURES if a.id == "inception_resnet_v2")


def test_custom_scale_layer_is_keras_scaled_sum():
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(2, 3, 3, 4)).astype("float32") for _ in range(2))
    ours, reference = CustomScaleLayer(0.17), keras_irv2.CustomScaleLayer(0.17)
    np.testing.assert_allclose(ours([a, b]), a + 0.17 * b, rtol=1e-6)
    np.testing.assert_allclose(ours([a, b]), reference([a, b]), rtol=1e-6)
    assert ours.get_config() == {**reference.get_config(), "name": ours.name}


@pytest.mark.slow
def test_custom_scale_layer_reloads_after_importing_the_package(tmp_path):
    """Registered on a plain ``import keras_applications_bn`` (not only once the
    InceptionResNetV2 module is imported), in both save formats."""
    a, b = keras.Input((2, 2, 3)), keras.Input((2, 2, 3))
    model = keras.Model([a, b], CustomScaleLayer(0.25, name="scaled")([a, b]))
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
    code = f"""
import json, numpy as np, keras
import keras_applications_bn
x = [np.ones((1, 2, 2, 3), "float32"), np.full((1, 2, 2, 3), 2.0, "float32")]
out = {{}}
for name in ("m.keras", "m.h5"):
    m = keras.saving.load_model({str(tmp_path)!r} + "/" + name)
    layer = m.get_layer("scaled")
    out[name] = [type(layer).__module__, layer.scale, float(np.max(m.predict(x, verbose=0)))]
print("RESULT" + json.dumps(out))
"""
    result = json.loads(run_python(code).stdout.split("RESULT", 1)[1])
    for name in ("m.keras", "m.h5"):
        assert result[name] == ["keras_applications_bn.layers", 0.25, 1.5], name


def test_every_layer_config_is_keras():
    """Strides, paddings, BN gamma-less units and every block's residual scale,
    not only the names and weight shapes the layer table compares."""
    kwargs = dict(weights=None, include_top=False, input_shape=IRV2.shape)
    ours = layer_configs(IRV2.ours, **kwargs)
    assert ours == layer_configs(IRV2.keras, **kwargs)
    scales = [config["scale"] for cls, config in ours if cls == "CustomScaleLayer"]
    assert scales == [0.17] * 10 + [0.1] * 20 + [0.2] * 9 + [1.0]


def test_imagenet_loads_the_official_file(monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(
        WeightsError, match="inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ):
        InceptionResNetV2(weights="imagenet", include_top=False)
