"""Xception: every layer's hyper-parameters as in Keras, and the official files."""

import pytest

from keras_applications_bn.weights import WeightsError
from keras_applications_bn.xception import Xception

from architectures import ARCHITECTURES, layer_configs

XCEPTION = next(a for a in ARCHITECTURES if a.id == "xception")


def test_every_layer_config_is_keras():
    """Strides, paddings, BN axis/epsilon/gamma, ... of every layer, not only the
    names and weight shapes the layer table compares."""
    kwargs = dict(weights=None, include_top=True, input_shape=XCEPTION.shape)
    ours = layer_configs(XCEPTION.ours, **kwargs)
    assert ours == layer_configs(XCEPTION.keras, **kwargs)
    assert sum(cls == "BatchNormalization" and config["scale"] for cls, config in ours) == 40


@pytest.mark.parametrize(
    "include_top,fname",
    [
        (True, "xception_weights_tf_dim_ordering_tf_kernels.h5"),
        (False, "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ],
)
def test_imagenet_loads_the_official_file(include_top, fname, monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_OFFLINE", "1")
    with pytest.raises(WeightsError, match=fname):
        Xception(weights="imagenet", include_top=include_top)
