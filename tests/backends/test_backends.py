"""Every architecture, and the tools, on the current Keras backend.

Run by ``make test-backends`` once with ``KERAS_BACKEND=jax`` and once with
``KERAS_BACKEND=torch`` (it also runs under TensorFlow). Each architecture of
tests/architectures.py is built with ``inference_bn=True`` and loaded from a file
in the official layout, against keras.applications' model on the same backend;
the smallest member of each family (``contract``) also goes through a fit step,
a training-mode call and ``adapt_bn_statistics``. The shapes are the suites'
small ones, so each case stays cheap.
"""

import contextlib
import os

import keras
import numpy as np
import pytest

import keras_applications_bn as kab
from keras_applications_bn.layers import BatchNormalization, batch_norm

from architectures import (
    ARCHITECTURES,
    CONTRACT,
    assert_same_outputs,
    bn_state,
    images,
    randomize_bn,
    save_official_layout,
)

# One batch size for every call: JAX compiles each operation for each new shape,
# and that, not the arithmetic, is what costs on small inputs.
N = 8


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def official_pair(arch, path, include_top):
    """Keras' model (random BN statistics, weights=None), saved in the official
    layout at ``path``, and ours loaded from that file with ``inference_bn=True``."""
    kwargs = dict(input_shape=arch.shape, include_top=include_top)
    if include_top:
        kwargs["classifier_activation"] = None  # compare logits
    reference = randomize_bn(arch.keras(weights=None, **kwargs), seed=1)
    if include_top:
        top = [layer for layer in reference.layers if layer.weights][-1]
        top.set_weights(
            [
                np.random.default_rng(2).normal(0, 0.05, w.shape).astype("float32")
                for w in top.get_weights()
            ]
        )
    save_official_layout(reference, path)
    return reference, arch.ours(weights=str(path), inference_bn=True, **kwargs)


def check_same_outputs(arch, reference, ours):
    layers = kab.bn_layers(ours)
    assert len(layers) == len(kab.bn_layers(reference)) and bool(layers) == arch.has_bn
    assert all(isinstance(layer, BatchNormalization) and layer.inference_mode for layer in layers)
    x = images(arch.shape, n=N, seed=3)
    expected = numpy(reference(x, training=False))
    # pinned: a training-mode call gives Keras' inference outputs (unless dropout applies)
    dropout = any(isinstance(layer, keras.layers.Dropout) for layer in ours._flatten_layers())
    assert_same_outputs(ours(x, training=not dropout), expected, rtol=arch.rtol)


@pytest.fixture(scope="module", params=CONTRACT, ids=str)
def pinned(request, tmp_path_factory):
    """``(arch, Keras' headless model, ours loaded from its official-layout file)``,
    built once for the contract tests of an architecture (each test checks what it
    does against the state it finds)."""
    arch = request.param
    path = tmp_path_factory.mktemp(arch.id) / "official_layout_notop.h5"
    reference, ours = official_pair(arch, path, include_top=False)
    # the contract is about BN: dropout inside the base (EfficientNet's drop
    # connect) is meant to differ between training and inference calls
    for layer in ours._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    return arch, reference, ours


def with_head(base, shape, optimizer=None, classes=3):
    inputs = keras.Input(shape)
    x = base(inputs)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(classes, name="head")(x))
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def labels(n, classes=3):
    return np.arange(n) % classes


def assert_same_state(before, after):
    assert len(before) == len(after) > 0
    for (m0, v0), (m1, v1) in zip(before, after):
        np.testing.assert_array_equal(m0, m1)
        np.testing.assert_array_equal(v0, v1)


def gamma_beta(model):
    return [numpy(w).copy() for layer in kab.bn_layers(model) for w in layer.trainable_weights]


# ---------------------------------------------------------------------------
# every architecture: official-layout weights, pinned, same outputs as Keras
# ---------------------------------------------------------------------------


# Which architectures: by default one per family (the `contract` entries, and
# BN-free families' first member), which runs every family's code on the backend
# within the stage's time budget; KAB_BACKENDS_ARCHS=all adds every other member
# (a deeper or wider copy of the same code; about 10 s each under JAX).
SELECTION = os.environ.get("KAB_BACKENDS_ARCHS", "family")
if SELECTION not in ("family", "all"):
    raise ValueError(f"KAB_BACKENDS_ARCHS must be 'family' or 'all', got {SELECTION!r}")
SELECTED = (
    ARCHITECTURES if SELECTION == "all" else [arch for arch in ARCHITECTURES if arch.contract]
)

# Each architecture loads an official-layout file once: the contract members
# headless (the model their contract tests then use), the others with the top.
OTHERS = [arch for arch in SELECTED if arch not in CONTRACT]


