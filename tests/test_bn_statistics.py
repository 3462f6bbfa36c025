"""reset_bn_statistics, adapt_bn_statistics (AdaBN / precise BN) and bn_summary."""

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.legacy.saving import legacy_h5_format

from keras_applications_bn import (
    ResNet50,
    adapt_bn_statistics,
    bn_layers,
    bn_summary,
    reset_bn_statistics,
    set_inference_bn,
)
from keras_applications_bn.layers import BatchNormalization


def resnet(inference_bn=True):
    keras.utils.set_random_seed(1)
    return ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(32, 32, 3),
                    inference_bn=inference_bn)


def small_net(size=16):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, name="conv_a")(inputs)
    x = keras.layers.Activation("relu")(BatchNormalization(name="bn_a")(x))
    x = keras.layers.Conv2D(8, 3, name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def images(n=100, seed=0, size=32):
    rng = np.random.default_rng(seed)
    # a non-zero mean and uneven scale, so wrong formulas show
    return (rng.gamma(2.0, 30.0, (n, size, size, 3)) + 20).astype("float32")


def population_stats(model, layer_before, x):
    sub = keras.Model(model.inputs, model.get_layer(layer_before).output)
    a = sub.predict(x, batch_size=50, verbose=0).astype(np.float64)
    return a.mean(axis=(0, 1, 2)), a.var(axis=(0, 1, 2))


def snapshot(model):
    return [(id(v), v.path, np.array(v.numpy())) for v in model.weights]


@pytest.fixture(scope="module")
def adapted():
    """A pinned ResNet50 before and after one adapt_bn_statistics call (ragged last batch)."""
    model = resnet()
    x = images()
    before = snapshot(model)
    samples = adapt_bn_statistics(model, x, batch_size=32)
    return model, x, before, samples


def test_first_bn_layer_gets_the_exact_population_statistics(adapted):
    model, x, _, samples = adapted
    assert samples == len(x)
    mean, var = population_stats(model, "conv1_conv", x)
    bn = model.get_layer("conv1_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-5)
    # Keras' exponential-average update would average per-batch variances instead
    per_batch = np.mean([population_stats(model, "conv1_conv", x[i:i + 32])[1] for i in range(0, 100, 32)], 0)
    assert np.max(np.abs(per_batch / var - 1)) > 1e-3


def test_touches_only_moving_statistics_and_keeps_the_weights_list(adapted):
    model, _, before, _ = adapted
    after = snapshot(model)
    assert [(i, p) for i, p, _ in after] == [(i, p) for i, p, _ in before]
    changed = {p for (_, p, a), (_, _, b) in zip(before, after) if not np.array_equal(a, b)}
    stats = {v.path for layer in bn_layers(model) for v in (layer.moving_mean, layer.moving_variance)}
    assert changed == stats


def test_layers_keep_their_class_and_mode(adapted):
    model = adapted[0]
    for layer in bn_layers(model):
        assert type(layer) is BatchNormalization
        assert layer.inference_mode is True
    # still pinned: training=True uses the (new) moving statistics
    x = images(8, seed=3)
    np.testing.assert_allclose(model(x, training=True), model(x, training=False), rtol=1e-5, atol=1e-5)


def test_official_layout_h5_still_loads_after_adapting(adapted, tmp_path):
    model = adapted[0]
    official = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg",
                                           input_shape=(32, 32, 3))
    path = tmp_path / "resnet50_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, official)
    model.load_weights(str(path))  # the last test that uses the fixture
    for a, b in zip(model.weights, official.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dataset_iterable_and_array_give_the_same_statistics():
    x = images(60, seed=5, size=16)
    y = np.zeros(60)
    results = []
    for data, kwargs in (
        (x, {"batch_size": 16}),
        (tf.data.Dataset.from_tensor_slices((x, y)).batch(25), {}),
        (((x[i:i + 7], y[i:i + 7]) for i in range(0, 60, 7)), {}),
        ([x[:30], x[30:]], {}),
    ):
        model = small_net()
        assert adapt_bn_statistics(model, data, **kwargs) == 60
        results.append([layer.moving_variance.numpy() for layer in bn_layers(model)]
                        + [layer.moving_mean.numpy() for layer in bn_layers(model)])
    mean, var = population_stats(model, "conv_a", x)
    np.testing.assert_allclose(results[0][0], var, rtol=1e-5)
    np.testing.assert_allclose(results[0][2], mean, rtol=1e-5, atol=1e-4)
    # the second layer depends on the batching (batch statistics upstream), the first does not
    for other in results[1:]:
        np.testing.assert_allclose(other[0], results[0][0], rtol=1e-5)
        np.testing.assert_allclose(other[2], results[0][2], rtol=1e-5, atol=1e-4)


def test_steps_limits_the_batches():
    model = small_net()
    x = images(64, seed=2, size=16)
    assert adapt_bn_statistics(model, x, batch_size=16, steps=2) == 32
    mean, var = population_stats(model, "conv_a", x[:32])
    np.testing.assert_allclose(model.get_layer("bn_a").moving_variance.numpy(), var, rtol=1e-5)


def test_keras_applications_model_nested_in_another_model():
    keras.utils.set_random_seed(2)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, pooling="avg",
                                          input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(3)(keras.layers.Dropout(0.5)(base(inputs)))
    model = keras.Model(inputs, outputs)
    n_weights = len(model.weights)
    x = images(40, seed=4) / 255.0
    adapt_bn_statistics(model, x, batch_size=16)
    assert len(model.weights) == n_weights
    assert all(type(layer) is keras.layers.BatchNormalization for layer in bn_layers(model))
    mean, var = population_stats(base, "Conv1", x)
    bn = base.get_layer("bn_Conv1")
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-5, atol=1e-9)
    # every layer was re-estimated: outputs are normalised at inference
    deep = bn_layers(model)[-1]
    assert not np.allclose(deep.moving_variance.numpy(), 1.0)


def test_later_layers_follow_the_documented_definition():
    """Later layers get the statistics of their inputs when upstream BN uses batch statistics."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6,))
    h = keras.layers.BatchNormalization(name="bn1")(keras.layers.Dense(5, name="d1")(inputs))
    h = keras.layers.BatchNormalization(name="bn2")(keras.layers.Dense(4, name="d2")(h))
    model = keras.Model(inputs, h)
    x = np.random.default_rng(0).normal(3.0, 2.0, (96, 6)).astype("float32")
    adapt_bn_statistics(model, x, batch_size=32)
    # recompute by hand: bn1 normalises each batch with its own moments
    d1, d2 = model.get_layer("d1"), model.get_layer("d2")
    bn1 = model.get_layer("bn1")
    z = []
    for i in range(0, 96, 32):
        a = x[i:i + 32] @ d1.kernel.numpy() + d1.bias.numpy()
        a = (a - a.mean(0)) / np.sqrt(a.var(0) + bn1.epsilon) * bn1.gamma.numpy() + bn1.beta.numpy()
        z.append(a @ d2.kernel.numpy() + d2.bias.numpy())
    z = np.concatenate(z).astype(np.float64)
    bn2 = model.get_layer("bn2")
    np.testing.assert_allclose(bn2.moving_mean.numpy(), z.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), z.var(0), rtol=1e-4)


def test_only_the_given_layers_and_errors():
    model = resnet()
    layers = bn_layers(model)
    adapt_bn_statistics(model, images(20), layers=layers[:1])
    assert not np.allclose(layers[0].moving_variance.numpy(), 1.0)
    assert np.all(layers[1].moving_variance.numpy() == 1.0)
    with pytest.raises(ValueError, match="not a BatchNormalization layer"):
        adapt_bn_statistics(model, images(4), layers=[model.get_layer("conv1_conv")])
    with pytest.raises(ValueError, match="no batches"):
        adapt_bn_statistics(model, images(0))


def test_reset_restores_initial_statistics_and_nothing_else():
    model = resnet(inference_bn=False)
    adapt_bn_statistics(model, images(20))
    layers = bn_layers(model)
    gamma = [layer.gamma.numpy().copy() for layer in layers]
    assert reset_bn_statistics(model, layers=layers[:2]) == 2
    assert not np.allclose(layers[2].moving_variance.numpy(), 1.0)
    assert reset_bn_statistics(model) == len(layers)
    for layer, g in zip(layers, gamma):
        assert np.all(layer.moving_mean.numpy() == 0) and np.all(layer.moving_variance.numpy() == 1)
        np.testing.assert_array_equal(layer.gamma.numpy(), g)
        assert type(layer) is keras.layers.BatchNormalization  # still Keras' unpinned layer


def test_bn_summary_reports_modes_and_statistics():
    keras.utils.set_random_seed(0)
    base = resnet(inference_bn=False)
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(base(inputs)), name="outer")
    printed = []
    rows = bn_summary(model, print_fn=printed.append)
    assert len(rows) == 53 and {row["mode"] for row in rows} == {"batch"}
    assert rows[0]["path"] == "resnet50/conv1_bn" and rows[0]["note"] == "initial stats (0/1)"
    assert "batch stats, updates moving" in printed[0] and "0 pinned" in printed[0]

    set_inference_bn(base, True)
    base.get_layer("conv1_bn").trainable = False
    base.get_layer("conv2_block1_1_bn").moving_variance.assign(np.zeros(64, "float32"))
    rows = {row["name"]: row for row in bn_summary(model, print_fn=None)}
    assert rows["conv1_bn"]["mode"] == "pinned" and rows["conv1_bn"]["affine_trainable"] is False
    assert rows["conv2_block1_1_bn"]["note"] == "variance ~0!"
    assert rows["conv2_block1_1_bn"]["var_max"] == 0.0


def test_benchmark_measures_both_side_by_side():
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("bench_adapt", REPO_ROOT / "benchmarks" / "bench_adapt.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.measure(size=32, samples=64, batch_size=32, repeats=1)
    assert result["predict_s"] > 0 and result["adapt_s"] > 0
    assert result["ratio"] == result["adapt_s"] / result["predict_s"]
