"""adapt_bn_statistics(..., prior=N): partial adaptation (Schneider et al., 2020)."""

import keras
import numpy as np
import pytest

from keras_applications_bn import adapt_bn_statistics, bn_layers
from keras_applications_bn.layers import BatchNormalization


def small_net():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, name="conv_a")(inputs)
    x = keras.layers.Activation("relu")(BatchNormalization(name="bn_a", inference_mode=True)(x))
    x = keras.layers.Conv2D(5, 3, name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    rng = np.random.default_rng(0)
    for layer in bn_layers(model):  # "source" statistics far from the data's
        c = layer.moving_mean.shape[0]
        layer.moving_mean.assign(rng.normal(5.0, 2.0, c).astype("float32"))
        layer.moving_variance.assign(rng.uniform(0.5, 9.0, c).astype("float32"))
    return model


def stats(model):
    return [
        (
            layer.moving_mean.numpy().astype(np.float64),
            layer.moving_variance.numpy().astype(np.float64),
        )
        for layer in bn_layers(model)
    ]


@pytest.fixture(scope="module")
def models():
    return small_net(), small_net()


@pytest.mark.parametrize("prior, n", [(16, 8), (1, 1), (2.5, 13)])
def test_prior_mixes_source_and_target_statistics_exactly(models, prior, n):
    replaced, mixed = models
    for model in models:  # the same source statistics before each case
        for layer, (m, v) in zip(bn_layers(model), stats(small_net())):
            layer.moving_mean.assign(m.astype("float32"))
            layer.moving_variance.assign(v.astype("float32"))
    source = stats(mixed)
    x = np.random.default_rng(n).gamma(2.0, 20.0, (n, 12, 12, 3)).astype("float32")

    assert adapt_bn_statistics(replaced, x, batch_size=4) == n
    target = stats(replaced)
    # the first layer's target statistics, computed directly
    conv = keras.Model(replaced.inputs, replaced.get_layer("conv_a").output).predict(x, verbose=0)
    conv = conv.astype(np.float64)
    np.testing.assert_allclose(target[0][0], conv.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(target[0][1], conv.var(axis=(0, 1, 2)), rtol=1e-5)

    assert adapt_bn_statistics(mixed, x, batch_size=4, prior=prior) == n
    w = prior / (prior + n)
    for (sm, sv), (tm, tv), (am, av) in zip(source, target, stats(mixed)):
        np.testing.assert_allclose(am, w * sm + (1 - w) * tm, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(av, w * sv + (1 - w) * tv, rtol=1e-5, atol=1e-5)
        assert not np.allclose(am, tm, rtol=1e-3)  # really mixed, not replaced


def test_prior_zero_replaces_and_bad_priors_are_refused(models):
    model = models[1]
    x = np.random.default_rng(1).normal(3.0, 2.0, (5, 12, 12, 3)).astype("float32")
    adapt_bn_statistics(model, x, prior=0)
    replaced = stats(model)
    adapt_bn_statistics(model, x, prior=0.0)
    for (a, b), (c, d) in zip(replaced, stats(model)):
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(b, d, rtol=1e-6)
    before = stats(model)
    for bad, error in (
        (-1, ValueError),
        (float("nan"), ValueError),
        (True, TypeError),
        ("8", TypeError),
    ):
        with pytest.raises(error, match="prior"):
            adapt_bn_statistics(model, x, prior=bad)
    for (a, b), (c, d) in zip(before, stats(model)):  # nothing changed
        assert np.array_equal(a, c) and np.array_equal(b, d)
