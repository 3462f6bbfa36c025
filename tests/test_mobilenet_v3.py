"""MobileNetV3: the weight file follows the variant and alpha as in Keras, Keras'
errors and warnings, preprocessing inside the model, and the registry against
Keras' source."""

import dataclasses
import hashlib

import keras
import numpy as np
import pytest

from keras_applications_bn import weights as weights_lib
from keras_applications_bn.layers import Affine
from keras_applications_bn.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small, preprocess_input

from architectures import Arch, assert_same_outputs, images, randomize_bn, save_official_layout

BASE = "/tensorflow/keras-applications/mobilenet_v3/weights_mobilenet_v3_"


def serve(http_server, tmp_path, monkeypatch, key, model):
    """Serve ``model``'s weights, official layout, where registry file ``key``
    lives, and pin that file's sha256 (the official hash cannot match it)."""
    local = save_official_layout(model, tmp_path / f"{key}.h5")
    entry = weights_lib.get(key)
    assert entry.file_hash is not None  # Keras pins every MobileNetV3 file
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    monkeypatch.setitem(weights_lib.REGISTRY, key, dataclasses.replace(entry, file_hash=digest))
    http_server.put(entry.path, local.read_bytes())


def test_imagenet_picks_the_file_of_its_variant_and_alpha(
    tmp_path, http_server, monkeypatch, recwarn
):
    monkeypatch.setenv("KERAS_APPLICATIONS_BN_MIRROR", http_server.base_url)
    kwargs = dict(alpha=0.75, input_shape=(224, 224, 3), classifier_activation=None)
    top = randomize_bn(keras.applications.MobileNetV3Small(weights=None, **kwargs), seed=5)
    serve(http_server, tmp_path, monkeypatch, "mobilenet_v3_small_224_0.75_float", top)
    ours = MobileNetV3Small(weights="imagenet", inference_bn=True, **kwargs)
    assert http_server.requests == [BASE + "small_224_0.75_float.h5"]
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]  # 224x224: no warning
    assert ours.name == "MobileNetV3Small"
    x = images((224, 224, 3), n=2) * 255.0
    # pinned; the top has dropout, so compare inference calls, compiled against
    # compiled (eager and compiled rounding differ, and the SE gates amplify it)
    assert_same_outputs(ours.predict(x, verbose=0), top.predict(x, verbose=0))

    # other sizes load the 224 file with a warning; an integer alpha names the
    # file as float(alpha) ("1.0"); headless files are the "_no_top_v2" ones
    headless = randomize_bn(
        keras.applications.MobileNetV3Large(
            weights=None, minimalistic=True, include_top=False, input_shape=(32, 48, 3)
        ),
        seed=6,
    )
    serve(
        http_server,
        tmp_path,
        monkeypatch,
        "mobilenet_v3_large_minimalistic_224_1.0_float_notop",
        headless,
    )
    with pytest.warns(UserWarning, match="the input is 32x48, so the weights for 224x224"):
        ours = MobileNetV3Large(
            weights="imagenet",
            alpha=1,
            minimalistic=True,
            include_top=False,
            input_shape=(32, 48, 3),
            inference_bn=True,
        )
    assert http_server.requests[-1] == BASE + "large_minimalistic_224_1.0_float_no_top_v2.h5"
    x = images((32, 48, 3), n=2) * 255.0
    assert_same_outputs(ours(x, training=True), headless(x, training=False))


@pytest.mark.parametrize(
    "fn,alpha,minimalistic",
    [
        (MobileNetV3Small, 0.5, False),
        (MobileNetV3Large, 1.25, False),
        (MobileNetV3Small, 0.75, True),
    ],
)
def test_imagenet_refuses_widths_without_weights(fn, alpha, minimalistic):
    which = "1.0 for the minimalistic" if minimalistic else "0.75 or 1.0"
    with pytest.raises(ValueError, match=f"`alpha` must be {which}"):
        fn(weights="imagenet", alpha=alpha, minimalistic=minimalistic)


def test_any_size_with_the_top_and_the_default_is_unknown_as_in_keras(monkeypatch):
    """The classifier pools globally first: no fixed size, even with the top."""
    monkeypatch.setattr(weights_lib, "load_weights", lambda model, *a, **k: model)  # no download
    with pytest.warns(UserWarning, match="input is of unspecified size"):
        model = MobileNetV3Small(weights="imagenet")
    assert (
        model.input_shape
        == keras.applications.MobileNetV3Small(weights=None).input_shape
        == (None, None, None, 3)
    )
    assert model.output_shape == (None, 1000)
    model = MobileNetV3Small(weights=None, input_shape=(40, 56, 3), classes=7)
    assert model.output_shape == (None, 7)
    with pytest.raises(ValueError, match="at least 32x32"):
        MobileNetV3Large(weights=None, input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match="`classes` must be 1000"):
        MobileNetV3Large(weights="imagenet", classes=10)


