"""ConvNeXt Tiny ... XLarge: what the shared suites (layer tables, official-layout
loads) do not check — signatures, exports, the variants' tables, every layer's
config (epsilons, GELU, LayerScale, stochastic depth, the fixed normalisation),
``inference_bn=True`` building exactly Keras' model (the weight-compatibility
suite checks it has no BN), the ImageNet file whatever the model's name,
argument errors, and a saved model that reloads with Keras alone."""

import json

import keras
import numpy as np
import pytest

import keras_applications_bn as kab
from keras_applications_bn import convnext, imagenet_utils
from keras_applications_bn import weights as weights_lib

from architectures import (
    assert_same_outputs,
    images,
    layer_configs,
    randomize_bn,
    save_official_layout,
)
from conftest import run_python

FUNCTIONS = ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge"]
SHAPE = (32, 32, 3)


def test_exports_and_identity_preprocessing():
    assert set(convnext.__all__) == set(FUNCTIONS) | {"preprocess_input", "decode_predictions"}
    assert all(getattr(kab, fn) is getattr(convnext, fn) for fn in FUNCTIONS)
    assert kab.convnext is convnext and "convnext" in kab.__all__
    assert convnext.decode_predictions is imagenet_utils.decode_predictions
    assert (
        ".h5" in convnext.__doc__
        and "[0, 255]" in convnext.__doc__
        and "inference_bn" in convnext.__doc__
    )
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    assert (
        convnext.preprocess_input(x) is x and keras.applications.convnext.preprocess_input(x) is x
    )
    tensor = keras.ops.convert_to_tensor(x)
    assert convnext.preprocess_input(tensor, data_format="channels_first") is tensor


def test_variants_are_keras_configurations():
    from keras.src.applications import convnext as keras_convnext

    assert list(convnext.VARIANTS) == FUNCTIONS
    keys = [fn.removeprefix("ConvNeXt").lower() for fn in FUNCTIONS]
    assert keys == list(keras_convnext.MODEL_CONFIGS)
    for fn, key in zip(FUNCTIONS, keys):
        row, config = convnext.VARIANTS[fn], keras_convnext.MODEL_CONFIGS[key]
        assert list(row["depths"]) == config["depths"]
        assert list(row["projection_dims"]) == config["projection_dims"]
        assert config["default_size"] == weights_lib.registry.model_spec(fn).default_size


def builders(drop_path_rate):
    """(ours, Keras') ConvNeXtTiny: the public functions, or, with a
    ``drop_path_rate``, the builders (Keras' is not exported) with stochastic depth."""
    if drop_path_rate is None:
        return convnext.ConvNeXtTiny, keras.applications.ConvNeXtTiny
    from keras.src.applications import convnext as keras_convnext

    def ours(**kwargs):
        return convnext.ConvNeXt(
            **convnext.VARIANTS["ConvNeXtTiny"],
            drop_path_rate=drop_path_rate,
            model="ConvNeXtTiny",
            name="convnext_tiny",
            **kwargs,
        )

    def reference(**kwargs):
        return keras_convnext.ConvNeXt(
            depths=[3, 3, 9, 3],
            projection_dims=[96, 192, 384, 768],
            drop_path_rate=drop_path_rate,
            name="convnext_tiny",
            **kwargs,
        )

    return ours, reference


@pytest.mark.parametrize(
    "drop_path_rate,kwargs",
    [
        # inference_bn=True is accepted, and the model is exactly Keras' (no BN to pin)
        (None, {"name": "mine", "inference_bn": True}),
        # stochastic depth rising linearly over the blocks, with Keras' own layer
        (
            0.2,
            dict(
                include_top=False,
                pooling="avg",
                include_preprocessing=False,
                classes=1000,
                classifier_activation="softmax",
                input_tensor=None,
            ),
        ),
    ],
    ids=["top-named-inference_bn", "builder-notop-avg-no-preprocessing-drop-path"],
)
def test_every_layer_config_matches_keras(drop_path_rate, kwargs):
    ours, reference = builders(drop_path_rate)
    kwargs = {"weights": None, "input_shape": SHAPE, **kwargs}
    table = layer_configs(ours, **kwargs)
    kwargs.pop("inference_bn", None)
    assert table == layer_configs(reference, **kwargs)
    classes = [cls for cls, _ in table]
    assert "BatchNormalization" not in classes
    if kwargs.get("name") == "mine":
        assert all(config["name"].startswith("mine_") for _, config in table[1:])
    if kwargs.get("include_preprocessing", True):
        assert classes[1] == "Normalization" and table[1][1]["mean"][0] == 0.485 * 255
    else:
        assert "Normalization" not in classes
    rates = [config["drop_path_rate"] for cls, config in table if cls == "StochasticDepth"]
    if drop_path_rate is None:
        assert rates == [] and classes.count("LayerScale") == 18
    else:
        # the first block's rate is 0: an identity there, as in Keras
        assert rates == pytest.approx([drop_path_rate * i / 17 for i in range(1, 18)])


