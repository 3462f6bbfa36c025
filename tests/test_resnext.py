"""ResNeXt-specific behaviour: the registry holds keras_applications 1.0.8's files,
the grouped convolution is one, the ReduceSum layer, the signature, the
preprocessing, and the inputs it refuses. The layer table, official-layout loads
and the inference_bn contract against 1.0.8's own builder run in the parametrised
suites (tests/architectures.py: resnext50, resnext101)."""

import dataclasses
import hashlib
import inspect

import keras
import numpy as np
import pytest

import keras_applications_bn as kab
from keras_applications_bn import resnet, resnext
from keras_applications_bn import weights as weights_lib
from keras_applications_bn.__main__ import EXIT_OK, main
from keras_applications_bn.layers import ReduceSum

from architectures import keras_applications_108_modules


def test_registry_has_the_1_0_8_files_urls_and_hashes():
    """Read from the installed keras_applications 1.0.8 source, as it downloads them."""
    from keras_applications import resnet_common

    for key, model in (("resnext50", "ResNeXt50"), ("resnext101", "ResNeXt101")):
        top, notop = weights_lib.get(key), weights_lib.get(f"{key}_notop")
        assert (top.file_hash, notop.file_hash) == resnet_common.WEIGHTS_HASHES[key]
        assert top.fname == f"{key}_weights_tf_dim_ordering_tf_kernels.h5"
        assert notop.fname == f"{key}_weights_tf_dim_ordering_tf_kernels_notop.h5"
        assert (top.url, notop.url) == tuple(
            resnet_common.BASE_WEIGHTS_PATH + e.fname for e in (top, notop)
        )
        assert (top.model, notop.model, top.include_top, notop.include_top) == (
            model,
            model,
            True,
            False,
        )
    assert weights_lib.resolve_names("ResNeXt101") == ["resnext101", "resnext101_notop"]


def test_cli_fetches_resnext_files_from_a_mirror_of_their_github_origin(
    fault_server, monkeypatch, capsys
):
    """The files live on github.com, not storage.googleapis.com: a mirror serves them
    under the same relative paths, and their hashes are still enforced."""
    data = b"resnext" * 1000
    for name in ("resnext50", "resnext50_notop"):
        entry = weights_lib.get(name)
        assert entry.url.startswith(
            "https://github.com/keras-team/keras-applications/releases/download/resnet/"
        )
        pinned = dataclasses.replace(entry, file_hash=hashlib.md5(data).hexdigest())
        monkeypatch.setitem(weights_lib.REGISTRY, name, pinned)
        fault_server.add(entry.path, data)
    monkeypatch.setenv(weights_lib.MIRROR_ENV, fault_server.base_url)
    assert main(["fetch", "ResNeXt50", "--quiet"]) == EXIT_OK
    assert sorted(r["path"] for r in fault_server.log) == sorted(
        "/" + weights_lib.get(n).path for n in ("resnext50", "resnext50_notop")
    )
    assert "resnext50_notop" in capsys.readouterr().out


def test_grouped_convolution_is_a_grouped_convolution():
    """1.0.8's depthwise + reshape + sum equals Keras' grouped Conv2D with the
    kernel regrouped: output channel j of group g sums input channels k of g."""
    groups, filters = 4, 8
    c = filters // groups
    inputs = keras.Input((6, 5, filters))
    model = keras.Model(
        inputs, resnext.grouped_conv(inputs, filters, groups=groups, stride=2, name="b")
    )
    depthwise = model.get_layer("b_2_conv").get_weights()[0]  # (3, 3, filters, c)
    assert depthwise.shape == (3, 3, filters, c)
    grouped = np.zeros((3, 3, c, filters), "float32")
    for g in range(groups):
        for k in range(c):
            for j in range(c):
                grouped[:, :, k, g * c + j] = depthwise[:, :, g * c + k, j]
    conv = keras.layers.Conv2D(filters, 3, strides=2, groups=groups, use_bias=False)
    pad = keras.layers.ZeroPadding2D(1)
    x = np.random.default_rng(0).normal(size=(2, 6, 5, filters)).astype("float32")
    conv(pad(x))
    conv.set_weights([grouped])
    np.testing.assert_allclose(model(x), conv(pad(x)), rtol=1e-5, atol=1e-5)


def test_reduce_sum_layer():
    layer = ReduceSum(axis=-2, name="r")
    x = np.arange(24, dtype="float32").reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(layer(x), x.sum(axis=-2))
    assert layer.compute_output_shape((None, 2, 3, 4)) == (None, 2, 4)
    clone = ReduceSum.from_config(layer.get_config())
    assert (clone.axis, clone.name) == (-2, "r")
    assert keras.saving.get_registered_object("keras_applications_bn>ReduceSum") is ReduceSum
    with pytest.raises(TypeError, match="`axis` must be an integer"):
        ReduceSum(axis=1.0)


def test_signature_is_resnet_s_and_1_0_8_s_positional_order():
    for fn, default_name in ((resnext.ResNeXt50, "resnext50"), (resnext.ResNeXt101, "resnext101")):
        params = [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]
        expected = [
            (p.name, p.default) for p in inspect.signature(resnet.ResNet50).parameters.values()
        ]
        assert params == [(n, default_name if n == "name" else d) for n, d in expected]
        assert [n for n, _ in params[:6]] == [
            "include_top",
            "weights",
            "input_tensor",
            "input_shape",
            "pooling",
            "classes",
        ]  # 1.0.8's positional arguments
        assert "inference_bn" in fn.__doc__ and "resnext.preprocess_input" in fn.__doc__
    assert kab.ResNeXt50 is resnext.ResNeXt50 and kab.ResNeXt101 is resnext.ResNeXt101
    assert {"ResNeXt50", "ResNeXt101", "resnext"} <= set(kab.__all__)
    assert resnext.decode_predictions is kab.decode_predictions


def test_preprocess_input_matches_1_0_8():
    from keras_applications import resnext as ka108_resnext

    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    expected = ka108_resnext.preprocess_input(x.copy(), **keras_applications_108_modules())
    tensor = keras.ops.convert_to_numpy(resnext.preprocess_input(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(
        resnext.preprocess_input(x), expected, rtol=1e-6, atol=1e-5
    )  # in place, last
    np.testing.assert_allclose(tensor, expected, rtol=1e-6, atol=1e-5)


def test_inputs_it_cannot_take_are_refused_before_building():
    with pytest.raises(ValueError, match=r"static input height and width.*\(None, None, 3\)"):
        resnext.ResNeXt50(weights=None, include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        resnext.ResNeXt50(weights=None, include_top=False, input_shape=(31, 32, 3))
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="'channels_last' only"):
            resnext.ResNeXt50(weights=None, include_top=False, input_shape=(3, 32, 32))
    finally:
        keras.config.set_image_data_format(previous)