@pytest.mark.parametrize("arch", OTHERS, ids=str)
def test_official_layout_loads_with_keras_outputs(arch, tmp_path):
    check_same_outputs(
        arch, *official_pair(arch, tmp_path / "official_layout.h5", include_top=True)
    )


def test_official_layout_loads_headless_with_keras_outputs(pinned):
    check_same_outputs(*pinned)


# ---------------------------------------------------------------------------
# the inference_bn contract, the smallest member of each family
# ---------------------------------------------------------------------------


def test_training_call_equals_inference(pinned):
    arch, _, base = pinned
    x = images(arch.shape, n=N)
    before = bn_state(base)
    np.testing.assert_allclose(
        numpy(base(x, training=True)), numpy(base(x, training=False)), rtol=1e-5, atol=1e-5
    )
    assert_same_state(before, bn_state(base))


def test_fit_step_keeps_statistics_and_trains_gamma_beta(pinned):
    arch, _, base = pinned
    model = with_head(base, arch.shape)
    x, y = images(arch.shape, n=N), labels(N)
    before, params = bn_state(base), gamma_beta(base)
    saved = base.get_weights()
    try:
        model.fit(x, y, batch_size=N, epochs=1, verbose=0)  # one step
        assert_same_state(before, bn_state(base))
        after = gamma_beta(base)
        assert params and all(not np.array_equal(a, b) for a, b in zip(params, after))
        # what fit saw is what inference sees
        np.testing.assert_allclose(
            numpy(model(x, training=True)), numpy(model(x, training=False)), rtol=1e-4, atol=1e-5
        )
    finally:
        # a step of a randomly initialised network can blow its kernels up (seen:
        # EfficientNetV2's stem by 1e10); the next test must find the model as built
        base.set_weights(saved)


def bn_inputs(model, x):
    """What each BN layer of ``model`` receives when every BN normalises ``x``
    with the batch's statistics and everything else runs as in inference."""
    layers = kab.bn_layers(model)
    probe = keras.Model(model.input, [layer.input for layer in layers])
    dropouts = [l for l in model._flatten_layers() if isinstance(l, keras.layers.Dropout)]
    rates = [l.rate for l in dropouts]
    saved = [(l.moving_mean.numpy().copy(), l.moving_variance.numpy().copy()) for l in layers]
    try:
        for layer in layers:
            layer.inference_mode = False
        for layer in dropouts:
            layer.rate = 0.0
        outputs = [numpy(a) for a in probe(x, training=True)]
    finally:
        for layer, (mean, var) in zip(layers, saved):
            layer.inference_mode = True
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(var)
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate
    return layers, outputs


def channel_moments(a, axis):
    a = np.moveaxis(a.astype(np.float64), axis, -1).reshape(-1, a.shape[axis])
    return a.mean(axis=0), a.var(axis=0)


def test_adapt_bn_statistics_gives_population_statistics(pinned):
    arch, _, base = pinned
    x = images(arch.shape, n=2 * N, seed=5)
    x[N:] = 0.5 + 0.5 * x[N:]  # a brighter second batch: its moments differ
    if any(isinstance(layer, keras.layers.Rescaling) for layer in base.layers):
        # the model scales pixels itself (MobileNetV3, EfficientNet): give it
        # pixels, or it sees near-constant images whose moments are the padding's
        x *= 255.0
    layers, inputs = bn_inputs(base, x[:N])
    weights = [numpy(w).copy() for w in base.trainable_weights]

    # one batch: every layer gets the exact moments of what it receives
    assert kab.adapt_bn_statistics(base, x[:N], batch_size=N) == N
    for layer, a in zip(layers, inputs):
        mean, var = channel_moments(a, layer.axis)
        # float32 rounding of the two forward passes (compiled differently),
        # grown through depth, relative to each layer's scale: measured up to
        # 1.2e-5 of it (ResNet50's conv5 on TensorFlow) and 1.1e-4 (InceptionV3's
        # last BN on PyTorch, whose fused kernel normalises as x * a + b; against
        # a float64 forward pass it is 1.3e-4 off there, TensorFlow's fused kernel
        # 7.8e-5 and Keras' unfused moments 5.4e-5); a wrong moment (another
        # layer's inputs, per-batch averages, a Bessel factor) is off by far more
        np.testing.assert_allclose(
            numpy(layer.moving_mean),
            mean,
            rtol=1e-4,
            atol=3e-4 * max(1.0, np.abs(mean).max()),
            err_msg=layer.name,
        )
        np.testing.assert_allclose(
            numpy(layer.moving_variance),
            var,
            rtol=1e-3,
            atol=1e-4 * max(1.0, var.max()),
            err_msg=layer.name,
        )

    # two batches: the first layer (whose inputs no BN changes) gets the moments
    # over all samples, not an average of per-batch moments
    first = layers[0]
    first_inputs = np.concatenate([inputs[0], bn_inputs(base, x[N:])[1][0]])
    mean, var = channel_moments(first_inputs, first.axis)
    assert kab.adapt_bn_statistics(base, x, batch_size=N) == 2 * N
    np.testing.assert_allclose(numpy(first.moving_mean), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy(first.moving_variance), var, rtol=1e-3, atol=1e-5)
    per_batch = np.mean(
        [channel_moments(a, first.axis)[1] for a in np.split(first_inputs, 2)], axis=0
    )
    assert not np.allclose(per_batch, var, rtol=1e-2), "the two batches should differ"

    # nothing else changed, and the model is still pinned
    for before, after in zip(weights, base.trainable_weights):
        np.testing.assert_array_equal(before, numpy(after))
    assert all(layer.inference_mode for layer in kab.bn_layers(base))


