"""The BatchNormalization subclass on its own."""

import keras
import numpy as np
import pytest

from keras_applications_bn.layers import BatchNormalization, batch_norm


def _layer_with_stats(inference_mode):
    layer = BatchNormalization(inference_mode=inference_mode, momentum=0.5)
    layer.build((None, 4))
    layer.set_weights([np.full(4, 2.0), np.full(4, 0.5), np.full(4, 3.0), np.full(4, 4.0)])
    return layer


def test_pinned_layer_ignores_training_flag():
    layer = _layer_with_stats(True)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    expected = 2.0 * (x - 3.0) / np.sqrt(4.0 + layer.epsilon) + 0.5
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-5)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-5)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.full(4, 3.0))
    np.testing.assert_array_equal(layer.moving_variance.numpy(), np.full(4, 4.0))


def test_unpinned_layer_is_keras_batch_normalization():
    ours, theirs = _layer_with_stats(False), keras.layers.BatchNormalization(momentum=0.5)
    theirs.build((None, 4))
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), rtol=1e-6)
    np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), rtol=1e-6)
    assert not np.allclose(ours.moving_mean.numpy(), 3.0)


def test_weights_keep_keras_order_and_trainability():
    layer = _layer_with_stats(True)
    assert [w.path.split("/")[-1] for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["gamma", "beta"]


def test_mode_is_in_the_config_and_round_trips():
    layer = BatchNormalization(inference_mode=True, epsilon=1e-5, name="bn")
    config = layer.get_config()
    assert config["inference_mode"] is True
    clone = BatchNormalization.from_config(config)
    assert clone.inference_mode and clone.epsilon == 1e-5
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "keras_applications_bn>BatchNormalization"
    assert keras.saving.deserialize_keras_object(serialized).inference_mode


def test_default_is_keras_behaviour():
    assert BatchNormalization().inference_mode is False
    assert BatchNormalization.from_config(keras.layers.BatchNormalization().get_config()).inference_mode is False


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
    free = keras.Model(inputs, batch_norm(inputs, False, name="free_bn", epsilon=1e-5)).get_layer("free_bn")
    assert type(free) is keras.layers.BatchNormalization and free.axis == 3 and free.epsilon == 1e-5