def test_preprocessing_is_inside_the_model():
    """preprocess_input is the identity (as in Keras); the model rescales [0, 255]
    to [-1, 1] with a Rescaling layer unless include_preprocessing=False."""
    x = images((32, 32, 3), n=2) * 255.0
    assert preprocess_input(x) is x
    assert preprocess_input(x) is keras.applications.mobilenet_v3.preprocess_input(x)
    with_rescaling = MobileNetV3Small(
        weights=None, alpha=0.75, input_shape=(32, 32, 3), classifier_activation=None
    )
    without = MobileNetV3Small(
        weights=None,
        alpha=0.75,
        input_shape=(32, 32, 3),
        classifier_activation=None,
        include_preprocessing=False,
    )
    assert isinstance(with_rescaling.layers[1], keras.layers.Rescaling)
    assert not any(isinstance(layer, keras.layers.Rescaling) for layer in without.layers)
    without.set_weights(with_rescaling.get_weights())
    assert_same_outputs(with_rescaling(x), without(x / 127.5 - 1.0))


def test_same_layers_as_keras_without_preprocessing_and_dropout():
    arch = Arch(
        "v3",
        "mobilenet_v3",
        "MobileNetV3Large",
        (40, 32, 3),
        {"alpha": 1.5, "include_preprocessing": False, "dropout_rate": 0.0},
    )
    kwargs = dict(weights=None, input_shape=arch.shape, classes=5)
    ours = arch.layer_table(arch.ours, **kwargs)
    assert ours == arch.layer_table(arch.keras, **kwargs)
    assert not any(cls in ("Dropout", "Rescaling") for cls, _, _ in ours)
    # above alpha 1 the classifier's conv_2 widens: 1280 * 1.5
    assert next(w for _, name, w in ours if name == "conv_2")[0][-1] == 1920


def test_pinned_hard_sigmoid_saves_and_reloads_as_legacy_h5(tmp_path):
    """Keras' own MobileNetV3 cannot be rebuilt from a legacy .h5 model file (its
    hard-sigmoid adds Python floats, which the h5 loader passes positionally), nor
    can ours unpinned, which is built as Keras' is; pinned, ours writes the
    hard-sigmoid with registered Affine ops (the same layers and outputs) and can."""
    kwargs = dict(weights=None, alpha=0.75, input_shape=(32, 32, 3))
    ours = MobileNetV3Small(inference_bn=True, **kwargs)
    gates = [layer for layer in ours.layers if layer.name.endswith("squeeze_excite_mul")]
    assert sum(isinstance(op, Affine) for op in ours.operations) == 2 * len(gates) > 0
    ours.save(tmp_path / "ours.h5")
    reloaded = keras.saving.load_model(tmp_path / "ours.h5")
    x = images((32, 32, 3), n=2) * 255.0
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    # unpinned, ours has Keras' own operations (test_contract compares them), and
    # the limitation of Keras' model
    unpinned = MobileNetV3Small(**kwargs)
    assert not any(isinstance(op, Affine) for op in unpinned.operations)
    unpinned.save(tmp_path / "unpinned.h5")
    with pytest.raises(
        ValueError, match="Only input tensors may be passed as positional arguments"
    ):
        keras.saving.load_model(tmp_path / "unpinned.h5")


def test_registry_has_the_official_files_and_hashes():
    from keras.src.applications import mobilenet_v3

    entries = [
        e
        for e in weights_lib.REGISTRY.values()
        if e.model in ("MobileNetV3Small", "MobileNetV3Large")
    ]
    assert len(entries) == 2 * len(mobilenet_v3.WEIGHTS_HASHES) == 12
    for name, (top_hash, notop_hash) in mobilenet_v3.WEIGHTS_HASHES.items():
        top, notop = (
            weights_lib.get(f"mobilenet_v3_{name}"),
            weights_lib.get(f"mobilenet_v3_{name}_notop"),
        )
        assert top.url == mobilenet_v3.BASE_WEIGHT_PATH + f"weights_mobilenet_v3_{name}.h5"
        assert (
            notop.url == mobilenet_v3.BASE_WEIGHT_PATH + f"weights_mobilenet_v3_{name}_no_top_v2.h5"
        )
        assert (top.file_hash, notop.file_hash) == (top_hash, notop_hash)
        assert (top.include_top, notop.include_top) == (True, False)
        assert (
            top.model
            == notop.model
            == ("MobileNetV3Large" if name.startswith("large") else "MobileNetV3Small")
        )