def float64_enabled():
    """A context in which the backend computes in float64 (JAX needs x64 for it)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()


def test_adapt_bn_statistics_keeps_a_float64_model_in_float64():
    """A float64 model's statistics are float64 moments of what each layer receives:
    outside TensorFlow, Keras' type promotion turns float64 with float32 into
    float32 (as JAX does without x64), which must not decide the pass's precision."""
    with float64_enabled():
        inputs = keras.Input((8, 8, 3), dtype="float64")
        features = keras.layers.Conv2D(4, 3, dtype="float64", name="conv")(inputs)
        outputs = BatchNormalization(inference_mode=True, dtype="float64", name="bn")(features)
        model = keras.Model(inputs, outputs)
        # a large mean: float32 rounds it
        x = 3.0 + np.random.default_rng(0).gamma(2.0, 0.5, (N, 8, 8, 3))
        received = numpy(keras.Model(inputs, features)(x)).astype(np.float64)
        assert kab.adapt_bn_statistics(model, x, batch_size=N, verbose=0) == N
        layer = model.get_layer("bn")
        assert numpy(layer.moving_mean).dtype == np.float64
        mean, var = channel_moments(received, -1)
        np.testing.assert_allclose(numpy(layer.moving_mean), mean, rtol=1e-12)
        np.testing.assert_allclose(numpy(layer.moving_variance), var, rtol=1e-10)


# ---------------------------------------------------------------------------
# the tools, on a small network built from this package's layers
# ---------------------------------------------------------------------------


def small_network(inference_bn=True, keras_bn=False):
    """Conv-BN-ReLU-Conv-BN-pool-Dense; ``keras_bn``: Keras' own BN layers."""

    def bn(x, name):
        if keras_bn:
            return keras.layers.BatchNormalization(name=name)(x)
        return batch_norm(x, inference_bn, name=name)

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = bn(x, "conv1_bn")
    x = keras.layers.ReLU(name="conv1_relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv2")(x)
    x = bn(x, "conv2_bn")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return randomize_bn(keras.Model(inputs, outputs, name="small"))


