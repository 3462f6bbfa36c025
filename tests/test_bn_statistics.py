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

from conftest import model_state


def resnet(inference_bn=True):
    keras.utils.set_random_seed(1)
    return ResNet50(
        weights=None,
        include_top=False,
        pooling="avg",
        input_shape=(32, 32, 3),
        inference_bn=inference_bn,
    )


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


@pytest.mark.compat
def test_first_bn_layer_gets_the_exact_population_statistics(adapted):
    model, x, _, samples = adapted
    assert samples == len(x)
    mean, var = population_stats(model, "conv1_conv", x)
    bn = model.get_layer("conv1_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-5)
    # Keras' exponential-average update would average per-batch variances instead
    per_batch = np.mean(
        [population_stats(model, "conv1_conv", x[i : i + 32])[1] for i in range(0, 100, 32)], 0
    )
    assert np.max(np.abs(per_batch / var - 1)) > 1e-3


@pytest.mark.compat
def test_touches_only_moving_statistics_and_keeps_the_weights_list(adapted):
    model, _, before, _ = adapted
    after = snapshot(model)
    assert [(i, p) for i, p, _ in after] == [(i, p) for i, p, _ in before]
    changed = {p for (_, p, a), (_, _, b) in zip(before, after) if not np.array_equal(a, b)}
    stats = {
        v.path for layer in bn_layers(model) for v in (layer.moving_mean, layer.moving_variance)
    }
    assert changed == stats


@pytest.mark.compat
def test_layers_keep_their_class_and_mode(adapted):
    model = adapted[0]
    for layer in bn_layers(model):
        assert type(layer) is BatchNormalization
        assert layer.inference_mode is True
    # still pinned: training=True uses the (new) moving statistics
    x = images(8, seed=3)
    np.testing.assert_allclose(
        model(x, training=True), model(x, training=False), rtol=1e-5, atol=1e-5
    )


@pytest.mark.compat
def test_official_layout_h5_still_loads_after_adapting(adapted, tmp_path):
    model = adapted[0]
    official = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(32, 32, 3)
    )
    path = tmp_path / "resnet50_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, official)
    model.load_weights(str(path))  # the last test that uses the fixture
    for a, b in zip(model.weights, official.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.compat
def test_dataset_iterable_and_array_give_the_same_statistics():
    x = images(60, seed=5, size=16)
    y = np.zeros(60)
    results = []
    for data, kwargs in (
        (x, {"batch_size": 16}),
        (tf.data.Dataset.from_tensor_slices((x, y)).batch(25), {}),
        (((x[i : i + 7], y[i : i + 7]) for i in range(0, 60, 7)), {}),
        ([x[:30], x[30:]], {}),
    ):
        model = small_net()
        assert adapt_bn_statistics(model, data, **kwargs) == 60
        results.append(
            [layer.moving_variance.numpy() for layer in bn_layers(model)]
            + [layer.moving_mean.numpy() for layer in bn_layers(model)]
        )
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


@pytest.mark.compat
def test_keras_applications_model_nested_in_another_model():
    keras.utils.set_random_seed(2)
    base = keras.applications.MobileNetV2(
        weights=None, include_top=False, pooling="avg", input_shape=(32, 32, 3)
    )
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
        a = x[i : i + 32] @ d1.kernel.numpy() + d1.bias.numpy()
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
    with pytest.raises(ValueError, match="no batches"):
        adapt_bn_statistics(model, images(0))


@pytest.mark.compat
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


def test_benchmark_measures_both_side_by_side(monkeypatch):
    import importlib.util

    from conftest import REPO_ROOT

    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "bench_adapt", REPO_ROOT / "benchmarks" / "bench_adapt.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    adapt, control = bench.measure(bench.MODELS[0], 32, samples=64, batch_size=32, rounds=2)
    assert adapt["case"] == "adapt / predict" and "A/A control" in control["case"]
    for row in (adapt, control):
        assert row["predict s"] > 0 and row["ratio"] > 0 and row["CPU ratio"] > 0
        assert row["ratio"] == row["ratios"]["wall"]["median"]
        assert row["best"] == row["ratios"]["wall"]["best"] > 0 and row["CPU best"] > 0
    # best-of: each side's least time over the other's, not the least per-round ratio
    from bench_fold import summarize

    ratios = summarize([(2.0, 1.0), (3.0, 3.0)], [(1.0, 1.0), (4.0, 2.0)])
    assert ratios["wall"]["best"] == 2.0 and ratios["wall"]["min"] == 0.75
    assert ratios["cpu"]["best"] == 1.0


# -- bad input: a clear error, and the model exactly as it was ----------------------------


def _infinite(x):
    while True:
        yield x


def _poisoned(value, batch):
    """16x16 images whose batch ``batch`` (of 8) holds one ``value``."""
    x = images(32, seed=6, size=16)
    x[8 * batch + 3, 2, 2, 1] = value
    return x


BAD_DATA = {
    "one image": (
        lambda x: x[0],
        ValueError,
        r"shaped \(batch, 16, 16, 3\).*got shape \(16, 16, 3\).*x\[None\]",
    ),
    "list of images": (
        lambda x: list(x),
        ValueError,
        r"each batch .*got shape \(16, 16, 3\).*np\.stack",
    ),
    "unbatched dataset": (
        lambda x: tf.data.Dataset.from_tensor_slices(x),
        ValueError,
        r"element of the dataset .*got shape \(16, 16, 3\).*dataset\.batch",
    ),
    "wrong channels": (
        lambda x: x[..., :1],
        ValueError,
        r"\(batch, 16, 16, 3\).*got shape \(8, 16, 16, 1\)",
    ),
    "wrong channels in a generator": (
        lambda x: (b for b in [x[:4, ..., :2]]),
        ValueError,
        r"each batch .*got shape \(4, 16, 16, 2\)",
    ),
    "wrong size tensor": (
        lambda x: tf.constant(x[:, :8]),
        ValueError,
        r"got shape \(8, 8, 16, 3\)",
    ),
    "None": (lambda x: None, TypeError, "`data` must be a NumPy array or tensor.*got None"),
    "a string": (lambda x: "images/", TypeError, "`data` must be .*got 'images/'"),
    "a number": (lambda x: 3, TypeError, "`data` must be .*got 3 of type int"),
    "infinite dataset without steps": (
        lambda x: tf.data.Dataset.from_tensor_slices(x).batch(4).repeat(),
        ValueError,
        "infinite tf.data.Dataset.*pass `steps`",
    ),
    "NaN": (
        lambda x: _poisoned(np.nan, 0),
        ValueError,
        r"batch 0 gave a non-finite .*'bn_a'.*No statistics were changed",
    ),
    "inf in a later batch": (
        lambda x: _poisoned(np.inf, 2),
        ValueError,
        r"batch 2 gave a non-finite .*'bn_a'",
    ),
    "NaN in a generator": (
        lambda x: iter([x[:8], _poisoned(np.nan, 0)[:8]]),
        ValueError,
        r"batch 1 gave a non-finite",
    ),
    "NaN in a tensor": (
        lambda x: tf.constant(_poisoned(-np.inf, 1)),
        ValueError,
        r"batch 1 gave a non-finite",
    ),
}
BAD_ARGUMENTS = {
    "layers as a string": (
        dict(layers="bn_a"),
        TypeError,
        r"list of BatchNormalization layers.*for one layer pass \['bn_a'\]",
    ),
    "layers with a typo": (
        dict(layers=["bn_A"]),
        ValueError,
        r"no BatchNormalization layer named 'bn_A'. Did you mean .*'bn_a'",
    ),
    "layers with a conv": (
        dict(layers=["conv_a"]),
        ValueError,
        r"no BatchNormalization layer named 'conv_a'",
    ),
    "layers with a number": (dict(layers=[0]), TypeError, r"got an item 0 of type int"),
    "steps 0": (dict(steps=0), ValueError, "`steps` must be a positive int or None"),
    "steps True": (dict(steps=True), TypeError, "`steps` must be a positive int or None"),
    "steps 2.0": (dict(steps=2.0), TypeError, "`steps` must be a positive int or None, got 2.0"),
    "batch_size '4' with a list of batches": (
        dict(batch_size="4", data=lambda x: [x[:4], x[4:]]),
        TypeError,
        "`batch_size` must be a positive int, got '4'",
    ),
    "verbose 'loud'": (
        dict(verbose="loud"),
        TypeError,
        "`verbose` must be 'auto', 0, 1 or 2, got 'loud'",
    ),
    "verbose True": (dict(verbose=True), TypeError, "`verbose` must be .* not a flag"),
    "batch_size 0": (dict(batch_size=0), ValueError, "`batch_size` must be a positive int"),
    "verbose 3": (dict(verbose=3), ValueError, "`verbose` must be 'auto', 0, 1 or 2"),
}


@pytest.mark.parametrize("case", BAD_DATA, ids=str)
def test_adapt_refuses_bad_data_and_changes_nothing(case):
    make, error, match = BAD_DATA[case]
    model = small_net()
    adapt_bn_statistics(model, images(16, seed=1, size=16), verbose=0)  # statistics not at 0/1
    before = model_state(model)
    with pytest.raises(error, match=match):
        adapt_bn_statistics(model, make(images(8, seed=6, size=16)), batch_size=8, verbose=0)
    assert model_state(model) == before
    # the pass still works afterwards (nothing left swapped or half traced)
    assert adapt_bn_statistics(model, images(8, seed=7, size=16), verbose=0) == 8


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=str)
def test_adapt_refuses_bad_arguments_and_changes_nothing(case):
    kwargs, error, match = BAD_ARGUMENTS[case]
    kwargs = dict(kwargs)
    x = kwargs.pop("data", lambda x: x)(images(8, size=16))
    model = small_net()
    before = model_state(model)
    with pytest.raises(error, match=match):
        adapt_bn_statistics(model, x, **{"verbose": 0, **kwargs})
    assert model_state(model) == before
    if "layers" in kwargs:
        with pytest.raises(error, match=match):
            reset_bn_statistics(model, layers=kwargs["layers"])
        assert model_state(model) == before


