"""The BN tools on KerasHub image backbones (built from their constructors, no download).

The main suite runs these under TensorFlow; tests/backends/test_keras_hub.py
collects the same tests under JAX and PyTorch (`make test-backends`), so they
use only Keras' backend-neutral API.

KerasHub backbones hold BatchNormalization layers in functional sub-graphs and,
for EfficientNet, HGNetV2 and others, as attributes of subclassed blocks: the
tools must find them wherever Keras tracks them and keep their modes.
"""

import keras
import keras_hub
import numpy as np
import pytest

import keras_applications_bn as kabn
from keras_applications_bn.batchnorm import fit_mode
from keras_applications_bn.tuning.freeze import _leaf_layers

from keras_hub_backbones import BACKBONES, build

FAST = "ResNetBackbone (basic, v1)"


def with_head(backbone):
    inputs = keras.Input((32, 32, 3))
    features = backbone(inputs)
    if isinstance(features, dict):
        features = features[list(features)[-1]]  # the deepest level
    x = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def numpy(x):
    """A model's output as a NumPy array, on every backend (a PyTorch output requires grad)."""
    return keras.ops.convert_to_numpy(x)


def images(n=8, seed=0):
    return np.random.default_rng(seed).normal(0.5, 0.3, (n, 32, 32, 3)).astype("float32")


def moving(model):
    return [
        np.concatenate([layer.moving_mean.numpy(), layer.moving_variance.numpy()])
        for layer in kabn.bn_layers(model)
    ]


def hub_params():
    return [
        pytest.param(name, marks=() if name == FAST else pytest.mark.slow) for name in BACKBONES
    ]


@pytest.mark.parametrize("name", hub_params())
def test_tools_on_keras_hub_backbone(name):
    model = with_head(build(name))
    layers = kabn.bn_layers(model)
    # every BN layer Keras tracks, also those held as attributes of subclassed blocks
    assert len(layers) == sum(v.path.endswith("moving_mean") for v in model.weights) > 0
    assert len(kabn.bn_summary(model, print_fn=None)) == len(layers)

    # freeze/unfreeze keep every BN layer's mode (here: batch statistics)
    assert {fit_mode(layer) for layer in layers} == {"batch"}
    kabn.freeze(model)
    assert not model.trainable_weights and {fit_mode(layer) for layer in layers} == {"batch"}
    kabn.unfreeze(model)
    assert {fit_mode(layer) for layer in layers} == {"batch"}
    trainable = {id(v) for v in model.trainable_weights}
    assert all(
        id(v) in trainable for layer in layers for v in (layer.gamma, layer.beta) if v is not None
    )
    assert all(id(v) in trainable for v in model.weights if "kernel" in v.path)

    # pinned: the moving statistics never change in fit, gamma/beta train,
    # training=True == training=False; a frozen stem keeps its weights (LayerwiseLR)
    assert kabn.set_inference_bn(model) == len(layers)
    x = images()
    kabn.adapt_bn_statistics(model, x)
    assert {fit_mode(layer) for layer in layers} == {"pinned"}
    for layer in model._flatten_layers():  # EfficientNet's drop-connect
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    np.testing.assert_allclose(
        numpy(model(x, training=True)), numpy(model(x, training=False)), rtol=1e-5, atol=1e-5
    )
    leaves = [layer for layer in _leaf_layers(model) if layer.weights]
    first_half = leaves[: len(leaves) // 2]
    factors = kabn.lr_multipliers(
        model, {first_half[0].name: 0.0, leaves[len(leaves) // 2].name: 1.0}
    )
    model.compile(
        kabn.LayerwiseLR(keras.optimizers.SGD(0.1), factors),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before_stats = moving(model)
    frozen = [v.numpy().copy() for layer in first_half for v in layer.weights]
    gammas = [
        layer.gamma for layer in layers if layer.scale and all(layer is not f for f in first_half)
    ]
    gammas = [
        (g, g.numpy().copy())
        for g in gammas
        if all(g is not v for f in first_half for v in f.weights)
    ]
    model.fit(x, np.arange(8) % 2, batch_size=8, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before_stats, moving(model)))
    assert all(
        np.array_equal(a, v.numpy())
        for a, v in zip(frozen, [v for layer in first_half for v in layer.weights])
    )
    assert (
        gammas and sum(not np.array_equal(g.numpy(), old) for g, old in gammas) > len(gammas) // 2
    )

    # reset back to 0/1
    kabn.reset_bn_statistics(model)
    assert all(
        not layer.moving_mean.numpy().any() and np.all(layer.moving_variance.numpy() == 1)
        for layer in layers
    )


def test_keras_hub_image_classifier_nested_backbone():
    backbone = build(FAST)
    classifier = keras_hub.models.ResNetImageClassifier(
        backbone=backbone, num_classes=3, preprocessor=None
    )
    x = images()
    classifier(x)
    layers = kabn.bn_layers(classifier)
    assert len(layers) == len(kabn.bn_layers(backbone)) > 0
    assert kabn.set_inference_bn(classifier) == len(layers)
    assert kabn.adapt_bn_statistics(classifier, x) == 8
    kabn.freeze(classifier, until=_leaf_layers(backbone)[-1].name)
    assert {fit_mode(layer) for layer in layers} == {"pinned"} and not any(
        layer.trainable for layer in layers
    )
    assert [v.path for v in classifier.trainable_weights] == [
        "predictions/kernel",
        "predictions/bias",
    ]
    kabn.unfreeze(classifier)
    assert {fit_mode(layer) for layer in layers} == {"pinned"} and all(
        layer.trainable for layer in layers
    )
    classifier.compile(
        keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    before = moving(classifier)
    classifier.fit(x, np.arange(8) % 3, batch_size=4, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, moving(classifier)))
    np.testing.assert_allclose(
        numpy(classifier(x, training=True)),
        numpy(classifier(x, training=False)),
        rtol=1e-5,
        atol=1e-5,
    )