def test_channels_first_and_include_preprocessing_type_are_refused():
    with pytest.raises(TypeError, match="include_preprocessing"):
        convnext.ConvNeXtTiny(weights=None, include_preprocessing="yes")
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="ConvNeXt does not support the 'channels_first'"):
            convnext.ConvNeXtTiny(weights=None)
        with pytest.raises(ValueError, match="channels_first"):
            keras.applications.ConvNeXtTiny(weights=None)
    finally:
        keras.config.set_image_data_format("channels_last")


def test_imagenet_weights_load_the_variant_file_whatever_the_name(tmp_path, monkeypatch):
    """The registry file follows the function, not ``name`` (Keras refuses a name
    without the variant, and downloads ``<name>_notop.h5`` for any other)."""
    reference = keras.applications.ConvNeXtTiny(weights=None, include_top=False, input_shape=SHAPE)
    randomize_bn(reference, seed=2)  # LayerNormalization and LayerScale too
    path = save_official_layout(reference, tmp_path / "convnext_tiny_notop.h5")
    asked = []
    monkeypatch.setattr(weights_lib, "fetch", lambda name, **kw: asked.append(name) or str(path))
    ours = convnext.ConvNeXtTiny(
        weights="imagenet", include_top=False, input_shape=SHAPE, name="finetuned"
    )
    assert asked == ["convnext_tiny_notop"]
    assert ours.name == "finetuned" and ours.layers[1].name == "finetuned_prestem_normalization"
    x = images(SHAPE, n=2) * 255
    assert_same_outputs(ours(x), reference(x))
    with pytest.raises(ValueError, match="does not match weights variant"):
        keras.applications.ConvNeXtTiny(
            weights="imagenet", include_top=False, input_shape=SHAPE, name="finetuned"
        )


def test_registry_has_every_convnext_file_and_hash():
    """Keras names the files after the variant (``convnext_tiny.h5``,
    ``convnext_tiny_notop.h5``) and pins a sha256 per file in WEIGHTS_HASHES."""
    from keras.src.applications import convnext as keras_convnext

    entries = [e for e in weights_lib.REGISTRY.values() if e.model in FUNCTIONS]
    assert len(entries) == 2 * len(keras_convnext.WEIGHTS_HASHES) == 10
    for key, (top_hash, notop_hash) in keras_convnext.WEIGHTS_HASHES.items():
        top, notop = weights_lib.get(key), weights_lib.get(f"{key}_notop")
        assert (top.fname, notop.fname) == (f"{key}.h5", f"{key}_notop.h5")
        base = keras_convnext.BASE_WEIGHTS_PATH
        assert (top.url, notop.url) == (base + top.fname, base + notop.fname)
        assert (top.file_hash, notop.file_hash) == (top_hash, notop_hash)
        assert (top.include_top, notop.include_top) == (True, False)
        model = FUNCTIONS[list(keras_convnext.MODEL_CONFIGS).index(key.split("_", 1)[1])]
        assert (top.model, notop.model) == (model, model)


@pytest.mark.slow
def test_saved_model_reloads_with_keras_alone(tmp_path):
    """A ``.keras`` file of a default ConvNeXt (Keras' LayerScale, the residual sums
    as operations) reloads in a process where this package cannot be imported,
    with the same outputs."""
    model = convnext.ConvNeXtTiny(weights=None, input_shape=SHAPE, classifier_activation=None)
    randomize_bn(model, seed=3)
    x = images(SHAPE, n=2) * 255
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", keras.ops.convert_to_numpy(model(x)))
    model.save(tmp_path / "model.keras")
    code = f"""
import json, pathlib, sys
sys.modules["keras_applications_bn"] = None  # any import of this package now fails
import keras, numpy as np
folder = pathlib.Path({str(tmp_path)!r})
model = keras.saving.load_model(folder / "model.keras")
out = keras.ops.convert_to_numpy(model(np.load(folder / "x.npy")))
classes = sorted({{type(l).__module__ + "." + type(l).__name__ for l in model._flatten_layers()}})
print("RESULT" + json.dumps(dict(max_diff=float(np.abs(out - np.load(folder / "expected.npy")).max()), classes=classes)))
"""
    result = json.loads(run_python(code, timeout=300).stdout.split("RESULT", 1)[1])
    assert result["max_diff"] < 1e-4
    assert "keras.src.applications.convnext.LayerScale" in result["classes"]
    assert not any("keras_applications_bn" in c for c in result["classes"])