def test_layers_by_name_and_a_tensor_batched_like_an_array():
    x = images(24, seed=8, size=16)
    by_name, by_object = small_net(), small_net()
    adapt_bn_statistics(by_name, x, batch_size=8, layers=["bn_b"], verbose=0)
    adapt_bn_statistics(
        by_object, tf.constant(x), batch_size=8, layers=[by_object.get_layer("bn_b")], verbose=0
    )
    for a, b in zip(by_name.weights, by_object.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.all(by_name.get_layer("bn_a").moving_variance.numpy() == 1.0)
    assert not np.allclose(by_name.get_layer("bn_b").moving_variance.numpy(), 1.0)
    assert reset_bn_statistics(by_name, layers=["bn_b", "bn_b"]) == 1
    assert np.all(by_name.get_layer("bn_b").moving_variance.numpy() == 1.0)


def test_adapt_shows_progress_as_predict_does(capsys):
    model = small_net()
    x = images(24, seed=9, size=16)
    adapt_bn_statistics(model, x, batch_size=8)  # verbose="auto": a bar
    assert "3/3" in capsys.readouterr().out
    assert (
        adapt_bn_statistics(model, _infinite(x[:4]), steps=5) == 20
    )  # a generator: steps stops it
    assert "5/5" in capsys.readouterr().out
    adapt_bn_statistics(
        model, (x[i : i + 8] for i in range(0, 24, 8))
    )  # length unknown: the running count
    assert "3/Unknown" in capsys.readouterr().out
    adapt_bn_statistics(model, x, batch_size=8, verbose=2)
    out = capsys.readouterr().out
    assert "3/3" in out and "━" not in out  # one line, no bar
    adapt_bn_statistics(model, x, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""
    assert "steps" in adapt_bn_statistics.__doc__ and "generator" in adapt_bn_statistics.__doc__


BAD_MODEL_ARGUMENTS = {
    "bn_summary(None)": (
        lambda m: bn_summary(None),
        "`model` must be a Keras model or layer, got None",
    ),
    "bn_summary(str)": (
        lambda m: bn_summary("model"),
        "`model` must be a Keras model or layer, got 'model'",
    ),
    "bn_summary print_fn": (
        lambda m: bn_summary(m, print_fn="stdout"),
        "`print_fn` must be a function or None",
    ),
    "bn_layers(None)": (
        lambda m: bn_layers(None),
        "`model` must be a Keras model or layer, got None",
    ),
    "reset([model])": (
        lambda m: reset_bn_statistics([m]),
        r"`model` must be a Keras model or layer, got \[<Functional",
    ),
    "adapt(None)": (
        lambda m: adapt_bn_statistics(None, images(2)),
        "`model` must be a Keras model or layer, got None",
    ),
    "set_inference_bn yes": (
        lambda m: set_inference_bn(m, "yes"),
        "`enabled` must be True or False, got 'yes'",
    ),
    "set_inference_bn 1": (
        lambda m: set_inference_bn(m, 1),
        "`enabled` must be True or False, got 1",
    ),
}


@pytest.mark.parametrize("case", BAD_MODEL_ARGUMENTS, ids=str)
def test_tools_name_the_bad_argument(case):
    call, match = BAD_MODEL_ARGUMENTS[case]
    model = small_net()
    before = model_state(model)
    with pytest.raises(TypeError, match=match):
        call(model)
    assert model_state(model) == before
