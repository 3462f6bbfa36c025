"""MobileNetV2: the weight file follows alpha and the input size as in Keras, Keras'
errors for widths and sizes without weights, and the registry against Keras' source."""

import inspect

import keras
import pytest

from keras_applications_bn import weights as weights_lib
from keras_applications_bn.mobilenet_v2 import MobileNetV2, preprocess_input

from architectures import Arch, assert_same_outputs, images, randomize_bn, save_official_layout

BASE = (
    "/tensorflow/keras-applications/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
)


def serve(http_server, tmp_path, key, model):
    """Serve ``model``'s weights, official layout, where registry file ``key`` lives."""
    local = save_official_layout(model, tmp_path / f"{key}.h5")
    entry = weights_lib.get(key)
    assert entry.file_hash is None  # Keras pins no hash: trusted on first use
    http_server.put(entry.path, local.read_bytes())


def test_imagenet_picks_the_file_of_its_alpha_and_size(tmp_path, http_server, monkeypatch):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)
    top = randomize_bn(
        keras.applications.MobileNetV2(
            weights=None, alpha=0.35, input_shape=(96, 96, 3), classifier_activation=None
        ),
        seed=5,
    )
    serve(http_server, tmp_path, "mobilenet_v2_0.35_96", top)
    ours = MobileNetV2(
        weights="imagenet",
        alpha=0.35,
        input_shape=(96, 96, 3),
        classifier_activation=None,
        inference_bn=True,
    )
    assert http_server.requests == [BASE + "0.35_96.h5"]
    assert ours.name == "mobilenetv2_0.35_96"
    x = images((96, 96, 3), n=2)
    assert_same_outputs(ours(x, training=True), top(x, training=False))

    # a size without weights loads the 224 file, with a warning, and is named after it;
    # an integer alpha names the file as Keras does (float(alpha): "1.0")
    headless = randomize_bn(
        keras.applications.MobileNetV2(
            weights=None, alpha=1.0, include_top=False, input_shape=(40, 40, 3)
        ),
        seed=6,
    )
    serve(http_server, tmp_path, "mobilenet_v2_1.0_224_notop", headless)
    with pytest.warns(UserWarning, match="weights for 224x224"):
        ours = MobileNetV2(weights="imagenet", alpha=1, include_top=False, input_shape=(40, 40, 3))
    assert http_server.requests[-1] == BASE + "1.0_224_no_top.h5"
    assert ours.name == "mobilenetv2_1.00_224"
    x = images((40, 40, 3), n=2)
    assert_same_outputs(ours(x), headless(x, training=False))


@pytest.mark.parametrize("alpha", [0.25, 0.6, 1.5])
def test_imagenet_refuses_widths_without_weights(alpha):
    with pytest.raises(
        ValueError, match=r"`alpha` must be one of 0\.35, 0\.5, 0\.75, 1\.0, 1\.3 or 1\.4"
    ):
        MobileNetV2(weights="imagenet", alpha=alpha)


@pytest.mark.parametrize("shape", [(100, 100, 3), (96, 128, 3), (256, 256, 3)])
def test_imagenet_with_top_refuses_sizes_without_weights(shape):
    with pytest.raises(ValueError, match=r"\(96, 96, 3\) or \(128, 128, 3\).*include_top=False"):
        MobileNetV2(weights="imagenet", input_shape=shape)


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match="at least 32x32"):
        MobileNetV2(weights=None, include_top=False, input_shape=(31, 64, 3))


def test_without_weights_no_warning_and_the_name_follows_the_rows(recwarn):
    """weights=None never warns; the default name has the input's own rows."""
    model = MobileNetV2(weights=None, alpha=0.5, include_top=False, input_shape=(50, 60, 3))
    assert model.name == "mobilenetv2_0.50_50"
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("alpha", [0.75, 1.3])
def test_same_layers_as_keras_for_other_widths(alpha):
    """Above 1 the last convolution widens too (Conv_1: 1280 * alpha, rounded)."""
    arch = Arch(
        f"mobilenet_v2-{alpha}", "mobilenet_v2", "MobileNetV2", (32, 32, 3), {"alpha": alpha}
    )
    kwargs = dict(weights=None, input_shape=arch.shape, classes=10)
    ours = arch.layer_table(arch.ours, **kwargs)
    assert ours == arch.layer_table(arch.keras, **kwargs)
    conv_1 = next(row for row in ours if row[1] == "Conv_1")
    assert conv_1[2] == [(1, 1, int(320 * alpha + 4) // 8 * 8, 1280 if alpha <= 1 else 1664)]


def test_preprocess_input_scales_to_minus_one_one():
    x = images((4, 4, 3), n=1) * 255.0
    expected = keras.applications.mobilenet_v2.preprocess_input(x.copy())
    assert_same_outputs(preprocess_input(x), expected)


def test_registry_has_every_file_without_hash():
    """60 files (6 widths x 5 sizes, with and without the top), as Keras names them."""
    from keras.src.applications import mobilenet_v2

    assert "file_hash" not in inspect.getsource(mobilenet_v2)  # Keras pins none
    entries = [e for e in weights_lib.REGISTRY.values() if e.model == "MobileNetV2"]
    expected = {}
    for alpha in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
        for size in (96, 128, 160, 192, 224):
            stem = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{size}"
            expected[f"mobilenet_v2_{float(alpha)}_{size}"] = f"{stem}.h5"
            expected[f"mobilenet_v2_{float(alpha)}_{size}_notop"] = f"{stem}_no_top.h5"
    assert {e.name: e.fname for e in entries} == expected
    for e in entries:
        assert e.url == mobilenet_v2.BASE_WEIGHT_PATH + e.fname
        assert e.file_hash is None
        assert e.include_top == (not e.name.endswith("_notop"))