LAYERWISE = [
    ("sgd", lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
    # epsilon well above the smallest gradients: at Adam's first step an element
    # moves lr * g / (|g| + epsilon), and with the default 1e-7 a gradient near
    # 1e-7 turns float32 noise between two runs into a 4e-4 relative difference
    # (seen once on PyTorch), which is not the factor under test
    ("adam", lambda: keras.optimizers.Adam(0.01, epsilon=1e-3)),
]


@pytest.mark.parametrize("make_optimizer", [m for _, m in LAYERWISE], ids=[n for n, _ in LAYERWISE])
def test_layerwise_lr_scales_each_layers_update_in_fit(make_optimizer):
    """``fit`` with LayerwiseLR (JAX: stateless training): a layer with factor f
    moves f times what the plain optimizer moves it; factor 0 keeps it."""
    factors = {"conv1": 0.0, "conv1_bn": 0.0, "conv2*": 0.5}
    x, y = images((16, 16, 3), n=8, seed=7), labels(8)
    model = small_network()
    initial = model.get_weights()
    moves = {}
    for kind in ("plain", "layerwise"):
        model.set_weights(initial)
        start = {v.path: numpy(v).copy() for v in model.trainable_variables}
        optimizer = make_optimizer()
        if kind == "layerwise":
            optimizer = kab.LayerwiseLR(optimizer, factors)
        model.compile(
            optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # one step
        moves[kind] = {v.path: numpy(v) - start[v.path] for v in model.trainable_variables}
        assert int(numpy(optimizer.iterations)) == 1

    expected_factor = {"conv1": 0.0, "conv1_bn": 0.0, "conv2": 0.5, "conv2_bn": 0.5, "head": 1.0}
    assert moves["plain"].keys() == moves["layerwise"].keys()
    for path, plain in moves["plain"].items():
        factor = expected_factor[path.split("/")[0]]
        assert np.abs(plain).max() > 0, path
        np.testing.assert_allclose(
            moves["layerwise"][path], factor * plain, rtol=1e-4, atol=1e-6, err_msg=path
        )


if keras.backend.backend() == "torch":

    def test_adapt_bn_statistics_records_no_autograd_graph_on_torch():
        """The pass is eager under PyTorch; with autograd on it would keep every
        activation for a backward pass that never comes (ResNet50, 64 images of
        128x128: peak memory 4.8-5.1 GiB with it, 2.2 GiB without)."""
        import torch

        model = small_network()
        x = images((16, 16, 3), n=N)
        saved = []

        def pack(tensor):
            saved.append(tensor.shape)
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(x, training=False)  # control: an ordinary call records the graph
            assert saved, "the hook should see what autograd saves"
            saved.clear()
            assert kab.adapt_bn_statistics(model, x, batch_size=N) == N
        assert saved == []


def test_set_inference_bn_pins_plain_keras_layers_without_recompiling():
    model = small_network(keras_bn=True)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = images((16, 16, 3), n=N), labels(N)
    model.fit(x, y, epochs=1, verbose=0)  # traced with BN in training mode
    assert kab.set_inference_bn(model) == 2
    assert all(isinstance(l, BatchNormalization) and l.inference_mode for l in kab.bn_layers(model))
    before, params = bn_state(model), gamma_beta(model)
    model.fit(x, y, epochs=1, verbose=0)  # no recompile
    assert_same_state(before, bn_state(model))
    assert all(not np.array_equal(a, b) for a, b in zip(params, gamma_beta(model)))
    np.testing.assert_allclose(
        numpy(model(x, training=True)), numpy(model(x, training=False)), rtol=1e-5, atol=1e-5
    )

    kab.set_inference_bn(model, enabled=False)
    model.fit(x, y, epochs=1, verbose=0)
    assert all(not np.array_equal(a[0], b[0]) for a, b in zip(before, bn_state(model)))


def test_keras_file_keeps_mode_and_layerwise_lr(tmp_path):
    model = small_network()
    model.compile(
        optimizer=kab.LayerwiseLR(keras.optimizers.SGD(0.1), {"conv1*": 0.0}),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = images((16, 16, 3), n=N), labels(N)
    model.fit(x, y, epochs=1, verbose=0)
    expected = numpy(model(x, training=False))
    model.save(tmp_path / "model.keras")

    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    layers = kab.bn_layers(reloaded)
    assert len(layers) == 2 and all(
        isinstance(l, BatchNormalization) and l.inference_mode for l in layers
    )
    assert isinstance(reloaded.optimizer, kab.LayerwiseLR)
    assert reloaded.optimizer.multipliers == [("conv1*", 0.0)]
    assert_same_outputs(reloaded(x, training=True), expected)
    before = bn_state(reloaded)
    conv1 = numpy(reloaded.get_layer("conv1").kernel).copy()
    reloaded.fit(x, y, epochs=1, verbose=0)
    assert_same_state(before, bn_state(reloaded))
    np.testing.assert_array_equal(numpy(reloaded.get_layer("conv1").kernel), conv1)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_treats_tensors_as_keras_does(mode):
    """Keras' preprocess_input updates its argument with augmented assignments: in
    place for this backend's tensors where they are mutable (PyTorch), a new tensor
    where not. Ours: the same result, and the same effect on the argument."""
    from keras_applications_bn import imagenet_utils

    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    mine, theirs = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(x)
    got = imagenet_utils.preprocess_input(mine, mode=mode)
    expected = keras.applications.imagenet_utils.preprocess_input(theirs, mode=mode)
    np.testing.assert_allclose(numpy(got), numpy(expected), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(numpy(mine), numpy(theirs))  # changed alike, or both untouched
    assert (got is mine) == (expected is theirs)
    variable = keras.Variable(x, trainable=False)  # never updated, by Keras' either
    np.testing.assert_allclose(
        numpy(imagenet_utils.preprocess_input(variable, mode=mode)),
        numpy(expected),
        rtol=1e-6,
        atol=1e-4,
    )
    np.testing.assert_array_equal(numpy(variable), x)
