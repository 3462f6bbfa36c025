"""The pinned contract and adapt_bn_statistics under Keras mixed-precision policies."""

import keras
import numpy as np
import pytest

from keras_applications_bn import (
    EfficientNetB0,
    MobileNet,
    ResNet50,
    adapt_bn_statistics,
    bn_layers,
)

FAMILIES = {
    # name: (constructor, kwargs, first conv, first BN)
    "MobileNet": (MobileNet, {"alpha": 0.25}, "conv1", "conv1_bn"),
    "ResNet50": (ResNet50, {}, "conv1_conv", "conv1_bn"),
    "EfficientNetB0": (EfficientNetB0, {}, "stem_conv", "stem_bn"),
}
CASES = [
    pytest.param(
        family,
        policy,
        marks=() if (family, policy) == ("MobileNet", "mixed_float16") else pytest.mark.slow,
    )
    for family in FAMILIES
    for policy in ("mixed_float16", "mixed_bfloat16")
]


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


def build(family, inference_bn):
    fn, kwargs, _, _ = FAMILIES[family]
    keras.utils.set_random_seed(0)
    base = fn(
        weights=None,
        include_top=False,
        pooling="avg",
        input_shape=(32, 32, 3),
        inference_bn=inference_bn,
        **kwargs,
    )
    inputs = keras.Input((32, 32, 3))
    return keras.Model(inputs, keras.layers.Dense(2, dtype="float32", name="head")(base(inputs)))


@pytest.mark.parametrize("family, policy", CASES, indirect=["policy"])
def test_pinned_contract_and_adapt_under_mixed_precision(family, policy):
    _, _, conv_name, bn_name = FAMILIES[family]
    compute = policy.split("_")[1]
    model = build(family, inference_bn=True)
    base = model.layers[1]
    layers = bn_layers(model)
    assert base.get_layer(conv_name).compute_dtype == compute
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 32, 32, 3)).astype(
        "float32"
    )  # conv outputs whose squares overflow float16

    # adapt_bn_statistics: moments in >= float32, combined in float64, written as float32
    assert adapt_bn_statistics(model, x, batch_size=8) == 16
    conv = keras.Model(base.inputs, base.get_layer(conv_name).output).predict(
        x, batch_size=8, verbose=0
    )
    assert conv.dtype == compute
    conv = np.asarray(conv, np.float64)
    bn = base.get_layer(bn_name)
    assert bn.moving_mean.dtype == bn.moving_variance.dtype == "float32"
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(bn.moving_variance.numpy(), conv.var(axis=(0, 1, 2)), rtol=1e-4)
    assert all(np.isfinite(layer.moving_variance.numpy()).all() for layer in layers)

    # outputs: pinned == an unpinned twin in inference mode; training=True changes nothing
    twin = build(family, inference_bn=False)
    twin.set_weights(model.get_weights())
    pinned = np.asarray(model.predict(x, batch_size=8, verbose=0), np.float32)
    np.testing.assert_allclose(
        pinned, twin.predict(x, batch_size=8, verbose=0), rtol=1e-3, atol=1e-3
    )
    # (eager calls compared with eager calls: in 16 bits a random-weight EfficientNet's
    # compiled and eager passes differ by more than the pinned/unpinned difference;
    # EfficientNet's drop-connect Dropout is switched off for the training=True call)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    inference = np.asarray(twin(x[:8], training=False), np.float32)
    np.testing.assert_allclose(
        np.asarray(model(x[:8], training=True), np.float32), inference, rtol=1e-3, atol=1e-3
    )
    assert not np.allclose(
        np.asarray(twin(x[:8], training=True), np.float32), inference, rtol=1e-2, atol=1e-2
    )

    # fit: moving statistics unchanged, gamma/beta train
    optimizer = keras.optimizers.SGD(0.05)
    if policy == "mixed_float16":  # a small initial loss scale, so that no step is skipped
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=64.0)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    moving = [layer.moving_mean.numpy().copy() for layer in layers] + [
        layer.moving_variance.numpy().copy() for layer in layers
    ]
    affine = [
        v.numpy().copy() for layer in layers for v in (layer.gamma, layer.beta) if v is not None
    ]
    model.fit(x, np.arange(16) % 2, batch_size=8, epochs=1, verbose=0)
    after = [layer.moving_mean.numpy() for layer in layers] + [
        layer.moving_variance.numpy() for layer in layers
    ]
    assert all(np.array_equal(a, b) for a, b in zip(moving, after))
    trained = [v.numpy() for layer in layers for v in (layer.gamma, layer.beta) if v is not None]
    assert sum(not np.array_equal(a, b) for a, b in zip(affine, trained)) > 0.9 * len(affine)
