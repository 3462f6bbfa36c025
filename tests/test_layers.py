"""The BatchNormalization subclass on its own."""

import pathlib

import keras
import numpy as np
import pytest

from keras_applications_bn import layers as kab_layers
from keras_applications_bn.layers import LOAD_HINT, BatchNormalization, batch_norm

EARLIER_FILES = pathlib.Path(__file__).parent / "data" / "saved_by_earlier_version"


def _layer_with_stats(inference_mode):
    layer = BatchNormalization(inference_mode=inference_mode, momentum=0.5)
    layer.build((None, 4))
    layer.set_weights([np.full(4, 2.0), np.full(4, 0.5), np.full(4, 3.0), np.full(4, 4.0)])
    return layer


@pytest.mark.compat
def test_pinned_layer_ignores_training_flag():
    layer = _layer_with_stats(True)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    expected = 2.0 * (x - 3.0) / np.sqrt(4.0 + layer.epsilon) + 0.5
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-5)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-5)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.full(4, 3.0))
    np.testing.assert_array_equal(layer.moving_variance.numpy(), np.full(4, 4.0))


@pytest.mark.compat
def test_unpinned_layer_is_keras_batch_normalization():
    ours, theirs = _layer_with_stats(False), keras.layers.BatchNormalization(momentum=0.5)
    theirs.build((None, 4))
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), rtol=1e-6)
    np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), rtol=1e-6)
    assert not np.allclose(ours.moving_mean.numpy(), 3.0)


@pytest.mark.compat
def test_weights_keep_keras_order_and_trainability():
    layer = _layer_with_stats(True)
    assert [w.path.split("/")[-1] for w in layer.weights] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["gamma", "beta"]


@pytest.mark.compat
def test_mode_is_in_the_config_and_round_trips():
    layer = BatchNormalization(inference_mode=True, epsilon=1e-5, name="bn")
    config = layer.get_config()
    assert config["inference_mode"] is True
    clone = BatchNormalization.from_config(config)
    assert clone.inference_mode and clone.epsilon == 1e-5
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "import keras_applications_bn>BatchNormalization"
    assert keras.saving.deserialize_keras_object(serialized).inference_mode


@pytest.mark.compat
@pytest.mark.parametrize("name", ["BatchNormalization", "CustomScaleLayer", "Affine", "ReduceSum"])
def test_registered_names_say_what_to_import(name):
    # Keras quotes the registered name when a process without this package loads a
    # saved model ("Unknown layer: 'import keras_applications_bn>...'" for .h5)
    cls = getattr(kab_layers, name)
    assert keras.saving.get_registered_name(cls) == f"import keras_applications_bn>{name}"
    assert keras.saving.get_registered_object(f"import keras_applications_bn>{name}") is cls
    # the name files saved by earlier development versions carry
    assert keras.saving.get_registered_object(f"keras_applications_bn>{name}") is cls


@pytest.mark.compat
def test_config_says_how_to_load_it_first():
    layer = BatchNormalization(inference_mode=True, name="bn")
    config = layer.get_config()
    assert next(iter(config)) == "requires" and config["requires"] == LOAD_HINT
    assert "import keras_applications_bn" in LOAD_HINT and "to_keras(model)" in LOAD_HINT
    assert BatchNormalization.from_config(config).get_config() == config
    # Keras' own layer from the Keras-only config: same arguments, inference mode
    plain = keras.layers.BatchNormalization.from_config(layer.keras_config())
    assert plain.trainable is False and plain.get_config()["name"] == "bn"
    unpinned = BatchNormalization(name="bn2").keras_config()
    assert unpinned["trainable"] is True
    assert not {"requires", "inference_mode", "affine_trainable"} & set(unpinned)


@pytest.mark.parametrize("file_name", ["model.keras", "model.h5"])
def test_files_saved_by_an_earlier_version_load(file_name):
    # saved at 1b8fa22 (tests/data/saved_by_earlier_version/make.py): registered as
    # "keras_applications_bn>...", without the "requires" key
    model = keras.saving.load_model(EARLIER_FILES / file_name)
    assert type(model.get_layer("conv_bn")) is BatchNormalization
    assert model.get_layer("conv_bn").inference_mode is True
    x = np.load(EARLIER_FILES / "x.npy")
    np.testing.assert_allclose(
        model.predict(x, verbose=0), np.load(EARLIER_FILES / "y.npy"), rtol=1e-6
    )


@pytest.mark.compat
def test_default_is_keras_behaviour():
    assert BatchNormalization().inference_mode is False
    assert (
        BatchNormalization.from_config(
            keras.layers.BatchNormalization().get_config()
        ).inference_mode
        is False
    )


def test_inference_mode_must_be_bool():
    with pytest.raises(TypeError, match="inference_mode"):
        BatchNormalization(inference_mode="yes")
    layer = BatchNormalization()
    with pytest.raises(TypeError, match="inference_mode"):
        layer.inference_mode = 1


def test_batch_norm_helper_pins_and_names():
    inputs = keras.Input((8, 8, 3))
    out = batch_norm(inputs, True, name="stem_bn", epsilon=1e-5)
    model = keras.Model(inputs, out)
    layer = model.get_layer("stem_bn")
    assert isinstance(layer, BatchNormalization) and layer.inference_mode and layer.axis == 3
    # unpinned: Keras' own layer, as keras.applications builds it
    free = keras.Model(inputs, batch_norm(inputs, False, name="free_bn", epsilon=1e-5)).get_layer(
        "free_bn"
    )
    assert type(free) is keras.layers.BatchNormalization and free.axis == 3 and free.epsilon == 1e-5


def test_the_optimizer_wrapper_is_registered_like_the_layers():
    # one registration point, one package name: LayerwiseLR was registered as
    # "keras_applications_bn>LayerwiseLR" before; that name still loads
    from keras_applications_bn import LayerwiseLR

    assert (
        keras.saving.get_registered_name(LayerwiseLR) == "import keras_applications_bn>LayerwiseLR"
    )
    assert (
        keras.saving.get_registered_object("import keras_applications_bn>LayerwiseLR")
        is LayerwiseLR
    )
    assert keras.saving.get_registered_object("keras_applications_bn>LayerwiseLR") is LayerwiseLR
    optimizer = LayerwiseLR(keras.optimizers.SGD(0.1), {"conv*": 0.5})
    config = keras.saving.serialize_keras_object(optimizer)
    config["registered_name"] = (
        "keras_applications_bn>LayerwiseLR"  # as an earlier version saved it
    )
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, LayerwiseLR)
    assert restored.get_config()["multipliers"] == optimizer.get_config()["multipliers"]
